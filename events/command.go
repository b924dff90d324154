package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxCommandEvents bounds the events of one command: the server's limit on
// an atomic batch, which stores them all or none.
const MaxCommandEvents = 1000

// DecodeCommand reads the body of a command that records events about one
// State (POST /v1/events, the ledger's ccm.cmd.record): one event of the wire
// format, or {"events": [...]} with up to MaxCommandEvents of them. batch
// says which. Every problem is returned at once, in an *InputError (or one
// *FieldError) whose Line is the event's position in the batch; it wraps
// ErrInvalid.
func DecodeCommand(body []byte) (evs []Envelope, batch bool, err error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, false, &FieldError{Reason: `the body is empty: send one event, or {"events": [...]}`}
	case !json.Valid(body):
		var v any
		reason := "the body is not valid JSON"
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(body, &v), &se) {
			reason += fmt.Sprintf(": %s at byte %d", se.Error(), se.Offset)
		}
		return nil, false, &FieldError{Reason: reason}
	}
	if raw, ok := batchOf(body); ok {
		evs, err := decodeBatch(raw)
		return evs, true, err
	}
	e, err := Decode(body)
	if err != nil {
		return nil, false, err
	}
	return []Envelope{e}, false, nil
}

// batchOf returns the list of {"events": [...]}, when body is that object
// with that one key (given once).
func batchOf(body []byte) (json.RawMessage, bool) {
	if body[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var list json.RawMessage
	for n := 0; dec.More(); n++ {
		k, err := dec.Token()
		if err != nil || k != "events" || n > 0 {
			return nil, false
		}
		if err := dec.Decode(&list); err != nil {
			return nil, false
		}
	}
	return list, list != nil
}

func decodeBatch(raw json.RawMessage) ([]Envelope, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &FieldError{Field: "events", Reason: "must be a list of events"}
	}
	switch {
	case len(items) == 0:
		return nil, &FieldError{Field: "events", Reason: "is empty"}
	case len(items) > MaxCommandEvents:
		return nil, &FieldError{Field: "events", Reason: fmt.Sprintf("holds %d events; at most %d in one command", len(items), MaxCommandEvents)}
	}
	var bad InputError
	evs := make([]Envelope, 0, len(items))
	seen := map[[16]byte]int{}
	for i, it := range items {
		e, err := Decode(it)
		if err != nil {
			for _, fe := range fieldErrors(err) {
				fe.Line = i + 1
				bad.Problems = append(bad.Problems, fe)
			}
			continue
		}
		if first, dup := seen[e.ID]; dup {
			bad.Problems = append(bad.Problems, &FieldError{Line: i + 1, Field: "id", Reason: fmt.Sprintf("%s is also the id of event %d of the batch", e.ID, first+1)})
			continue
		}
		seen[e.ID] = i
		if len(evs) > 0 && e.Scope() != evs[0].Scope() {
			bad.Problems = append(bad.Problems, &FieldError{Line: i + 1, Field: "state",
				Reason: fmt.Sprintf("one command records events about one State: %s, not %s", evs[0].Scope(), e.Scope())})
			continue
		}
		evs = append(evs, e)
	}
	if len(bad.Problems) > 0 {
		return nil, &bad
	}
	return evs, nil
}

// fieldErrors returns the field errors of a decoding error, copied.
func fieldErrors(err error) []*FieldError {
	var ie *InputError
	if errors.As(err, &ie) {
		out := make([]*FieldError, len(ie.Problems))
		for i, p := range ie.Problems {
			c := *p
			out[i] = &c
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		return []*FieldError{&c}
	}
	return []*FieldError{{Reason: err.Error()}}
}

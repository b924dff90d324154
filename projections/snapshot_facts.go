package projections

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// factRec is one fact in a snapshot: the event without its State (the key
// says it), and, for a retracted fact, the retraction.
type factRec struct {
	ID           uuid.UUID       `json:"i"`
	Type         events.Type     `json:"t"`
	Date         events.Date     `json:"d"`
	Precision    string          `json:"pr,omitempty"`
	Seq          uint64          `json:"s"`
	Data         json.RawMessage `json:"p,omitempty"`
	Source       string          `json:"src"`
	RetractedBy  string          `json:"rby,omitempty"`
	RetractedSeq uint64          `json:"rs,omitempty"`
}

// retraction identifies the event that retracted a fact.
type retraction struct {
	ID  uuid.UUID
	Seq uint64
}

// recOf returns the snapshot form of a fact.
func recOf(f aggregates.Fact) factRec {
	d := events.Envelope{Payload: f.Payload}.Data()
	return factRec{ID: f.ID, Type: f.Type, Date: f.Date, Precision: string(f.Precision), Seq: f.Seq, Data: d, Source: f.Source}
}

// envelope rebuilds the stored event of a fact of scope.
func (r factRec) envelope(scope string) (events.Envelope, error) {
	p, err := decodePayload(r.Type, r.Data)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("fact %s: %w", r.ID, err)
	}
	prec, ok := events.ParsePrecision(r.Precision)
	if !ok && r.Precision != "" {
		return events.Envelope{}, fmt.Errorf("fact %s: precision %q", r.ID, r.Precision)
	}
	e := events.Envelope{ID: r.ID, Type: r.Type, Date: r.Date, Precision: prec, Payload: p, Source: r.Source, Seq: r.Seq}
	if scope != events.ConventionScope {
		e.State = scope
	}
	return e, nil
}

// decodePayload reads the canonical data of a fact back into its payload
// type.
func decodePayload(t events.Type, data []byte) (events.Payload, error) {
	if t == events.Retracted {
		return nil, fmt.Errorf("type %q cannot be held in a snapshot", t)
	}
	return events.DecodeData(t, data)
}

// recsOf returns the facts of s held by upTo (aggregates.HeldFrom), live
// and retracted, in stream order.
func recsOf(s *aggregates.State, upTo events.Date, rby map[uuid.UUID]retraction) []factRec {
	return split(s, layout{{AsOf: upTo}}, rby)[0]
}

// split returns the facts of s, live and retracted, by interval of l (those
// dated after the last are left out), each in stream order.
func split(s *aggregates.State, l layout, rby map[uuid.UUID]retraction) [][]factRec {
	out := make([][]factRec, len(l)+1)
	for _, t := range events.Types() {
		for _, f := range s.Facts(t) {
			if i := l.find(f.HeldFrom()); i < len(l) {
				out[i] = append(out[i], recOf(f))
			}
		}
	}
	for id, f := range s.Retracted {
		i := l.find(f.HeldFrom())
		if i == len(l) {
			continue
		}
		r := recOf(f)
		if by, ok := rby[id]; ok {
			r.RetractedBy, r.RetractedSeq = by.ID.String(), by.Seq
		}
		out[i] = append(out[i], r)
	}
	for _, recs := range out {
		slices.SortFunc(recs, func(a, b factRec) int {
			if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
				return c
			}
			return bytes.Compare(a.ID[:], b.ID[:])
		})
	}
	return out[:len(l)]
}

// stateOf rebuilds the aggregate of scope from its snapshot facts, and
// notes their retractions in rby.
func stateOf(scope string, recs []factRec, rby map[uuid.UUID]retraction) (*aggregates.State, error) {
	s := aggregates.NewState(scope)
	state := scope
	if scope == events.ConventionScope {
		state = ""
	}
	for _, r := range recs {
		e, err := r.envelope(scope)
		if err != nil {
			return nil, err
		}
		s.Apply(e)
	}
	for _, r := range recs {
		if r.RetractedBy == "" {
			continue
		}
		id, err := uuid.Parse(r.RetractedBy)
		if err != nil {
			return nil, fmt.Errorf("fact %s: retracted by %q: %w", r.ID, r.RetractedBy, err)
		}
		s.Apply(events.Envelope{ID: id, Type: events.Retracted, State: state, Seq: r.RetractedSeq,
			Payload: &events.Retraction{Event: r.ID, Reason: "retracted"}})
		if rby != nil {
			rby[r.ID] = retraction{ID: id, Seq: r.RetractedSeq}
		}
	}
	return s, nil
}

// liveDeposits returns the dates of a State's live deposits dated on or
// before upTo.
func liveDeposits(s *aggregates.State, upTo events.Date) []events.Date {
	var out []events.Date
	for _, f := range s.Facts(events.Deposited) {
		if f.Date <= upTo {
			out = append(out, f.Date)
		}
	}
	return out
}

// firstLiveUpTo returns the date of the earliest live fact of s dated on
// or before upTo, or zero.
func firstLiveUpTo(s *aggregates.State, upTo events.Date) events.Date {
	var first events.Date
	for _, t := range events.Types() {
		if fs := s.Facts(t); len(fs) > 0 && fs[0].Date <= upTo && (first == 0 || fs[0].Date < first) {
			first = fs[0].Date
		}
	}
	return first
}

// factCount is what changes in a State when an event counts: its live
// facts and its retracted ones.
type factCount struct{ live, retracted int }

func countOf(s *aggregates.State) factCount { return factCount{s.Len(), len(s.Retracted)} }

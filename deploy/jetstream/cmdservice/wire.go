package cmdservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// CheckpointRequest is the body of a checkpoint command.
type CheckpointRequest struct {
	Force bool `json:"force,omitempty"`
}

// CheckpointReply is the answer to a checkpoint command: the signed note.
type CheckpointReply struct {
	Checkpoint string `json:"checkpoint"`
	Size       uint64 `json:"size"`
}

// The service's subjects and headers: a contract for clients in any
// language (docs/services.md).
const (
	// Name is the service's name in `nats micro ls`.
	Name = "ccm-ledger"
	// RecordSubject takes one command about one State: one event of the
	// wire format, or {"events": [...]}.
	RecordSubject = "ccm.cmd.record"
	// ImportSubject takes an input of JSON Lines in parts of whole lines,
	// each a request carrying HeaderImport and HeaderPart; the last one
	// carries HeaderLast and is answered once the import is decided and
	// recorded (or refused).
	ImportSubject = "ccm.cmd.import"
	// CheckpointSubject asks the ledger to sign a checkpoint of the log's
	// head now: an empty body, or {"force": true} to sign a head already
	// signed again.
	CheckpointSubject = "ccm.cmd.checkpoint"

	HeaderImport = "Ccm-Import"         // the import's id, chosen by the client (a UUID)
	HeaderPart   = "Ccm-Import-Part"    // 1, 2, ... in order
	HeaderLast   = "Ccm-Import-Last"    // "true" on the last part
	HeaderDryRun = "Ccm-Import-Dry-Run" // "true": decide and report, record nothing
)

// Recorded is one event of a record reply.
type Recorded struct {
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	// Status is "created", or "existing" for the very same event the
	// ledger held already.
	Status string `json:"status"`
}

// RecordReply is the answer to a record command.
type RecordReply struct {
	Events []Recorded `json:"events"`
}

// PartReply is the answer to a part of an import that is not the last.
type PartReply struct {
	Part  int   `json:"part"`
	Lines int   `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// ImportReply is the answer to the last part of an import.
type ImportReply struct {
	// Events counts the input's distinct events.
	Events int `json:"events"`
	// Recorded counts the events this import recorded, in whichever
	// attempt; AlreadyRecorded those the ledger held before it began, or
	// that another writer stored meanwhile (never what an earlier attempt
	// of this import stored).
	Recorded        int    `json:"recorded"`
	AlreadyRecorded int    `json:"already_recorded"`
	LastSeq         uint64 `json:"last_seq"`
	// Attempts counts the chained appends; StoredPerAttempt what each
	// stored, acknowledged or found in the log by the next (their sum is
	// Recorded).
	Attempts         int   `json:"attempts"`
	StoredPerAttempt []int `json:"stored_per_attempt"`
	DryRun           bool  `json:"dry_run"`
}

// Error codes of the service, in an error reply's body (Error) and, as the
// matching HTTP status, in its Nats-Service-Error-Code header.
const (
	CodeBadRequest = "bad_request" // 400: not a command of this service
	CodeInvalid    = "invalid"     // 422: malformed events (Fields)
	CodeRejected   = "rejected"    // 422: impossible under the Convention's rules (Problems)
	CodeIDConflict = "id_conflict" // 409: an id held for another event
	CodeConflict   = "conflict"    // 409: concurrent appends kept conflicting
	CodeTooLarge   = "too_large"   // 413: an input over the limit
	CodeBusy       = "busy"        // 503: too many imports at once
	CodeExpired    = "expired"     // 410: an import's parts stopped coming
	CodeDamaged    = "damaged"     // 503: the log failed its check against its checkpoints; nothing is recorded until it is recovered
	CodeInternal   = "internal"    // 500: the ledger failed
)

var statusOf = map[string]string{
	CodeBadRequest: "400", CodeInvalid: "422", CodeRejected: "422", CodeIDConflict: "409", CodeConflict: "409",
	CodeTooLarge: "413", CodeBusy: "503", CodeExpired: "410", CodeDamaged: "503", CodeInternal: "500",
}

// Error is the body of an error reply.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields lists the invalid fields, with the line of the input (the
	// event's position in a batch).
	Fields []Field `json:"fields,omitempty"`
	// Problems lists the events the ledger refuses, with their rule.
	Problems []Problem `json:"problems,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Field is one invalid field.
type Field struct {
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// Problem is one event the ledger refuses.
type Problem struct {
	Line  int         `json:"line,omitempty"`
	Type  events.Type `json:"type"`
	Scope string      `json:"scope"`
	Date  events.Date `json:"date"`
	ID    string      `json:"id"`
	// Rule names the rule broken, or "id-conflict".
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// errorOf describes err for a reply; lines, when not nil, gives the input
// line of each event by index.
func errorOf(err error, lines []int) *Error {
	var (
		ie *events.InputError
		fe *events.FieldError
		im *aggregates.ImportError
		rj *aggregates.Rejection
		ic *aggregates.IDConflictError
		le *events.InputTooLargeError
	)
	switch {
	case errors.As(err, &le):
		return &Error{Code: CodeTooLarge, Message: err.Error()}
	case errors.As(err, &im):
		out := &Error{Code: CodeRejected, Message: fmt.Sprintf("nothing was recorded: %d events are refused", len(im.Problems))}
		for _, p := range im.Problems {
			line := p.Index + 1
			if lines != nil {
				line = lines[p.Index]
			}
			pr := Problem{Line: line, Type: p.Event.Type, Scope: p.Event.Scope(), Date: p.Event.Date, ID: p.Event.ID.String(), Rule: "rejected", Reason: p.Err.Error()}
			var r *aggregates.Rejection
			switch {
			case errors.As(p.Err, &r):
				pr.Rule, pr.Reason = r.Rule, r.Reason
			case errors.Is(p.Err, events.ErrIDConflict):
				pr.Rule = "id-conflict"
				out.Code = CodeIDConflict
			}
			out.Problems = append(out.Problems, pr)
		}
		return out
	case errors.As(err, &ie):
		out := &Error{Code: CodeInvalid, Message: fmt.Sprintf("nothing was recorded: %d problems in the input", len(ie.Problems))}
		for _, p := range ie.Problems {
			out.Fields = append(out.Fields, Field{Line: p.Line, Field: p.Field, Reason: p.Reason})
		}
		return out
	case errors.As(err, &fe):
		return &Error{Code: CodeInvalid, Message: "nothing was recorded: " + fe.Error(), Fields: []Field{{Line: fe.Line, Field: fe.Field, Reason: fe.Reason}}}
	case errors.As(err, &ic):
		return &Error{Code: CodeIDConflict, Message: err.Error()}
	case errors.As(err, &rj):
		return &Error{Code: CodeRejected, Message: err.Error(), Problems: []Problem{{Rule: rj.Rule, Reason: rj.Reason}}}
	case errors.Is(err, events.ErrConflict):
		return &Error{Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, evidence.ErrTampered):
		return &Error{Code: CodeDamaged, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// errorFrom turns an error reply back into the ledger's errors, so that a
// client maps it to exit codes as it would the ledger's own.
func errorFrom(e *Error) error {
	switch e.Code {
	case CodeInvalid:
		ie := &events.InputError{}
		for _, f := range e.Fields {
			ie.Problems = append(ie.Problems, &events.FieldError{Line: f.Line, Field: f.Field, Reason: f.Reason})
		}
		if len(ie.Problems) == 0 {
			return &events.FieldError{Reason: e.Message}
		}
		return ie
	case CodeRejected, CodeIDConflict:
		if len(e.Problems) == 0 && e.Code == CodeIDConflict {
			return &RefusedError{Message: e.Message, Problems: []Problem{{Rule: "id-conflict", Reason: e.Message}}}
		}
		return &RefusedError{Message: e.Message, Problems: e.Problems}
	case CodeConflict:
		return fmt.Errorf("%s: %w", e.Message, events.ErrConflict)
	case CodeTooLarge:
		return tooLarge{e.Message}
	case CodeDamaged:
		return fmt.Errorf("the ledger: %s: %w", e.Message, evidence.ErrTampered)
	}
	return e
}

// tooLarge is an input the ledger refused for its size, as the reader's
// own error would be: events.ErrInputTooLarge and events.ErrInvalid.
type tooLarge struct{ msg string }

func (e tooLarge) Error() string   { return e.msg }
func (e tooLarge) Unwrap() []error { return []error{events.ErrInputTooLarge, events.ErrInvalid} }

// RefusedError is a command or an import the ledger refused: every event it
// refuses, with the rule. It matches events.ErrRejected, and
// events.ErrIDConflict when an id is taken.
type RefusedError struct {
	Message  string
	Problems []Problem
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// String says what is refused for people.
func (p Problem) String() string {
	var where string
	if p.Line > 0 {
		where = fmt.Sprintf("line %d: ", p.Line)
	}
	if p.Type != "" {
		where += fmt.Sprintf("%s %s %s: ", p.Type, p.Scope, p.Date)
	}
	if p.Rule == "id-conflict" {
		return where + p.Reason
	}
	return where + p.Rule + ": " + p.Reason
}

// Unwrap gives one error per problem.
func (e *RefusedError) Unwrap() []error {
	var out []error
	for _, p := range e.Problems {
		if p.Rule == "id-conflict" {
			out = append(out, events.ErrIDConflict)
		} else {
			out = append(out, &aggregates.Rejection{Rule: p.Rule, Reason: p.Reason})
		}
	}
	return out
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cmdservice: %v", err))
	}
	return b
}

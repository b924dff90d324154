package events

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on. The JetStream log and the aggregates wrap them
// with context; match them with errors.Is.
var (
	// ErrInvalid marks an event that is malformed: an unknown type, a
	// missing or badly typed field, an unknown State, an impossible date.
	ErrInvalid = errors.New("invalid event")
	// ErrConflict marks an append whose expected version of a State (the
	// stream sequence of its last event) is stale: someone else appended
	// first. Reload and decide again.
	ErrConflict = errors.New("concurrency conflict")
	// ErrDuplicate marks an append of an event whose id the ledger already
	// holds. Nothing was recorded.
	ErrDuplicate = errors.New("duplicate event")
	// ErrIDConflict marks an event whose id the ledger already holds for
	// an event with other content, in any State, however long ago it was
	// recorded: an id names one fact forever. Nothing was recorded.
	ErrIDConflict = errors.New("id already taken by another event")
	// ErrRejected marks an event that is well formed but impossible under
	// the Convention given what the ledger knows (a second deposit, a
	// signature after entry into force, ...).
	ErrRejected = errors.New("event rejected by the Convention's rules")
	// ErrInputTooLarge marks an input refused whole because it is larger
	// than the reader's limit (see MaxInputBytes). Nothing of it was
	// validated: split it and read the parts one after the other.
	ErrInputTooLarge = errors.New("input too large")
)

// InputTooLargeError is the error of a reader that met more than Limit
// bytes of input. It stops reading as soon as the limit is crossed. It is
// both an ErrInputTooLarge and an ErrInvalid.
type InputTooLargeError struct {
	Limit int64
	// Events, when set, is the limit crossed instead: the events of one
	// input (many short lines under the byte limit).
	Events int
}

func (e *InputTooLargeError) Error() string {
	size := fmt.Sprintf("%d bytes", e.Limit)
	if e.Limit >= 1<<20 && e.Limit%(1<<20) == 0 {
		size += fmt.Sprintf(" (%d MiB)", e.Limit>>20)
	}
	if e.Events > 0 {
		size = fmt.Sprintf("%d events", e.Events)
	}
	return "input larger than " + size + ", the limit of one input: split it into smaller inputs and read them one after the other"
}

// Unwrap makes the error match ErrInputTooLarge and ErrInvalid.
func (e *InputTooLargeError) Unwrap() []error { return []error{ErrInputTooLarge, ErrInvalid} }

// FieldError says why one field of one event is invalid. Line is the
// 1-based line of the input, or 0 when the event did not come from a file.
type FieldError struct {
	Line   int
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// InputError lists every invalid field of an input, in line order. It is
// returned whole so that a user sees every problem at once.
type InputError struct {
	Problems []*FieldError
}

func (e *InputError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems in input:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.Is(err, ErrInvalid) holds and
// errors.As finds the first *FieldError.
func (e *InputError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

func problemsError(line int, probs []fieldProblem) error {
	if len(probs) == 0 {
		return nil
	}
	ie := &InputError{}
	for _, p := range probs {
		ie.Problems = append(ie.Problems, &FieldError{Line: line, Field: p.field, Reason: p.reason})
	}
	if len(ie.Problems) == 1 {
		return ie.Problems[0]
	}
	return ie
}

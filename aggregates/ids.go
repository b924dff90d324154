package aggregates

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// An id names one fact forever: the Ledger knows, for every id it read,
// which scope holds the event, and refuses the id for any other event,
// within the stream's duplicate window and beyond it.

// IDConflictError is an event whose id the ledger holds for another event.
// Nothing of its command was recorded.
type IDConflictError struct {
	// ID is the id; Scope, Type and Seq say which event holds it.
	ID    uuid.UUID
	Scope string
	Type  events.Type
	Seq   uint64
}

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("id %s is the id of another event, a %s event of %s stored at sequence %d: "+
		"an id names one fact forever (omit the id to derive it from the content)", e.ID, e.Type, e.Scope, e.Seq)
}

// Unwrap makes it an events.ErrIDConflict.
func (e *IDConflictError) Unwrap() error { return events.ErrIDConflict }

// heldEvent is an event the ledger holds: its scope and the fact it states.
type heldEvent struct {
	Scope string
	Fact
}

// SeqOf returns the stream sequence of the event the ledger holds under
// id, as of its last read of the log (Sync first for the latest).
func (l *Ledger) SeqOf(id uuid.UUID) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held(id)
	return h.Seq, ok
}

// held returns the event the ledger holds under id.
func (l *Ledger) held(id uuid.UUID) (heldEvent, bool) {
	scope, ok := l.owner[id]
	if !ok {
		return heldEvent{}, false
	}
	if r, ok := l.retractions[id]; ok {
		return heldEvent{scope, factOf(r)}, true
	}
	s := l.scope(scope)
	if f, ok := s.Retracted[id]; ok {
		return heldOf(scope, f), true
	}
	for _, fs := range s.facts {
		for _, f := range fs {
			if f.ID == id {
				return heldOf(scope, f), true
			}
		}
	}
	return heldEvent{}, false
}

func heldOf(scope string, f Fact) heldEvent { return heldEvent{scope, f} }

// sameEvent reports whether e is the event held: the same scope, type,
// date, precision, data and source.
func sameEvent(h heldEvent, e events.Envelope) bool { return e.SameFact(h.Envelope(h.Scope)) }

func idConflict(h heldEvent, e events.Envelope) error {
	return &IDConflictError{ID: e.ID, Scope: h.Scope, Type: h.Type, Seq: h.Seq}
}

// own notes that e, just applied, holds its id.
func (l *Ledger) own(e events.Envelope) {
	if l.owner == nil {
		l.owner, l.retractions = map[uuid.UUID]string{}, map[uuid.UUID]events.Envelope{}
	}
	if _, ok := l.owner[e.ID]; ok {
		return
	}
	l.owner[e.ID] = e.Scope()
	if e.Type == events.Retracted {
		l.retractions[e.ID] = e
	}
}

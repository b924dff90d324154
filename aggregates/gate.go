package aggregates

import (
	"errors"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Gate admits the events of a log, read in stream order, into the aggregates
// of their scopes: an event counts only if the Convention's rules accept it
// where it stands in the log. Every fold reads through a Gate, so that a
// stored message no rule would have let in (written by an older version that
// took raw messages, by a bug, or by hand) is quarantined, skipped and
// reported, rather than counted or fatal.
//
// The verdict on an event rests only on the events of its own scope stored
// before it, so that a read of one State's subjects and a read of the whole
// log agree. It applies every rule of Decide except the one that needs the
// other States' deposits (RuleSignatureClosed: the Ledger checks it when
// recording), with the day after the event's record time as today: the
// record time is the server's, and the day allows for clocks apart.
//
// A Gate is not safe for concurrent use.
type Gate struct {
	scopes     map[string]*State
	quarantine func(events.Quarantined)
}

// NewGate returns an empty gate. quarantine, when not nil, receives each
// event the gate does not admit.
func NewGate(quarantine func(events.Quarantined)) *Gate {
	return &Gate{scopes: map[string]*State{}, quarantine: quarantine}
}

// Admit applies e to its scope's aggregate if the rules accept it there,
// and reports whether it did. Events must come in stream order.
func (g *Gate) Admit(e events.Envelope) bool {
	s := g.State(e.Scope())
	if err := s.Admissible(e); err != nil {
		if g.quarantine != nil {
			g.quarantine(Quarantine(e, err))
		}
		return false
	}
	s.Apply(e)
	return true
}

// Seed makes s the aggregate of its scope, as admitted up to some point of
// the log (a snapshot of admitted facts): the gate goes on from there. The
// gate takes s over.
func (g *Gate) Seed(s *State) { g.scopes[s.ISO3] = s }

// State returns the aggregate of a scope as admitted so far (an empty one
// when nothing was); it is the gate's own.
func (g *Gate) State(scope string) *State {
	s, ok := g.scopes[scope]
	if !ok {
		s = NewState(scope)
		g.scopes[scope] = s
	}
	return s
}

// Admissible reports whether a stored event counts for s, the aggregate of
// its scope built from the admitted events stored before it: nil, or the
// *Rejection (or events.ErrDuplicate) that quarantines it. See Gate.
func (s *State) Admissible(e events.Envelope) error {
	var today events.Date
	if !e.Recorded.IsZero() {
		today = events.DateOf(e.Recorded).AddDate(0, 0, 1)
	}
	return s.Decide(e, Convention{}, today)
}

// Quarantine describes a stored event that err keeps out of every fold.
func Quarantine(e events.Envelope, err error) events.Quarantined {
	q := events.Quarantined{Seq: e.Seq, Subject: e.Subject(), Recorded: e.Recorded, ID: e.ID, Type: e.Type,
		Scope: e.Scope(), Rule: "rejected", Reason: err.Error()}
	var rj *Rejection
	switch {
	case errors.As(err, &rj):
		q.Rule, q.Reason = rj.Rule, rj.Reason
	case errors.Is(err, events.ErrDuplicate):
		q.Rule, q.Reason = events.QuarantineDuplicateID, "an earlier event of "+e.Scope()+" has the id "+e.ID.String()
	}
	return q
}

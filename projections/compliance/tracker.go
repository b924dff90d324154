package compliance

import (
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Tracker is the pure core of a projector: the fold of the log as far as
// read, the projector's clock (the date up to which transitions are due),
// and what has been published. The projector feeds it events and dates and
// publishes the plans it returns, observing each event once the stream
// acknowledged it. It is not safe for concurrent use.
//
// Its fold counts only what the rules admit (aggregates.Gate); Fold.Seq is
// the last stored message read, counted or not.
type Tracker struct {
	Fold      *projections.Fold
	Published *Published
	// Clock is the date up to which transitions are due: those dated on
	// or before it are published. Zero before the first Advance.
	Clock events.Date
	opt   Options
	gate  *aggregates.Gate
}

// NewTracker returns a Tracker with an empty fold and nothing published.
func NewTracker(opt Options) *Tracker {
	return &Tracker{Fold: projections.NewFold(), Published: NewPublished(), opt: opt, gate: aggregates.NewGate(nil)}
}

// Skip notes a stored message that no fold counts (one that is not an
// event of its subject): the fold moves past it.
func (t *Tracker) Skip(q events.Quarantined) {
	if q.Seq <= t.Fold.Seq {
		return // passed already
	}
	t.Fold.Quarantined++
	t.Fold.Seq, t.Fold.Time = q.Seq, q.Recorded
}

// Options returns the derivation options.
func (t *Tracker) Options() Options { return t.opt }

// Apply folds one event read from the log (in stream order) and returns the
// scopes whose transitions it may change: its own, or every scope for a
// deposit or a retraction (the Convention's entry into force, and so every
// State's, rests on the deposits) and for the Convention's coverage (what
// it does not reach is unknown, with no transition).
func (t *Tracker) Apply(e events.Envelope) []string {
	if !t.gate.Admit(e) {
		t.Skip(events.Quarantined{Seq: e.Seq, Recorded: e.Recorded})
		return nil
	}
	t.Fold.Apply(e)
	switch e.Type {
	case events.Deposited, events.Retracted:
		return Scopes(t.Fold)
	case events.CoverageDeclared:
		return t.Scopes() // those with published transitions too: they may be revoked
	}
	if e.Scope() == events.ConventionScope {
		return nil
	}
	return []string{e.Scope()}
}

// Plan returns the events to publish for scope at the clock: see
// Published.Plan. correctBefore marks late transitions as corrections.
func (t *Tracker) Plan(scope string, correctBefore events.Date, now time.Time) []Event {
	if t.Clock == 0 {
		return nil
	}
	return t.Published.Plan(scope, Derive(t.Fold, scope, t.Clock, t.opt), PlanOptions{CorrectBefore: correctBefore, Seq: t.Fold.Seq, Clock: t.Clock, Now: now})
}

// Scopes returns every scope that can have transitions (see Scopes), and
// every scope that has published ones.
func (t *Tracker) Scopes() []string {
	out := Scopes(t.Fold)
	seen := map[string]bool{}
	for _, s := range out {
		seen[s] = true
	}
	for _, ks := range t.Published.keys {
		if !seen[ks.scope] {
			seen[ks.scope] = true
			out = append(out, ks.scope)
		}
	}
	return out
}

package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// logTail is the part of the log a refresh read.
type logTail struct {
	evs  []events.Envelope
	kept []uint64 // the messages of evs's range that are not events
	rby  map[uuid.UUID]retraction
	read uint64    // the first sequence in evs
	time time.Time // the record time of head
}

// read reads the log from the sequence from to the head, unless what was
// read already starts there or before.
func (r *refresh) read(ctx context.Context, from uint64) error {
	t := &r.log
	if from >= t.read {
		return nil
	}
	t.evs, t.kept, t.read, t.rby = nil, nil, from, map[uuid.UUID]retraction{}
	rg := Range{From: from, To: r.head, Quarantine: func(q events.Quarantined) {
		t.kept = append(t.kept, q.Seq)
		if q.Seq == r.head {
			t.time = q.Recorded
		}
	}}
	if _, err := r.e.src.Read(ctx, rg, func(ev events.Envelope) error {
		if ev.Seq == r.head {
			t.time = ev.Recorded
		}
		t.evs = append(t.evs, ev)
		if ev.Type == events.Retracted {
			t.rby[ev.Payload.(*events.Retraction).Event] = retraction{ID: ev.ID, Seq: ev.Seq}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("refresh snapshots: read the log: %w", err)
	}
	r.st.Events += len(t.evs)
	return nil
}

// foldNews reads the events recorded after base and applies those the
// rules admit to every fact of their scope at base, read from the keys:
// r.states then holds every fact at the head of the scopes they touch.
func (r *refresh) foldNews(ctx context.Context) error {
	if err := r.read(ctx, r.base+1); err != nil {
		return err
	}
	byScope := map[string][]events.Envelope{}
	for _, ev := range r.log.evs {
		byScope[ev.Scope()] = append(byScope[ev.Scope()], ev)
	}
	for _, sc := range sortedKeys(byScope) {
		s, err := r.loadAll(ctx, sc)
		if err != nil {
			return err
		}
		gate := aggregates.NewGate(func(events.Quarantined) { r.rejected++ })
		gate.Seed(s)
		for _, ev := range byScope[sc] {
			before := countOf(s)
			if gate.Admit(ev) {
				r.note(s, ev, before)
			}
		}
		r.states[sc] = s
	}
	return nil
}

// foldAll folds the whole log through a gate, noting what the events after
// base change: r.full and r.states then hold every fact at the head.
func (r *refresh) foldAll(ctx context.Context) error {
	if err := r.read(ctx, 1); err != nil {
		return err
	}
	full := NewFold()
	gate := aggregates.NewGate(func(events.Quarantined) { full.Quarantined++ })
	for _, ev := range r.log.evs {
		if !gate.Admit(ev) {
			continue
		}
		if r.base == 0 || ev.Seq <= r.base {
			full.Apply(ev)
			continue
		}
		before := countOf(full.State(ev.Scope()))
		full.Apply(ev)
		r.note(full.scopes[ev.Scope()], ev, before)
	}
	full.Seq, full.Time, full.Quarantined = r.head, r.log.time, full.Quarantined+len(r.log.kept)
	r.full, r.states = full, full.scopes
	return nil
}

// note records what ev, just applied to s, changed: the fact it adds or
// the one it retracts, in the interval of that fact's date.
func (r *refresh) note(s *aggregates.State, ev events.Envelope, before factCount) {
	if countOf(s) == before {
		return
	}
	d := aggregates.HeldFrom(ev.Type, ev.Precision, ev.Date)
	if ev.Type == events.Retracted {
		d = s.Retracted[ev.Payload.(*events.Retraction).Event].HeldFrom()
	}
	sc := ev.Scope()
	if old, ok := r.changed[sc]; !ok || d < old {
		r.changed[sc] = d
	}
	if sc == events.ConventionScope {
		return
	}
	i := r.intervals.find(d)
	if r.dirty[i] == nil {
		r.dirty[i] = map[string]bool{}
	}
	r.dirty[i][sc] = true
}

// loadAll reads every fact of a scope at base: the Convention's from ref
// (the latest snapshot, when nothing is rewritten), a State's from its keys.
func (r *refresh) loadAll(ctx context.Context, scope string) (*aggregates.State, error) {
	if scope != events.ConventionScope {
		return r.loadKeys(ctx, scope)
	}
	s, err := stateOf(scope, r.ref.Convention, r.log.rby)
	if err != nil {
		return nil, &staleKeyError{err: fmt.Errorf("%s: %v: %w", metaKey(r.ref.Meeting), err, errStale)}
	}
	return s, nil
}

// loadKeys reads every fact of a State from its keys as planned.
func (r *refresh) loadKeys(ctx context.Context, iso3 string) (*aggregates.State, error) {
	var keys []keyRef
	for _, iv := range r.intervals {
		if k, ok := r.keys[iv.Meeting][iso3]; ok {
			keys = append(keys, keyRef{code: iv.Meeting, rev: k.rev})
		}
	}
	return r.e.loadKeys(ctx, iso3, keys, r.log.rby)
}

// state returns every fact of a State at the head: from the fold of the
// log or the scopes the events touched, else read from its keys (which no
// event changed).
func (r *refresh) state(ctx context.Context, iso3 string) (*aggregates.State, error) {
	if s, ok := r.states[iso3]; ok {
		return s, nil
	}
	if r.full != nil {
		return aggregates.NewState(iso3), nil
	}
	s, err := r.loadKeys(ctx, iso3)
	if err != nil {
		return nil, err
	}
	r.states[iso3] = s
	return s, nil
}

package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// snapshotView builds the view of b from the nearest snapshot at or after
// b.AsOf that b's known-at bound covers. It returns nil when there is none,
// or when snapshots keep changing under the read.
func (e *Engine) snapshotView(ctx context.Context, b Bounds, want []string) (*view, error) {
	for range 3 {
		v, err := e.trySnapshotView(ctx, b, want)
		if errors.Is(err, errStale) {
			continue
		}
		return v, err
	}
	return nil, nil
}

func (e *Engine) trySnapshotView(ctx context.Context, b Bounds, want []string) (*view, error) {
	idx, ok, err := e.loadIndex(ctx)
	if err != nil || !ok {
		return nil, err
	}
	cands := make([]indexEntry, 0, len(idx.Snapshots))
	for _, s := range idx.Snapshots {
		if s.AsOf >= b.AsOf {
			cands = append(cands, s)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].AsOf < cands[j].AsOf })
	for _, c := range cands {
		if b.KnownAtSeq != 0 && c.Seq > b.KnownAtSeq {
			// The index may lag its metas, but never leads them.
			continue
		}
		m, ok, err := e.loadMeta(ctx, c.Meeting)
		if err != nil {
			return nil, err
		}
		if !ok || m.AsOf < b.AsOf || !b.covers(m.Seq, m.Time) {
			continue
		}
		return e.viewFrom(ctx, b, m, want)
	}
	return nil, nil
}

// refold puts into f the Convention's facts of snapshot m and the facts of
// the States that the events of news (recorded after m.Seq, known at r)
// touch on or before m.AsOf or by retraction, with the events the rules
// admit applied. Each event is judged against its State's whole history
// (aggregates.Gate): the latest snapshot's facts when it stands at m.Seq,
// else a read of the State's events up to m.Seq. It returns the scopes
// whose facts changed, and how many of news the rules keep out.
func (e *Engine) refold(ctx context.Context, f *Fold, m *snapMeta, news []events.Envelope, rby map[uuid.UUID]retraction) (map[string]bool, int, error) {
	conv, err := stateOf(events.ConventionScope, m.Convention, rby)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %v: %w", metaKey(m.Meeting), err, errStale)
	}
	f.scopes[events.ConventionScope] = conv
	byScope := map[string][]events.Envelope{}
	for _, ev := range news {
		byScope[ev.Scope()] = append(byScope[ev.Scope()], ev)
	}
	var latest *snapMeta
	if len(byScope) > 0 {
		if latest, err = e.gateBase(ctx, m); err != nil {
			return nil, 0, err
		}
	}
	changed := map[string]bool{}
	rejected := 0
	for _, sc := range sortedKeys(byScope) {
		judge, err := e.judgeState(ctx, latest, m, sc)
		if err != nil {
			return nil, 0, err
		}
		gate := aggregates.NewGate(func(events.Quarantined) { rejected++ })
		gate.Seed(judge)
		var admitted []events.Envelope
		for _, ev := range byScope[sc] {
			if gate.Admit(ev) && (aggregates.HeldBy(ev, m.AsOf) || ev.Type == events.Retracted) {
				admitted = append(admitted, ev)
			}
		}
		if len(admitted) == 0 {
			continue
		}
		if err := e.loadInto(ctx, f, m, sc, rby); err != nil {
			return nil, 0, err
		}
		s := f.scopes[sc]
		before := countOf(s)
		for _, ev := range admitted {
			s.Apply(ev)
		}
		if countOf(s) != before {
			changed[sc] = true
		}
	}
	return changed, rejected, nil
}

// gateBase returns the meta of the latest snapshot when it stands where m
// does, so that its facts can judge what was recorded after; else nil.
func (e *Engine) gateBase(ctx context.Context, m *snapMeta) (*snapMeta, error) {
	if m.Meeting == latestCode {
		return m, nil
	}
	latest, ok, err := e.loadMeta(ctx, latestCode)
	if err != nil || !ok || latest.Seq != m.Seq {
		return nil, err
	}
	return latest, nil
}

// judgeState returns every fact of scope known at m.Seq, whatever its date:
// from the latest snapshot, or read from the log.
func (e *Engine) judgeState(ctx context.Context, latest, m *snapMeta, scope string) (*aggregates.State, error) {
	if latest != nil {
		if scope == events.ConventionScope {
			s, err := stateOf(scope, latest.Convention, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %v: %w", metaKey(latest.Meeting), err, errStale)
			}
			return s, nil
		}
		return e.loadState(ctx, latest, scope, nil)
	}
	s, err := e.rebuild(ctx, scope, Range{To: m.Seq})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// rebuild reads the events of scope in r, from the start of the log,
// through a gate, and returns every fact the rules admit.
func (e *Engine) rebuild(ctx context.Context, scope string, r Range) (*aggregates.State, error) {
	gate := aggregates.NewGate(nil)
	r.Scope, r.From, r.Quarantine = scope, 0, nil
	if _, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
		gate.Admit(ev)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the log of %s: %w", scope, err)
	}
	return gate.State(scope), nil
}

// loadInto puts the facts of a State from snapshot m into f, unless f
// already holds them.
func (e *Engine) loadInto(ctx context.Context, f *Fold, m *snapMeta, iso3 string, rby map[uuid.UUID]retraction) error {
	if _, ok := f.scopes[iso3]; ok {
		return nil
	}
	s, err := e.loadState(ctx, m, iso3, rby)
	if err != nil {
		return err
	}
	f.scopes[iso3] = s
	return nil
}

// viewFrom builds the view of b from the snapshot m: it reads what was
// recorded after m.Seq and known at b, re-folds the States it touches from
// their stored facts, and reuses the stored statuses of the others when b
// is as of m's own date with m's rule and the Convention's entry into force
// did not move.
func (e *Engine) viewFrom(ctx context.Context, b Bounds, m *snapMeta, want []string) (*view, error) {
	news, end, err := e.readAfter(ctx, b, m)
	if err != nil {
		return nil, err
	}
	f := NewFold()
	changed, rejected, err := e.refold(ctx, f, m, news, nil)
	if err != nil {
		return nil, err
	}
	f.Seq, f.Time, f.Quarantined = end.seq, end.time, end.quarantined+rejected
	delete(changed, events.ConventionScope)
	v, moved := viewOf(f, m, b.AsOf)
	// The stored statuses serve a report; one State's status is cheaper
	// derived from its facts than read among all the others.
	if want == nil && m.Meeting != latestCode && b.AsOf == m.AsOf && e.opt.annualRule().Name == m.Rule && !moved {
		sts, err := e.loadStatuses(ctx, m)
		if err != nil {
			return nil, err
		}
		for iso3 := range changed {
			delete(sts, iso3)
		}
		v.stored, v.storedUncovered = sts, true
		return v, nil
	}
	// Statuses are derived from the facts: load the States asked for.
	if want == nil {
		want = sortedKeys(m.States)
	}
	if err := e.loadAllInto(ctx, f, m, want); err != nil {
		return nil, err
	}
	return v, nil
}

// loadWorkers is how many States loadAllInto reads at once: each reads
// one key per interval, and a read waits on the store more than it works.
const loadWorkers = 8

// loadAllInto puts the facts of the States iso3s from snapshot m into f,
// but for those f holds, reading several States at once.
func (e *Engine) loadAllInto(ctx context.Context, f *Fold, m *snapMeta, iso3s []string) error {
	var todo []string
	for _, iso3 := range iso3s {
		if _, ok := f.scopes[iso3]; !ok && !slices.Contains(todo, iso3) {
			todo = append(todo, iso3)
		}
	}
	states := make([]*aggregates.State, len(todo))
	errs := make([]error, len(todo))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				states[i], errs[i] = e.loadState(ctx, m, todo[i], nil)
			}
		}()
	}
	for i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, iso3 := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		f.scopes[iso3] = states[i]
	}
	return nil
}

// readAfter reads the events recorded after snapshot m and known at b, and
// where the read ended, counting the snapshot's quarantined messages.
func (e *Engine) readAfter(ctx context.Context, b Bounds, m *snapMeta) ([]events.Envelope, readEnd, error) {
	end := readEnd{seq: m.Seq, time: m.Time, quarantined: m.Quarantined}
	var news []events.Envelope
	r := b.rng()
	r.From = m.Seq + 1
	r.Quarantine = func(q events.Quarantined) {
		end.quarantined++
		end.saw(q.Seq, q.Recorded)
	}
	if r.To != 0 && r.To < r.From {
		return nil, end, nil
	}
	if _, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
		end.saw(ev.Seq, ev.Recorded)
		news = append(news, ev)
		return nil
	}); err != nil {
		return nil, end, fmt.Errorf("read the log after snapshot %s: %w", m.Meeting, err)
	}
	return news, end, nil
}

// viewOf returns the view as of asOf of the snapshot m with the States f
// holds re-folded: the Convention's entry into force, from the deposits m
// lists for the others and those of f's, and the States with a live fact
// dated on or before asOf. moved tells whether the entry into force differs
// from the one m's deposits alone give.
func viewOf(f *Fold, m *snapMeta, asOf events.Date) (v *view, moved bool) {
	var now, stored []events.Date
	states := map[string]bool{}
	for iso3, st := range m.States {
		for _, d := range st.Deposits {
			if d <= asOf {
				stored = append(stored, d)
			}
		}
		if _, loaded := f.scopes[iso3]; loaded {
			continue
		}
		for _, d := range st.Deposits {
			if d <= asOf {
				now = append(now, d)
			}
		}
		if st.First != 0 && st.First <= asOf {
			states[iso3] = true
		}
	}
	for iso3, s := range f.scopes {
		if iso3 == events.ConventionScope {
			continue
		}
		now = append(now, liveDeposits(s, asOf)...)
		if firstLiveUpTo(s, asOf) != 0 {
			states[iso3] = true
		}
	}
	eifNow, thirtiethNow, _ := aggregates.ConventionEntryIntoForce(now)
	eifStored, thirtiethStored, _ := aggregates.ConventionEntryIntoForce(stored)
	v = &view{fold: f, asOf: asOf, conv: aggregates.Convention{EntryIntoForce: eifNow, ThirtiethDeposit: thirtiethNow},
		states: sortedKeys(states)}
	return v, eifNow != eifStored || thirtiethNow != thirtiethStored
}

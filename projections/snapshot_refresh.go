package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// RefreshStats counts what RefreshSnapshots did.
type RefreshStats struct {
	// Head is the stream sequence every snapshot now covers.
	Head uint64 `json:"head"`
	// Created counts snapshots built from a fold of the log (new
	// meetings, or a meeting whose date or format changed).
	Created int `json:"created"`
	// Updated counts snapshots in which some State's facts changed.
	Updated int `json:"updated"`
	// Bumped counts snapshots that only moved to the new head: nothing
	// recorded since touched a fact dated on or before their meeting.
	Bumped int `json:"bumped"`
	// Unchanged counts snapshots already at the head.
	Unchanged int `json:"unchanged"`
	// Deleted counts snapshots of meetings no longer recorded.
	Deleted int `json:"deleted"`
	// States counts the per-State keys written.
	States int `json:"states"`
	// Events counts the events read from the log.
	Events int `json:"events"`
}

// RefreshSnapshots creates or brings up to date the snapshot of every
// meeting recorded: a missing one is built from a fold of the log; an
// existing one reads only what was recorded after the sequence it covers,
// and rewrites the keys of the States whose facts dated on or before the
// meeting changed, its statuses, and its meta (an event dated after the
// meeting touches no key of it: only its sequence moves). It is idempotent
// and reads nothing but the index when the log did not grow.
func (e *Engine) RefreshSnapshots(ctx context.Context) (RefreshStats, error) {
	if e.snaps == nil {
		return RefreshStats{}, errors.New("refresh snapshots: no snapshot store")
	}
	head, _, err := e.src.Head(ctx)
	if err != nil {
		return RefreshStats{}, fmt.Errorf("refresh snapshots: %w", err)
	}
	r := &refresh{e: e, st: RefreshStats{Head: head}, head: head, from: head + 1,
		log: logTail{rby: map[uuid.UUID]retraction{}, read: head + 1}}
	idx, idxOK, err := e.loadIndex(ctx)
	if err != nil {
		return r.st, err
	}
	if idxOK && idx.Head == head {
		r.st.Unchanged = len(idx.Snapshots)
		return r.st, nil
	}
	if err := r.plan(ctx); err != nil {
		return r.st, err
	}
	if idxOK {
		if err := r.deleteGone(ctx, idx); err != nil {
			return r.st, err
		}
	}
	from := r.from
	if r.create {
		from = 1
	}
	if err := r.read(ctx, from); err != nil {
		return r.st, err
	}
	r.now = e.clock().UTC()
	if err := r.update(ctx); err != nil {
		return r.st, err
	}
	if r.create {
		if err := r.build(ctx); err != nil {
			return r.st, err
		}
	}
	return r.st, r.writeIndex(ctx)
}

// refresh is one run of RefreshSnapshots.
type refresh struct {
	e    *Engine
	st   RefreshStats
	head uint64
	now  time.Time
	// plans has one entry per meeting recorded at head, and the latest
	// snapshot's last.
	plans []plan
	// from is the first sequence the updates read; create is set when
	// some snapshot is built from a fold of the whole log.
	from   uint64
	create bool
	log    logTail
}

// plan is what a refresh does with one snapshot.
type plan struct {
	m    Meeting
	meta *snapMeta // existing, nil to create
	old  *snapMeta // replaced by a new one
}

// logTail is the part of the log a refresh read.
type logTail struct {
	evs  []events.Envelope
	kept []uint64 // the messages of evs's range that are not events
	rby  map[uuid.UUID]retraction
	read uint64    // the first sequence in evs
	time time.Time // the record time of head
}

// plan reads the meta of every meeting recorded at the head and decides
// whether to create, update or leave it.
func (r *refresh) plan(ctx context.Context) error {
	if r.head == 0 {
		return nil
	}
	meetings, err := r.e.meetings(ctx, Bounds{KnownAtSeq: r.head})
	if err != nil {
		return err
	}
	meetings = append(meetings, Meeting{Code: latestCode, End: latestAsOf})
	for _, m := range meetings {
		meta, ok, err := r.e.loadMeta(ctx, m.Code)
		if err != nil {
			return err
		}
		switch {
		case !ok || meta.AsOf != m.End || meta.Rule != aggregates.DefaultAnnualRule.Name || meta.Seq > r.head:
			r.plans = append(r.plans, plan{m: m, old: meta})
			r.create = true
		case meta.Seq == r.head:
			r.st.Unchanged++
			r.plans = append(r.plans, plan{m: m, meta: meta})
		default:
			r.plans = append(r.plans, plan{m: m, meta: meta})
			r.from = min(r.from, meta.Seq+1)
		}
	}
	return nil
}

// deleteGone deletes the snapshots of the index whose meetings the log no
// longer holds (retracted).
func (r *refresh) deleteGone(ctx context.Context, idx snapIndex) error {
	seen := map[string]bool{}
	for _, p := range r.plans {
		seen[p.m.Code] = true
	}
	for _, s := range idx.Snapshots {
		if seen[s.Meeting] {
			continue
		}
		if err := r.e.deleteSnapshot(ctx, s.Meeting); err != nil {
			return err
		}
		r.st.Deleted++
	}
	return nil
}

// read reads the log from the sequence from to the head, unless what was
// read already starts there or before.
func (r *refresh) read(ctx context.Context, from uint64) error {
	t := &r.log
	if from >= t.read {
		return nil
	}
	t.evs, t.kept, t.read = nil, nil, from
	clear(t.rby)
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

// update brings every existing snapshot behind the head to it from the
// events recorded after its sequence. A snapshot that cannot be read back
// (another binary format, or torn by a concurrent refresh) is planned to
// be built again.
func (r *refresh) update(ctx context.Context) error {
	t := &r.log
	for i, p := range r.plans {
		meta := p.meta
		if meta == nil || meta.Seq == r.head {
			continue
		}
		k := sort.Search(len(t.evs), func(i int) bool { return t.evs[i].Seq > meta.Seq })
		notEvents := len(t.kept) - sort.Search(len(t.kept), func(i int) bool { return t.kept[i] > meta.Seq })
		u := update{head: r.head, time: t.time, notEvents: notEvents, now: r.now}
		n, facts, err := r.e.updateSnapshot(ctx, meta, t.evs[k:], t.rby, u)
		switch {
		case errors.Is(err, errStale):
			r.plans[i].meta, r.plans[i].old = nil, meta
			r.create = true
			continue
		case err != nil:
			return err
		}
		r.st.States += n
		if facts {
			r.st.Updated++
		} else {
			r.st.Bumped++
		}
	}
	return nil
}

// build creates the snapshots planned for creation from a fold of the
// whole log.
func (r *refresh) build(ctx context.Context) error {
	if err := r.read(ctx, 1); err != nil {
		return err
	}
	t := &r.log
	full := NewFold()
	gate := aggregates.NewGate(func(events.Quarantined) { full.Quarantined++ })
	for _, ev := range t.evs {
		if gate.Admit(ev) {
			full.Apply(ev)
		}
	}
	full.Seq, full.Time, full.Quarantined = r.head, t.time, full.Quarantined+len(t.kept)
	data := map[uuid.UUID][]byte{}
	for i, p := range r.plans {
		if p.meta != nil {
			continue
		}
		created, n, err := r.e.createSnapshot(ctx, full, p.m, p.old, t.rby, data, r.now)
		if err != nil {
			return err
		}
		r.plans[i].meta = created
		r.st.Created++
		r.st.States += n
	}
	return nil
}

// writeIndex writes the index of the snapshots planned, at the head.
func (r *refresh) writeIndex(ctx context.Context) error {
	entries := make([]indexEntry, 0, len(r.plans))
	for _, p := range r.plans {
		entries = append(entries, indexEntry{Meeting: p.meta.Meeting, AsOf: p.meta.AsOf, Seq: p.meta.Seq})
	}
	_, err := r.e.putValue(ctx, indexKey, snapIndex{Format: snapshotFormat, Head: r.head, Snapshots: entries})
	return err
}

// createSnapshot writes the snapshot of meeting m from a fold of the whole
// log. old, when not nil, is the snapshot it replaces. It returns the meta
// and the number of per-State keys written.
func (e *Engine) createSnapshot(ctx context.Context, full *Fold, m Meeting, old *snapMeta, rby map[uuid.UUID]retraction, data map[uuid.UUID][]byte, now time.Time) (*snapMeta, int, error) {
	meta := &snapMeta{Format: snapshotFormat, Meeting: m.Code, AsOf: m.End, Seq: full.Seq, Time: full.Time, Quarantined: full.Quarantined,
		Created: now, Updated: now, Rule: aggregates.DefaultAnnualRule.Name, StatusRev: full.Seq, States: map[string]snapState{}}
	n := 0
	for _, iso3 := range full.Scopes() {
		s := full.State(iso3)
		recs := recsOf(s, m.End, rby, data)
		if len(recs) == 0 {
			continue
		}
		size, err := e.putState(ctx, stateKey(m.Code, iso3), stateValue{State: iso3, Rev: full.Seq, Facts: recs})
		if err != nil {
			return nil, 0, err
		}
		n++
		meta.States[iso3] = snapState{Rev: full.Seq, Facts: len(recs), Bytes: size, First: firstLiveUpTo(s, m.End), Deposits: liveDeposits(s, m.End)}
	}
	meta.Convention = recsOf(full.State(events.ConventionScope), m.End, rby, data)
	if m.Code != latestCode {
		if err := e.putStatuses(ctx, full, meta); err != nil {
			return nil, 0, err
		}
	}
	if _, err := e.putValue(ctx, metaKey(m.Code), meta); err != nil {
		return nil, 0, err
	}
	if old != nil {
		for iso3 := range old.States {
			if _, ok := meta.States[iso3]; !ok {
				if err := e.snaps.Delete(ctx, stateKey(m.Code, iso3)); err != nil {
					return nil, 0, fmt.Errorf("delete snapshot %s: %w", stateKey(m.Code, iso3), err)
				}
			}
		}
	}
	return meta, n, nil
}

// update is where a refresh brings a snapshot: the head of the log and its
// record time, the stored messages after the snapshot that are not events,
// and the refresh's time.
type update struct {
	head      uint64
	time      time.Time
	notEvents int
	now       time.Time
}

// putStatuses stores the status of every State of the snapshot meta as of
// its meeting, evaluated from full.
func (e *Engine) putStatuses(ctx context.Context, full *Fold, meta *snapMeta) error {
	conv := full.Convention(meta.AsOf)
	sv := statusValue{Rev: full.Seq, Statuses: make([]Status, 0, len(meta.States))}
	for _, iso3 := range sortedKeys(meta.States) {
		sv.Statuses = append(sv.Statuses, statusOf(full, conv, iso3, meta.AsOf, Options{}))
	}
	_, err := e.putValue(ctx, statusKey(meta.Meeting), sv)
	return err
}

// updateSnapshot brings the snapshot m to u.head from news, the events
// recorded after m.Seq. It returns the per-State keys written and whether
// any fact of the snapshot changed; m is updated in place.
func (e *Engine) updateSnapshot(ctx context.Context, m *snapMeta, news []events.Envelope, rby map[uuid.UUID]retraction, u update) (int, bool, error) {
	if m.Seq >= u.head {
		return 0, false, nil
	}
	f := NewFold()
	changed, rejected, err := e.refold(ctx, f, m, news, rby)
	if err != nil {
		return 0, false, err
	}
	oldEIF, oldThirtieth := m.convention()
	written, err := e.putChanged(ctx, f, m, changed, rby, u.head)
	if err != nil {
		return 0, false, err
	}
	if err := e.restatus(ctx, f, m, changed, oldEIF, oldThirtieth, rby, u.head); err != nil {
		return 0, false, err
	}
	m.Seq, m.Time, m.Updated = u.head, u.time, u.now
	m.Quarantined += u.notEvents + rejected
	if _, err := e.putValue(ctx, metaKey(m.Meeting), m); err != nil {
		return 0, false, err
	}
	return written, len(changed) > 0, nil
}

// putChanged rewrites, at sequence last, the keys of the States of f whose
// facts changed, and their entries (and the Convention's facts) in m. It
// returns the keys written.
func (e *Engine) putChanged(ctx context.Context, f *Fold, m *snapMeta, changed map[string]bool, rby map[uuid.UUID]retraction, last uint64) (int, error) {
	dm := m.AsOf
	written := 0
	for _, iso3 := range sortedKeys(changed) {
		s := f.scopes[iso3]
		if iso3 == events.ConventionScope {
			m.Convention = recsOf(s, dm, rby, nil)
			continue
		}
		recs := recsOf(s, dm, rby, nil)
		size, err := e.putState(ctx, stateKey(m.Meeting, iso3), stateValue{State: iso3, Rev: last, Facts: recs})
		if err != nil {
			return 0, err
		}
		written++
		m.States[iso3] = snapState{Rev: last, Facts: len(recs), Bytes: size, First: firstLiveUpTo(s, dm), Deposits: liveDeposits(s, dm)}
	}
	return written, nil
}

// restatus rewrites, at sequence last, the stored statuses of m that
// changed: those of the changed States, or every one when the Convention's
// entry into force moved from oldEIF (its dates move every State's).
func (e *Engine) restatus(ctx context.Context, f *Fold, m *snapMeta, changed map[string]bool, oldEIF, oldThirtieth events.Date, rby map[uuid.UUID]retraction, last uint64) error {
	if m.Meeting == latestCode {
		return nil
	}
	newEIF, newThirtieth := m.convention()
	recompute := map[string]bool{}
	for iso3 := range changed {
		if iso3 != events.ConventionScope {
			recompute[iso3] = true
		}
	}
	if newEIF != oldEIF || newThirtieth != oldThirtieth {
		for iso3 := range m.States {
			if err := e.loadInto(ctx, f, m, iso3, rby); err != nil {
				return err
			}
			recompute[iso3] = true
		}
	}
	if len(recompute) == 0 {
		return nil
	}
	sts, err := e.loadStatuses(ctx, m)
	if err != nil {
		return err
	}
	c := aggregates.Convention{EntryIntoForce: newEIF, ThirtiethDeposit: newThirtieth}
	for iso3 := range recompute {
		sts[iso3] = statusOf(f, c, iso3, m.AsOf, Options{})
	}
	sv := statusValue{Rev: last, Statuses: make([]Status, 0, len(sts))}
	for _, iso3 := range sortedKeys(sts) {
		sv.Statuses = append(sv.Statuses, sts[iso3])
	}
	if _, err := e.putValue(ctx, statusKey(m.Meeting), sv); err != nil {
		return err
	}
	m.StatusRev = last
	return nil
}

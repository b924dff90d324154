package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

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
	// States counts the per-State keys written: one per State and
	// interval whose facts changed, shared by every snapshot that reads
	// the interval.
	States int `json:"states"`
	// Events counts the events read from the log.
	Events int `json:"events"`
}

// RefreshSnapshots creates or brings up to date the snapshot of every
// meeting recorded. An event rewrites the key of its State in the interval
// of its date (the one of the first meeting on or after it), and the
// statuses and meta of the snapshots of that meeting and the later ones;
// the others only move to the new head. A missing snapshot, or an interval
// whose dates changed (a meeting recorded, moved or retracted), is built
// from a fold of the whole log. It is idempotent and reads nothing but the
// index when the log did not grow.
func (e *Engine) RefreshSnapshots(ctx context.Context) (RefreshStats, error) {
	if e.snaps == nil {
		return RefreshStats{}, errors.New("refresh snapshots: no snapshot store")
	}
	head, _, err := e.src.Head(ctx)
	if err != nil {
		return RefreshStats{}, fmt.Errorf("refresh snapshots: %w", err)
	}
	r := &refresh{e: e, st: RefreshStats{Head: head}, head: head, now: e.clock().UTC(), log: logTail{read: head + 1}}
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
	if err := r.compute(ctx); err != nil {
		return r.st, err
	}
	if err := r.write(ctx); err != nil {
		return r.st, err
	}
	if err := r.cleanup(ctx, idx, idxOK); err != nil {
		return r.st, err
	}
	return r.st, r.writeIndex(ctx)
}

// refresh is one run of RefreshSnapshots: plan (this file), what the log
// says (snapshot_refresh_log.go), what is written (snapshot_refresh_write.go).
type refresh struct {
	e    *Engine
	st   RefreshStats
	head uint64
	now  time.Time

	// chain has the meetings recorded at the head in date order, then
	// the latest snapshot; intervals has the interval of each.
	chain     []Meeting
	intervals layout
	// metas has the meta of each entry of chain that can be brought to
	// the head in place, kept those that are (the others are built from a
	// fold of the whole log). They all stand at base; ref is the one with
	// the most intervals.
	metas []*snapMeta
	kept  []bool
	base  uint64
	ref   *snapMeta
	// rewrite has the intervals whose keys are all written anew from a
	// fold of the whole log; keys, by interval and State, the State keys
	// as they will stand.
	rewrite map[string]bool
	keys    map[string]map[string]keyInfo

	log     logTail
	full    *Fold                        // the fold of the whole log, when read
	states  map[string]*aggregates.State // by scope, every fact at the head, of the scopes read
	changed map[string]events.Date       // by scope, the earliest date of a fact changed after base
	dirty   []map[string]bool            // by interval, the States whose facts in it changed
	// rejected counts the events after base that the rules keep out.
	rejected int

	writes []keyWrite
	out    []metaWrite
}

// keyInfo describes a State key: the sequence it was written at, its facts
// and its size.
type keyInfo struct {
	rev          uint64
	facts, bytes int
}

// plan lists the meetings recorded at the head, reads their metas, and
// decides which are built anew and which intervals are written anew.
func (r *refresh) plan(ctx context.Context) error {
	if r.head > 0 {
		ms, err := r.e.meetings(ctx, Bounds{KnownAtSeq: r.head})
		if err != nil {
			return err
		}
		sort.SliceStable(ms, func(i, j int) bool {
			if ms[i].End != ms[j].End {
				return ms[i].End < ms[j].End
			}
			return ms[i].Code < ms[j].Code
		})
		r.chain = append(ms, Meeting{Code: latestCode, End: latestAsOf})
	}
	r.intervals = make(layout, len(r.chain))
	r.metas = make([]*snapMeta, len(r.chain))
	for i, m := range r.chain {
		r.intervals[i] = interval{Meeting: m.Code, AsOf: m.End}
		meta, ok, err := r.e.loadMeta(ctx, m.Code)
		if err != nil {
			return err
		}
		if ok && usable(meta, r.intervals[i], r.head) {
			r.metas[i] = meta
		}
	}
	r.chooseBase()
	r.rewrite = map[string]bool{}
	return nil
}

// usable reports whether m can be brought to head in place: it is as of
// its meeting's date, with the rule of the stored statuses, and read from
// intervals ending with its own.
func usable(m *snapMeta, own interval, head uint64) bool {
	n := len(m.Intervals)
	return m.AsOf == own.AsOf && m.Rule == aggregates.DefaultAnnualRule.Name && m.Seq <= head && n > 0 && m.Intervals[n-1] == own
}

// chooseBase keeps the metas of the latest sequence that agree on the keys
// they share.
func (r *refresh) chooseBase() {
	for _, m := range r.metas {
		if m != nil {
			r.base = max(r.base, m.Seq)
		}
	}
	for i := len(r.metas) - 1; i >= 0 && r.ref == nil; i-- {
		if m := r.metas[i]; m != nil && m.Seq == r.base {
			r.ref = m
		}
	}
	r.kept = make([]bool, len(r.metas))
	if r.ref == nil || !coherent(r.ref, r.ref) {
		return
	}
	for i, m := range r.metas {
		r.kept[i] = m != nil && m.Seq == r.base && coherent(m, r.ref)
	}
}

// coherent reports whether m reads the first intervals of ref, with the
// same keys at the same revisions.
func coherent(m, ref *snapMeta) bool {
	n := len(m.Intervals)
	if n > len(ref.Intervals) || !slices.Equal(m.Intervals, ref.Intervals[:n]) {
		return false
	}
	for iso3, st := range m.States {
		rs, ok := ref.States[iso3]
		if !ok || len(st.Revs) != n || len(rs.Revs) != len(ref.Intervals) || !slices.Equal(st.Revs, rs.Revs[:n]) {
			return false
		}
	}
	for iso3, rs := range ref.States {
		if _, ok := m.States[iso3]; !ok && len(rs.Revs) >= n && slices.ContainsFunc(rs.Revs[:n], func(v uint64) bool { return v != 0 }) {
			return false
		}
	}
	return true
}

// planKeys lists the keys of the intervals kept as ref records them, and
// plans the others for rewriting: those of the snapshots built anew, and
// those whose dates changed.
func (r *refresh) planKeys() {
	r.keys = map[string]map[string]keyInfo{}
	for i, iv := range r.intervals {
		j := -1
		if r.kept[i] && !r.rewrite[iv.Meeting] {
			// A kept meta is coherent with ref: its own interval is ref's j.
			j = len(r.metas[i].Intervals) - 1
			if !r.intervals.same(i, r.ref.Intervals, j) {
				j = -1
			}
		}
		ks := map[string]keyInfo{}
		r.keys[iv.Meeting] = ks
		if j < 0 {
			r.rewrite[iv.Meeting] = true
			continue
		}
		for iso3, rs := range r.ref.States {
			if rev := rs.Revs[j]; rev != 0 {
				own := r.metas[i].States[iso3]
				ks[iso3] = keyInfo{rev: rev, facts: own.Facts, bytes: own.Bytes}
			}
		}
	}
}

// markRewrite plans the keys of the interval of code for rewriting, or of
// every interval when code is empty.
func (r *refresh) markRewrite(code string) {
	for _, iv := range r.intervals {
		if code == "" || iv.Meeting == code {
			r.rewrite[iv.Meeting] = true
		}
	}
}

// compute works out everything the refresh writes, reading the log and
// the keys but writing nothing: from the events after base and the keys
// they touch, or, when some interval is written anew, from a fold of the
// whole log. A key that cannot be read back (torn by a concurrent refresh,
// or of another binary format) has its interval written anew.
func (r *refresh) compute(ctx context.Context) error {
	if len(r.chain) == 0 {
		return nil
	}
	for {
		r.planKeys()
		err := r.computeOnce(ctx)
		var sk *staleKeyError
		if r.full != nil || !errors.As(err, &sk) {
			return err
		}
		r.markRewrite(sk.code)
	}
}

func (r *refresh) computeOnce(ctx context.Context) error {
	r.full, r.states, r.changed, r.rejected = nil, map[string]*aggregates.State{}, map[string]events.Date{}, 0
	r.dirty = make([]map[string]bool, len(r.intervals))
	var err error
	if len(r.rewrite) > 0 {
		err = r.foldAll(ctx)
	} else {
		err = r.foldNews(ctx)
	}
	if err != nil {
		return err
	}
	r.planWrites()
	return r.planMetas(ctx)
}

package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// keyWrite is a State key to write: its facts in binary form.
type keyWrite struct {
	code, iso3 string
	data       []byte
}

// metaWrite is what a refresh writes of one snapshot.
type metaWrite struct {
	meta     *snapMeta
	statuses []byte // the value of the _status key; nil: left as it is
	// write is false for a snapshot already at the head that nothing
	// changed; created for one built from a fold of the log, updated for
	// one whose facts changed.
	write, created, updated bool
}

// planWrites encodes the State keys to write, at the head: every one of
// the intervals rewritten, and those of the States whose facts in an
// interval changed.
func (r *refresh) planWrites() {
	r.writes = nil
	for _, iso3 := range sortedKeys(r.states) {
		if iso3 == events.ConventionScope {
			continue
		}
		var need []int
		for i, iv := range r.intervals {
			if r.rewrite[iv.Meeting] || r.dirty[i][iso3] {
				need = append(need, i)
			}
		}
		if len(need) == 0 {
			continue
		}
		recs := split(r.states[iso3], r.intervals, r.log.rby)
		for _, i := range need {
			if len(recs[i]) == 0 {
				continue
			}
			code := r.intervals[i].Meeting
			data := encodeFacts(stateValue{State: iso3, Rev: r.head, Facts: recs[i]})
			r.writes = append(r.writes, keyWrite{code: code, iso3: iso3, data: data})
			r.keys[code][iso3] = keyInfo{rev: r.head, facts: len(recs[i]), bytes: len(data)}
		}
	}
}

// planMetas works out the meta and the statuses of every snapshot.
func (r *refresh) planMetas(ctx context.Context) error {
	r.out = make([]metaWrite, len(r.chain))
	for i := range r.chain {
		var err error
		if r.kept[i] {
			r.out[i], err = r.updated(ctx, i)
		} else {
			r.out[i], err = r.created(i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry returns the meta's entry of a State in the snapshot of chain entry
// i, but for its deposits and first fact, from the keys as they will
// stand; ok is false when the State has no fact in its intervals.
func (r *refresh) entry(iso3 string, i int) (st snapState, ok bool) {
	st.Revs = make([]uint64, i+1)
	for j, iv := range r.intervals[:i+1] {
		if k, found := r.keys[iv.Meeting][iso3]; found {
			st.Revs[j], ok = k.rev, true
		}
	}
	own := r.keys[r.intervals[i].Meeting][iso3]
	st.Facts, st.Bytes = own.facts, own.bytes
	return st, ok
}

// created builds the snapshot of chain entry i from the fold of the log.
func (r *refresh) created(i int) (metaWrite, error) {
	iv, full := r.intervals[i], r.full
	m := &snapMeta{Format: snapshotFormat, Meeting: iv.Meeting, AsOf: iv.AsOf, Seq: r.head, Time: full.Time, Quarantined: full.Quarantined,
		Created: r.now, Updated: r.now, Rule: aggregates.DefaultAnnualRule.Name, StatusRev: r.head,
		Intervals: slices.Clone(r.intervals[:i+1]), States: map[string]snapState{}}
	for _, iso3 := range full.Scopes() {
		st, ok := r.entry(iso3, i)
		if !ok {
			continue
		}
		s := full.State(iso3)
		st.First, st.Deposits = firstLiveUpTo(s, iv.AsOf), liveDeposits(s, iv.AsOf)
		m.States[iso3] = st
	}
	m.Convention = recsOf(full.State(events.ConventionScope), iv.AsOf, r.log.rby)
	w := metaWrite{meta: m, write: true, created: true}
	if iv.Meeting != latestCode {
		conv := full.Convention(iv.AsOf)
		sv := statusValue{Rev: r.head, Statuses: make([]Status, 0, len(m.States))}
		for _, iso3 := range sortedKeys(m.States) {
			sv.Statuses = append(sv.Statuses, factsStatus(full, conv, iso3, iv.AsOf, Options{}))
		}
		var err error
		if w.statuses, err = json.Marshal(sv); err != nil {
			return metaWrite{}, fmt.Errorf("encode %s: %w", statusKey(iv.Meeting), err)
		}
	}
	return w, nil
}

// updated brings the snapshot of chain entry i, kept, to the head: the
// entries of the States whose facts dated on or before its meeting
// changed, the revisions of every key, and the statuses that changed.
func (r *refresh) updated(ctx context.Context, i int) (metaWrite, error) {
	old := r.metas[i]
	m := *old
	m.Intervals = slices.Clone(r.intervals[:i+1])
	m.States = make(map[string]snapState, len(old.States))
	var touched []string
	for sc, d := range r.changed {
		if d <= m.AsOf {
			touched = append(touched, sc)
		}
	}
	names := sortedKeys(old.States)
	for _, sc := range touched {
		if _, ok := old.States[sc]; !ok && sc != events.ConventionScope {
			names = append(names, sc)
		}
	}
	for _, iso3 := range names {
		st, _ := r.entry(iso3, i)
		prev := old.States[iso3]
		st.First, st.Deposits = prev.First, prev.Deposits
		if d, ok := r.changed[iso3]; ok && d <= m.AsOf {
			s := r.states[iso3]
			st.First, st.Deposits = firstLiveUpTo(s, m.AsOf), liveDeposits(s, m.AsOf)
		}
		m.States[iso3] = st
	}
	if d, ok := r.changed[events.ConventionScope]; r.full != nil || ok && d <= m.AsOf {
		conv, ok := r.states[events.ConventionScope]
		if !ok {
			conv = aggregates.NewState(events.ConventionScope)
		}
		m.Convention = recsOf(conv, m.AsOf, r.log.rby)
	}
	sv, err := r.restatus(ctx, old, &m, touched)
	if err != nil {
		return metaWrite{}, err
	}
	m.Seq, m.Time, m.Updated = r.head, r.log.time, r.now
	m.Quarantined = old.Quarantined + len(r.log.kept) + r.rejected
	if r.full != nil {
		m.Quarantined = r.full.Quarantined
	}
	relaid := !slices.Equal(old.Intervals, m.Intervals) || slices.ContainsFunc(m.Intervals, func(iv interval) bool { return r.rewrite[iv.Meeting] })
	return metaWrite{meta: &m, statuses: sv, write: old.Seq != r.head || relaid || len(touched) > 0, updated: len(touched) > 0}, nil
}

// restatus returns the value of the _status key of m, whose facts changed
// in the scopes touched, when some statuses change: those of the States
// touched, or every one when the Convention's entry into force moved (its
// dates move every State's) or the stored ones cannot be read. The others
// are kept as they were encoded. old is m before the refresh.
func (r *refresh) restatus(ctx context.Context, old, m *snapMeta, touched []string) ([]byte, error) {
	if m.Meeting == latestCode {
		return nil, nil
	}
	oldEIF, oldThirtieth := old.convention()
	newEIF, newThirtieth := m.convention()
	moved := newEIF != oldEIF || newThirtieth != oldThirtieth
	var recompute []string
	for _, sc := range touched {
		if sc != events.ConventionScope {
			recompute = append(recompute, sc)
		}
	}
	if len(recompute) == 0 && !moved {
		return nil, nil
	}
	var sts map[string]json.RawMessage
	if !moved {
		var err error
		sts, err = r.e.loadRawStatuses(ctx, old)
		switch {
		case errors.Is(err, errStale):
			moved = true
		case err != nil:
			return nil, err
		}
	}
	if moved {
		sts, recompute = map[string]json.RawMessage{}, sortedKeys(m.States)
	}
	c := aggregates.Convention{EntryIntoForce: newEIF, ThirtiethDeposit: newThirtieth}
	f := NewFold()
	for _, iso3 := range recompute {
		s, err := r.state(ctx, iso3)
		if err != nil {
			return nil, err
		}
		f.scopes[iso3] = s
		raw, err := json.Marshal(factsStatus(f, c, iso3, m.AsOf, Options{}))
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", statusKey(m.Meeting), err)
		}
		sts[iso3] = raw
	}
	m.StatusRev = r.head
	return encodeStatuses(r.head, sts), nil
}

// write writes the State keys, then the statuses and meta of each
// snapshot, in date order.
func (r *refresh) write(ctx context.Context) error {
	for _, w := range r.writes {
		if _, err := r.e.putBlob(ctx, stateKey(w.code, w.iso3), kindFacts, w.data); err != nil {
			return err
		}
	}
	r.st.States = len(r.writes)
	for _, w := range r.out {
		if w.statuses != nil {
			if _, err := r.e.putBlob(ctx, statusKey(w.meta.Meeting), kindJSON, w.statuses); err != nil {
				return err
			}
		}
		if w.write {
			if _, err := r.e.putValue(ctx, metaKey(w.meta.Meeting), w.meta); err != nil {
				return err
			}
		}
		switch {
		case w.created:
			r.st.Created++
		case !w.write:
			r.st.Unchanged++
		case w.updated:
			r.st.Updated++
		default:
			r.st.Bumped++
		}
	}
	return nil
}

// cleanup deletes the snapshots of meetings no longer recorded (retracted)
// and, when intervals were written anew, the keys no snapshot reads any
// more: those of States without facts in a rewritten interval, and any
// key of a meeting not recorded.
func (r *refresh) cleanup(ctx context.Context, idx snapIndex, idxOK bool) error {
	inChain := map[string]bool{}
	for _, m := range r.chain {
		inChain[m.Code] = true
	}
	gone := map[string]bool{}
	if idxOK {
		for _, s := range idx.Snapshots {
			if !inChain[s.Meeting] {
				gone[s.Meeting] = true
			}
		}
	}
	if len(r.rewrite) == 0 {
		for _, code := range sortedKeys(gone) {
			if err := r.e.deleteSnapshot(ctx, code); err != nil {
				return err
			}
		}
		r.st.Deleted = len(gone)
		return nil
	}
	keys, err := r.e.snaps.Keys(ctx)
	if err != nil {
		return fmt.Errorf("list snapshot keys: %w", err)
	}
	for _, k := range keys {
		code, rest, ok := strings.Cut(k, ".")
		if !ok {
			continue
		}
		iso3, _, _ := strings.Cut(rest, ".")
		_, kept := r.keys[code][iso3]
		switch {
		case !inChain[code]:
			if rest == "_meta" {
				gone[code] = true
			}
		case !r.rewrite[code] || strings.HasPrefix(rest, "_") || kept:
			continue
		}
		if err := r.e.snaps.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", k, err)
		}
	}
	r.st.Deleted = len(gone)
	return nil
}

// writeIndex writes the index of the snapshots, at the head.
func (r *refresh) writeIndex(ctx context.Context) error {
	entries := make([]indexEntry, 0, len(r.out))
	for _, w := range r.out {
		entries = append(entries, indexEntry{Meeting: w.meta.Meeting, AsOf: w.meta.AsOf, Seq: w.meta.Seq})
	}
	_, err := r.e.putValue(ctx, indexKey, snapIndex{Format: snapshotFormat, Head: r.head, Snapshots: entries})
	return err
}

package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// The layout of the snapshot bucket (see docs/snapshots.md):
//
//	_index          the snapshots present: meeting, as-of date, sequence
//	<M>._meta       snapshot of meeting M: as-of date, sequence covered,
//	                record time, the intervals it reads and, per State,
//	                the revisions of its keys and its deposits, the
//	                Convention's own facts
//	<M>._status     the status of every State as of M's last day
//	<M>.<ISO3>      the State's facts dated in M's interval: after the
//	                previous meeting's last day, up to M's
//
// The snapshot of M is read from the keys of M's interval and of every
// earlier meeting's: a fact is stored once, and an event rewrites one key.
//
// Every value has a one-byte tag: 'j' JSON, 'f' facts in a binary form
// (see encodeFacts), 'J' gzip-compressed JSON (from compressAbove bytes),
// and 'm' for the manifest of a value split into <key>.p1, <key>.p2, ...
// because it is larger than partSize.
// Format 2: facts come from gated folds (aggregates.Gate), and the meta
// counts the stored messages kept out. A snapshot of format 1 may hold what
// the rules reject, so it is built again. Format 3: a State's key holds the
// facts of one interval (format 2: every fact dated on or before the
// meeting). Format 4: facts keep the precision of their date, and a
// completion or report known to less than the day is in the interval of
// its earliest day (aggregates.HeldFrom); format 3 lost the precision.
const (
	snapshotFormat = 4
	indexKey       = "_index"
)

// latestCode names the snapshot of every fact whatever its date: it serves
// the dates after the last meeting, and is what the rules judge the events
// recorded after a snapshot against (aggregates.Gate). Its interval follows
// the last meeting's. It has no stored statuses.
const latestCode = "_latest"

// latestAsOf is the as-of date of the latest snapshot: the last date the
// wire format can write, after every date of an event.
var latestAsOf = events.MustDate("9999-12-31")

func metaKey(code string) string        { return code + "._meta" }
func statusKey(code string) string      { return code + "._status" }
func stateKey(code, iso3 string) string { return code + "." + iso3 }

// partSize is the largest value written under one key. The server's
// default maximum payload is 1 MiB.
var partSize = 512 << 10

// errStale marks a snapshot that changed while it was read (a concurrent
// refresh) or cannot be decoded: queries then fold the log instead.
var errStale = errors.New("snapshot changed while read")

// snapIndex lists the snapshots present and the head of the log they were
// last brought to.
type snapIndex struct {
	Format    int          `json:"format"`
	Head      uint64       `json:"head"`
	Snapshots []indexEntry `json:"snapshots"`
}

type indexEntry struct {
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	Seq     uint64      `json:"seq"`
}

// interval names the keys of one meeting's facts: those dated after the
// previous interval's AsOf (any date for the first), up to its own.
type interval struct {
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
}

// layout is a run of intervals in date order, each following the one
// before.
type layout []interval

// find returns the index of the interval holding the facts dated d
// (len(l) when d is after the last).
func (l layout) find(d events.Date) int {
	return sort.Search(len(l), func(i int) bool { return l[i].AsOf >= d })
}

// same reports whether interval i of l holds the same dates as interval j
// of o, under the same key.
func (l layout) same(i int, o layout, j int) bool {
	if l[i] != o[j] || (i == 0) != (j == 0) {
		return false
	}
	return i == 0 || l[i-1].AsOf == o[j-1].AsOf
}

// snapMeta describes one meeting's snapshot.
type snapMeta struct {
	Format  int         `json:"format"`
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	// Seq is the last stream sequence the snapshot covers, Time its record
	// time, Quarantined the stored messages up to Seq that no fold counts.
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Quarantined int       `json:"quarantined,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// Rule is the annual-report rule of the stored statuses, StatusRev the
	// sequence at which they were written.
	Rule      string `json:"rule"`
	StatusRev uint64 `json:"status_rev"`
	// Intervals are those the snapshot is read from: every meeting's up to
	// its own, the last.
	Intervals layout `json:"intervals"`
	// States has an entry for each State with facts dated on or before
	// AsOf.
	States map[string]snapState `json:"states"`
	// Convention holds the Convention's own facts (meetings).
	Convention []factRec `json:"convention"`
}

// snapState is the meta's entry for one State: the sequence at which each
// of its keys was written, what the key of the snapshot's own interval
// holds, and its live deposits (for the Convention's entry into force).
type snapState struct {
	// Revs has one entry per interval of the meta: the sequence at which
	// the State's key of that interval was written, 0 when the State has
	// no fact dated in it (and no key).
	Revs []uint64 `json:"revs"`
	// Facts and Bytes are the facts and the size of the State's key of
	// the snapshot's own interval (0: none).
	Facts int `json:"facts,omitempty"`
	Bytes int `json:"bytes,omitempty"`
	// First is the date of the State's earliest live fact (zero if all
	// are retracted).
	First    events.Date   `json:"first,omitempty"`
	Deposits []events.Date `json:"deposits,omitempty"`
}

// stateValue is the value of a per-State key.
type stateValue struct {
	State string    `json:"state"`
	Rev   uint64    `json:"rev"`
	Facts []factRec `json:"facts"`
}

// convention derives the Convention's entry into force as of the meeting
// from the deposits the meta lists.
func (m *snapMeta) convention() (eif, thirtieth events.Date) {
	var deps []events.Date
	for _, st := range m.States {
		deps = append(deps, st.Deposits...)
	}
	eif, thirtieth, _ = aggregates.ConventionEntryIntoForce(deps)
	return eif, thirtieth
}

// deleteSnapshot removes every key of a meeting's snapshot.
func (e *Engine) deleteSnapshot(ctx context.Context, code string) error {
	keys, err := e.snaps.Keys(ctx)
	if err != nil {
		return fmt.Errorf("list snapshot keys: %w", err)
	}
	prefix := code + "."
	for _, k := range keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			if err := e.snaps.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete snapshot %s: %w", k, err)
			}
		}
	}
	return nil
}

// SnapshotInfo describes one meeting's snapshot, for `ccm snapshots`.
type SnapshotInfo struct {
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	// Seq is the last stream sequence the snapshot covers and Recorded its
	// record time; Behind counts the events recorded since.
	Seq      uint64    `json:"seq"`
	Recorded time.Time `json:"recorded"`
	Behind   uint64    `json:"behind"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// States counts the States with facts dated on or before AsOf; Facts
	// and Bytes count the facts and the size of the keys of the
	// snapshot's own interval (those dated after the previous meeting),
	// so that their sums over the snapshots are those of the bucket.
	States int    `json:"states"`
	Facts  int    `json:"facts"`
	Bytes  int    `json:"bytes"`
	Rule   string `json:"rule"`
}

// Snapshots lists the snapshots present, the meetings' in date order, then
// the snapshot of every date (Meeting "_latest", no as-of date). Without a
// snapshot store the list is empty.
func (e *Engine) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	out := []SnapshotInfo{}
	if e.snaps == nil {
		return out, nil
	}
	head, _, err := e.src.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	idx, ok, err := e.loadIndex(ctx)
	if err != nil || !ok {
		return out, err
	}
	for _, s := range idx.Snapshots {
		m, ok, err := e.loadMeta(ctx, s.Meeting)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		info := SnapshotInfo{Meeting: m.Meeting, AsOf: m.AsOf, Seq: m.Seq, Recorded: m.Time, Created: m.Created, Updated: m.Updated,
			States: len(m.States), Rule: m.Rule}
		if m.Meeting == latestCode {
			info.AsOf, info.Rule = 0, ""
		}
		if head > m.Seq {
			info.Behind = head - m.Seq
		}
		for _, st := range m.States {
			info.Facts += st.Facts
			info.Bytes += st.Bytes
		}
		out = append(out, info)
	}
	// In date order; the snapshot of every date last.
	asOf := func(s SnapshotInfo) events.Date {
		if s.Meeting == latestCode {
			return latestAsOf
		}
		return s.AsOf
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := asOf(out[i]), asOf(out[j]); a != b {
			return a < b
		}
		return out[i].Meeting < out[j].Meeting
	})
	return out, nil
}

// DropSnapshots deletes every key of the snapshot store; the next
// RefreshSnapshots builds them again. It returns the number of keys
// deleted.
func (e *Engine) DropSnapshots(ctx context.Context) (int, error) {
	if e.snaps == nil {
		return 0, nil
	}
	keys, err := e.snaps.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list snapshot keys: %w", err)
	}
	// The index goes first, so that no query picks a half-deleted
	// snapshot.
	sort.Slice(keys, func(i, j int) bool { return keys[i] == indexKey || (keys[j] != indexKey && keys[i] < keys[j]) })
	for _, k := range keys {
		if err := e.snaps.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("delete snapshot %s: %w", k, err)
		}
	}
	return len(keys), nil
}

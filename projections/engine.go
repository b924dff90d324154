package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Range bounds a read of the log.
type Range struct {
	// Scope limits the read to one State (an ISO3 code) or to
	// events.ConventionScope; empty reads every event.
	Scope string
	// Subjects, when not empty, limits the read to the stored messages on
	// subjects matching one of these filters (NATS wildcards: '*' one
	// token, '>' the rest), in stream order, each read once even when
	// filters overlap; Scope is then empty. A Source may read more than
	// asked: readers keep what they asked for.
	Subjects []string
	// From is the first stream sequence to read; 0 and 1 both mean the
	// start of the log.
	From uint64
	// To is the last stream sequence to read; 0 means the last event stored
	// when the read starts.
	To uint64
	// Until, when not zero, ends the read before the first event recorded
	// after it (the "known at" bound in record time).
	Until time.Time
	// Quarantine, when set, receives each stored message of the range that
	// is not an event of its subject (events.Quarantined); the read skips
	// it either way.
	Quarantine func(events.Quarantined)
}

// Source is the event log as projections read it. The JetStream log
// (deploy/jetstream/jslog) satisfies it through a small adapter; tests may use a
// slice of stored events.
type Source interface {
	// Read calls fn for every stored event within r, in stream order, and
	// returns the last stream sequence the read covered. Events carry
	// their stream sequence and record time. An error from fn stops the
	// read and is returned.
	Read(ctx context.Context, r Range, fn func(events.Envelope) error) (last uint64, err error)
	// Head returns the stream sequence and the record time of the last
	// event stored: 0 and the zero time for an empty log.
	Head(ctx context.Context) (seq uint64, recorded time.Time, err error)
}

// SnapshotStore is a key/value bucket for snapshots (deploy/jetstream/jslog keeps it
// in the KV bucket CCM_SNAPSHOTS). Keys use the characters A-Z, a-z, 0-9,
// '-', '_' and '.'. Values stay under 512 KiB: larger ones are split by
// the engine. It must be safe for concurrent use: a query reads several
// keys at once.
type SnapshotStore interface {
	// Get returns the value stored under key; found is false (and err
	// nil) when the key is absent or deleted.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Put stores value under key, replacing any earlier value.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys returns every key present, in any order.
	Keys(ctx context.Context) ([]string, error)
}

// Errors callers branch on.
var (
	// ErrUnknownMeeting marks an as-of point that names a meeting code the
	// ledger does not hold (as known at the known-at bound).
	ErrUnknownMeeting = errors.New("unknown meeting")
	// ErrUnknownState marks a code that is not the ISO 3166-1 alpha-3 code
	// of a State in the built-in table.
	ErrUnknownState = errors.New("unknown state")
)

// Bounds is a point of view on the ledger: facts dated on or before AsOf
// (valid time), as the ledger knew them at KnownAtSeq or KnownAtTime
// (record time). Zero known-at bounds mean everything recorded.
type Bounds struct {
	// AsOf is the valid date the views are evaluated at. It is required.
	AsOf events.Date
	// Meeting is the code of the meeting AsOf was resolved from, if any.
	Meeting string
	// KnownAtSeq, when not zero, keeps only events with a stream sequence
	// up to it.
	KnownAtSeq uint64
	// KnownAtTime, when not zero, keeps only events recorded at or before
	// it.
	KnownAtTime time.Time
}

func (b Bounds) check() error {
	if b.AsOf == 0 {
		return errors.New("bounds: the as-of date is required")
	}
	return nil
}

// rng is the read of every event known at b.
func (b Bounds) rng() Range { return Range{To: b.KnownAtSeq, Until: b.KnownAtTime} }

// covers reports whether an event stored at seq and recorded at t is known
// at b.
func (b Bounds) covers(seq uint64, t time.Time) bool {
	if b.KnownAtSeq != 0 && seq > b.KnownAtSeq {
		return false
	}
	if !b.KnownAtTime.IsZero() && t.After(b.KnownAtTime) {
		return false
	}
	return true
}

// Engine answers the queries of auditors: status, report, diff, history,
// replay, meetings, from a Source and, when given, the meeting snapshots of
// a SnapshotStore, or from a Live fold (WithLive). It holds no state between
// calls beyond its configuration (and, with a Live, derived statuses) and is
// safe for concurrent use; RefreshSnapshots should run
// in one process at a time (see docs/snapshots.md).
type Engine struct {
	src   Source
	snaps SnapshotStore
	opt   Options
	clock func() time.Time
	// live, when set, answers instead of the log and the snapshots, and
	// cache keeps the statuses derived from it (see WithLive).
	live  *Live
	cache *statusCache
}

// EngineOption adjusts an Engine.
type EngineOption func(*Engine)

// WithClock gives the engine the clock that stamps the creation of
// snapshots; the default is time.Now.
func WithClock(clock func() time.Time) EngineOption {
	return func(e *Engine) { e.clock = clock }
}

// NewEngine returns an engine reading src. snaps may be nil: every query
// then folds the log. opt decides how statuses are derived.
func NewEngine(src Source, snaps SnapshotStore, opt Options, eo ...EngineOption) *Engine {
	e := &Engine{src: src, snaps: snaps, opt: opt, clock: time.Now}
	for _, o := range eo {
		o(e)
	}
	return e
}

// Resolve parses the bounds a user gives. asOf is "" (today), a date
// YYYY-MM-DD, or a meeting code (case-insensitive), which stands for the
// meeting's last day as recorded in the log known at the known-at bound.
// knownAt is "" (everything recorded), a stream sequence (an integer from
// 1), an RFC 3339 time, or a date (the end of that day, UTC). Errors name
// the flag and its value; an unknown meeting code wraps ErrUnknownMeeting.
func (e *Engine) Resolve(ctx context.Context, asOf, knownAt string, today events.Date) (Bounds, error) {
	var b Bounds
	knownAt = strings.TrimSpace(knownAt)
	switch {
	case knownAt == "":
	case allDigits(knownAt):
		n, err := strconv.ParseUint(knownAt, 10, 64)
		if err != nil || n == 0 {
			return Bounds{}, fmt.Errorf("known-at %q: a stream sequence is a whole number from 1", knownAt)
		}
		b.KnownAtSeq = n
	default:
		if t, err := time.Parse(time.RFC3339Nano, knownAt); err == nil {
			b.KnownAtTime = t.UTC()
		} else if d, err := events.ParseDate(knownAt); err == nil {
			b.KnownAtTime = d.AddDate(0, 0, 1).Time().Add(-time.Nanosecond)
		} else {
			return Bounds{}, fmt.Errorf("known-at %q is not a stream sequence, an RFC 3339 time or a date (YYYY-MM-DD)", knownAt)
		}
	}
	asOf = strings.TrimSpace(asOf)
	switch {
	case asOf == "":
		if today == 0 {
			return Bounds{}, errors.New("as-of: no date given and no today's date")
		}
		b.AsOf = today
	case looksLikeDate(asOf):
		d, err := events.ParseDate(asOf)
		if err != nil {
			return Bounds{}, fmt.Errorf("as-of %q is not a valid date", asOf)
		}
		b.AsOf = d
	default:
		code := strings.ToUpper(asOf)
		if !events.ValidMeetingCode(code) {
			return Bounds{}, fmt.Errorf("as-of %q is neither a date (YYYY-MM-DD) nor a meeting code (such as 3MSP)", asOf)
		}
		ms, err := e.meetings(ctx, b)
		if err != nil {
			return Bounds{}, fmt.Errorf("as-of %q: %w", asOf, err)
		}
		codes := make([]string, 0, len(ms))
		for _, m := range ms {
			if m.Code == code {
				b.AsOf, b.Meeting = m.End, m.Code
				return b, nil
			}
			codes = append(codes, m.Code)
		}
		if len(codes) == 0 {
			return Bounds{}, fmt.Errorf("as-of %q: %w: the ledger records no meeting", asOf, ErrUnknownMeeting)
		}
		return Bounds{}, fmt.Errorf("as-of %q: %w: the ledger records %s", asOf, ErrUnknownMeeting, strings.Join(codes, ", "))
	}
	return b, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// looksLikeDate tells a date-shaped value (9999-99-99) from a meeting code.
func looksLikeDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	return allDigits(s[:4]) && allDigits(s[5:7]) && allDigits(s[8:])
}

// Meetings returns the meetings recorded as known at b, in date order; when
// b.AsOf is set, only those that ended on or before it.
func (e *Engine) Meetings(ctx context.Context, b Bounds) ([]Meeting, error) {
	ms, err := e.meetings(ctx, b)
	if err != nil {
		return nil, err
	}
	out := ms[:0]
	for _, m := range ms {
		if b.AsOf == 0 || m.End <= b.AsOf {
			out = append(out, m)
		}
	}
	return out, nil
}

// readEnd is where a read of the log ended: the last stored message it
// read (an event or not) and its record time, and how many of the messages
// no fold counts.
type readEnd struct {
	seq         uint64
	time        time.Time
	quarantined int
}

func (r *readEnd) saw(seq uint64, t time.Time) {
	if seq > r.seq {
		r.seq, r.time = seq, t
	}
}

// read reads r from the start of the log through a gate (see
// aggregates.Gate): fn receives the events the rules admit where they stand.
func (e *Engine) read(ctx context.Context, r Range, fn func(events.Envelope) error) (readEnd, error) {
	var end readEnd
	if r.From > 1 {
		return end, fmt.Errorf("read from %d: a gated read starts at the beginning of the log", r.From)
	}
	gate := aggregates.NewGate(func(q events.Quarantined) { end.quarantined++ })
	r.Quarantine = func(q events.Quarantined) {
		end.quarantined++
		end.saw(q.Seq, q.Recorded)
	}
	_, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
		end.saw(ev.Seq, ev.Recorded)
		if !gate.Admit(ev) {
			return nil
		}
		return fn(ev)
	})
	return end, err
}

// meetings reads the Convention's own events known at b.
func (e *Engine) meetings(ctx context.Context, b Bounds) ([]Meeting, error) {
	if e.live != nil {
		v, err := e.live.view(ctx)
		if err != nil {
			return nil, fmt.Errorf("read meetings: %w", err)
		}
		return v.fold(b, 0, []string{events.ConventionScope}).Meetings(), nil
	}
	f := NewFold()
	r := b.rng()
	r.Scope = events.ConventionScope
	if _, err := e.read(ctx, r, func(ev events.Envelope) error {
		f.Apply(ev)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read meetings: %w", err)
	}
	return f.Meetings(), nil
}

// Fold returns the facts known at b and dated on or before b.AsOf (and the
// facts retracted by then, in each State's Retracted). Its Seq and Time are
// the last event known at b. The fold is the caller's; from a Live engine
// its States are shared: read them, do not Apply to them.
func (e *Engine) Fold(ctx context.Context, b Bounds) (*Fold, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	return e.readFold(ctx, b, b.AsOf)
}

// readFold folds every event known at b; with upTo set, only facts held by
// it (dated on or before it, or see aggregates.HeldFrom; retractions always
// apply). Seq and Time are those of the
// last event known at b, whether or not it was kept.
func (e *Engine) readFold(ctx context.Context, b Bounds, upTo events.Date) (*Fold, error) {
	if e.live != nil {
		return e.liveFold(ctx, b, upTo)
	}
	f := NewFold()
	end, err := e.read(ctx, b.rng(), func(ev events.Envelope) error {
		if upTo == 0 || aggregates.HeldBy(ev, upTo) || ev.Type == events.Retracted {
			f.Apply(ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	f.Seq, f.Time, f.Quarantined = end.seq, end.time, end.quarantined
	return f, nil
}

// view is what a query evaluates: the facts known at a point and a valid
// date, with, when it comes from a snapshot, the statuses that can be
// reused as they were stored.
type view struct {
	fold *Fold
	asOf events.Date
	conv aggregates.Convention
	// states lists every State with a live fact dated on or before asOf,
	// sorted.
	states []string
	// stored holds statuses derived as of asOf with the engine's options
	// that no later event changed; the others are derived from fold.
	stored map[string]Status
	// storedUncovered: the stored statuses are those of the facts alone
	// (a snapshot's), which the fold's coverage then applies to.
	storedUncovered bool
}

func (v *view) status(iso3 string, opt Options) Status {
	if st, ok := v.stored[iso3]; ok {
		st.KnownAt = knownAt(v.fold)
		if v.storedUncovered {
			applyCoverage(&st, coverageAt(v.fold, v.asOf), v.asOf)
		}
		return st
	}
	return statusOf(v.fold, v.conv, iso3, v.asOf, opt)
}

func (v *view) report(opt Options) Report {
	sts := make([]Status, 0, len(v.states))
	for _, iso3 := range v.states {
		sts = append(sts, v.status(iso3, opt))
	}
	var meeting string
	for _, m := range v.fold.Meetings() {
		if m.End == v.asOf {
			meeting = m.Code
		}
	}
	return Tables(sts, v.asOf, v.conv.EntryIntoForce, meeting, knownAt(v.fold), opt)
}

// view returns the facts known at b for an evaluation as of b.AsOf: from
// the nearest usable snapshot when there is one, else from a fold of the
// log. want lists the States whose status is needed (nil: every State).
func (e *Engine) view(ctx context.Context, b Bounds, want []string) (*view, error) {
	v, err := e.storedView(ctx, b, want)
	if err != nil || v != nil {
		return v, err
	}
	return e.foldView(ctx, b)
}

// storedView is the view from the Live fold, or from the nearest usable
// snapshot; nil when there is neither.
func (e *Engine) storedView(ctx context.Context, b Bounds, want []string) (*view, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if e.live != nil {
		return e.liveView(ctx, b, want)
	}
	if e.snaps == nil {
		return nil, nil
	}
	return e.snapshotView(ctx, b, want)
}

// foldView is the view from a fold of the whole log known at b.
func (e *Engine) foldView(ctx context.Context, b Bounds) (*view, error) {
	f, err := e.readFold(ctx, b, b.AsOf)
	if err != nil {
		return nil, err
	}
	var states []string
	for _, iso3 := range f.Scopes() {
		// The fold may hold a State's later facts that may have come by
		// the date (aggregates.HeldFrom): they do not list it.
		if firstLiveUpTo(f.State(iso3), b.AsOf) != 0 {
			states = append(states, iso3)
		}
	}
	return &view{fold: f, asOf: b.AsOf, conv: f.Convention(b.AsOf), states: states}, nil
}

// Status returns a State's status as of b.AsOf, known at b. iso3 must be
// a code of the built-in table (ErrUnknownState otherwise).
//
// It comes from the Live fold (WithLive), or from the nearest usable
// snapshot when there is one. Else, on a Source that is a Locator, it reads
// only what a status stands on (see statusSubjects): the State's own
// subjects, and the signatures, deposits, withdrawals and retractions of
// the other States, for the Convention's entry into force; its cost grows
// with the State's events, not with the log's. It is then the status a fold
// of the whole log gives, but for KnownAt.Quarantined, which counts the
// stored messages of the State's own subjects that no view counts (a fold
// counts those of the whole log, which only a read of the whole log can).
// On any other Source, it folds the log.
func (e *Engine) Status(ctx context.Context, iso3 string, b Bounds) (Status, error) {
	if _, ok := events.LookupState(iso3); !ok {
		return Status{}, fmt.Errorf("status of %q: %w", iso3, ErrUnknownState)
	}
	v, err := e.storedView(ctx, b, []string{iso3})
	if err != nil {
		return Status{}, err
	}
	if v == nil {
		if loc, ok := e.src.(Locator); ok {
			st, located, err := e.scopedStatus(ctx, loc, iso3, b)
			if err != nil || located {
				return st, err
			}
		}
		if v, err = e.foldView(ctx, b); err != nil {
			return Status{}, err
		}
	}
	return v.status(iso3, e.opt), nil
}

// Report returns the Convention-wide tables as of b.AsOf, known at b.
func (e *Engine) Report(ctx context.Context, b Bounds) (Report, error) {
	if e.live != nil {
		if err := b.check(); err != nil {
			return Report{}, err
		}
		return e.liveReport(ctx, b)
	}
	v, err := e.view(ctx, b, nil)
	if err != nil {
		return Report{}, err
	}
	return v.report(e.opt), nil
}

// Statuses returns the status of every State with a fact dated on or
// before b.AsOf (not retracted) known at b, sorted by code.
func (e *Engine) Statuses(ctx context.Context, b Bounds) ([]Status, error) {
	v, err := e.view(ctx, b, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(v.states))
	for _, iso3 := range v.states {
		out = append(out, v.status(iso3, e.opt))
	}
	return out, nil
}

// sortedKeys returns the keys of a set, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

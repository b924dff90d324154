package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Live is the fold of the whole log kept in memory and followed as the log
// grows: what `ccm serve` answers every query from, at any as-of date and
// any known-at point, without reading the log again.
//
// Guarantees:
//   - An answer through Live equals the answer of a fold of the log read
//     through an aggregates.Gate at the same bounds (the tests compare them
//     on random histories).
//   - A query sees every message stored before it started: it first asks the
//     log for its head and waits until the fold has read that far.
//   - One goroutine (Run) reads the log and owns the fold. It publishes
//     immutable views; queries share them and never take a lock. A State
//     the published view holds is cloned before an event changes it.
//
// Memory holds each State's facts once, plus 24 bytes per stored message
// (its sequence and record time, for known-at bounds).
type Live struct {
	src   Source
	every time.Duration
	wake  chan struct{}
	now   atomic.Pointer[published]
	// building is the follower's own: the fold as read so far, of which
	// the published view is a copy-on-write image.
	building *liveView
	shared   map[string]bool // scopes of building shared with the published view
	heads    headRounds
	convMu   sync.Mutex
	convs    map[convKey]aggregates.Convention
	feed     Feed
}

// Feed receives what a live fold reads, in stream order, from the
// goroutine that reads: every stored event (admitted or not: the receiver
// judges it again), every stored message that is not an event of its
// subject, and after each read the head it reached. `ccm serve`'s writer
// (aggregates.Ledger) keeps its aggregates from it instead of reading the
// log again. A Feed must not call back into the Live.
type Feed interface {
	Apply(events.Envelope)
	Skip(events.Quarantined)
	ReadTo(head uint64, at time.Time)
}

// LiveFeed makes f receive what the fold reads (see Feed).
func LiveFeed(f Feed) LiveOption { return func(l *Live) { l.feed = f } }

// published is what queries read: the last view and a channel closed when
// the next one is published.
type published struct {
	view *liveView
	err  error // the last read's failure, nil once a read succeeds
	next chan struct{}
}

// liveView is the fold at one point of the log. It is never modified once
// published.
type liveView struct {
	scopes map[string]*liveScope
	// seqs and times are every stored message read (event or not), in
	// stream order; quarantined lists those no fold counts.
	seqs        []uint64
	times       []int64
	quarantined []uint64
	// monotone is false once a record time went back (a server clock
	// set back): known-at times are then looked up one by one.
	monotone bool
	// head is the last stream sequence read (at least seqs' last).
	head uint64
}

// liveScope is the fold of one scope and the retractions it applied.
type liveScope struct {
	state    *aggregates.State
	rets     []aggregates.StoredRetraction
	lastDate events.Date
}

// LiveOption adjusts a Live.
type LiveOption func(*Live)

// LiveEvery sets how often Live reads the log when no query asks it to;
// the default is one second.
func LiveEvery(d time.Duration) LiveOption { return func(l *Live) { l.every = d } }

// NewLive returns the live fold of src. Nothing is read until Run.
func NewLive(src Source, opts ...LiveOption) *Live {
	l := &Live{src: src, every: time.Second, wake: make(chan struct{}, 1),
		building: &liveView{scopes: map[string]*liveScope{}, monotone: true}, shared: map[string]bool{},
		convs: map[convKey]aggregates.Convention{}}
	for _, o := range opts {
		o(l)
	}
	l.now.Store(&published{next: make(chan struct{})})
	return l
}

// ErrLiveStopped is returned by queries waiting on a Live whose Run ended.
var ErrLiveStopped = errors.New("live fold stopped")

// Run reads the log into the fold until ctx ends, then returns ctx's
// error. It must run once, in its own goroutine, for queries to answer.
func (l *Live) Run(ctx context.Context) error {
	defer l.publish(l.now.Load().view, ErrLiveStopped)
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	for {
		v, err := l.advance(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.publish(v, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		case <-tick.C:
		}
	}
}

func (l *Live) publish(v *liveView, err error) {
	old := l.now.Load()
	if v == nil {
		v = old.view
	}
	l.now.Store(&published{view: v, err: err, next: make(chan struct{})})
	close(old.next)
}

// view waits until the fold has read every message stored when it is
// called, and returns it.
func (l *Live) view(ctx context.Context) (*liveView, error) {
	head, err := l.heads.head(ctx, l.src)
	if err != nil {
		return nil, fmt.Errorf("read the log's head: %w", err)
	}
	for {
		p := l.now.Load()
		if p.view != nil && p.view.head >= head {
			return p.view, nil
		}
		if p.err != nil {
			return nil, fmt.Errorf("live fold: %w", p.err)
		}
		select {
		case l.wake <- struct{}{}:
		default:
		}
		select {
		case <-p.next:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Sync waits until the fold has read every message stored when it is
// called (a server is ready once it returns).
func (l *Live) Sync(ctx context.Context) error {
	_, err := l.view(ctx)
	return err
}

// headRounds asks the log for its head once for many queries at a time:
// a query joins the next round to start, so the head it gets was read after
// it began. One round runs at a time; those who arrive meanwhile share the
// next.
type headRounds struct {
	mu      sync.Mutex
	next    *headRound // open for joining; nil when none
	running bool
}

type headRound struct {
	done chan struct{}
	seq  uint64
	err  error
}

func (h *headRounds) head(ctx context.Context, src Source) (uint64, error) {
	h.mu.Lock()
	r := h.next
	if r == nil {
		r = &headRound{done: make(chan struct{})}
		h.next = r
		if !h.running {
			h.running = true
			go h.run(src)
		}
	}
	h.mu.Unlock()
	select {
	case <-r.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run reads the head for each round in turn until none is waiting.
func (h *headRounds) run(src Source) {
	for {
		h.mu.Lock()
		r := h.next
		h.next = nil
		if r == nil {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), headTimeout)
		r.seq, _, r.err = src.Head(ctx)
		cancel()
		close(r.done)
	}
}

// headTimeout bounds one read of the log's head for a round of queries.
const headTimeout = 10 * time.Second

// Seq returns the last stream sequence the published fold has read.
func (l *Live) Seq() uint64 {
	if v := l.now.Load().view; v != nil {
		return v.head
	}
	return 0
}

// advance reads what was stored since the last read and returns the new
// view to publish (nil when nothing changed).
func (l *Live) advance(ctx context.Context) (*liveView, error) {
	b := l.building
	from := b.head + 1
	record := func(seq uint64, t time.Time) {
		ns := t.UnixNano()
		if n := len(b.times); n > 0 && ns < b.times[n-1] {
			b.monotone = false
		}
		b.seqs, b.times = append(b.seqs, seq), append(b.times, ns)
		b.head = max(b.head, seq)
	}
	r := Range{From: from, Quarantine: func(q events.Quarantined) {
		record(q.Seq, q.Recorded)
		b.quarantined = append(b.quarantined, q.Seq)
		if l.feed != nil {
			l.feed.Skip(q)
		}
	}}
	last, err := l.src.Read(ctx, r, func(ev events.Envelope) error {
		record(ev.Seq, ev.Recorded)
		if l.feed != nil {
			l.feed.Apply(ev)
		}
		sc := l.scope(ev.Scope())
		if aerr := sc.state.Admissible(ev); aerr != nil {
			b.quarantined = append(b.quarantined, ev.Seq)
			return nil
		}
		sc.apply(ev)
		return nil
	})
	// The read stops where it started at the latest: the head it saw.
	if err == nil {
		b.head = max(b.head, last)
		if l.feed != nil {
			l.feed.ReadTo(b.head, time.Now())
		}
	}
	if b.head < from && l.now.Load().view != nil {
		return nil, err
	}
	return l.image(), err
}

// scope returns the building fold's scope, cloned first if the published
// view shares it.
func (l *Live) scope(name string) *liveScope {
	sc, ok := l.building.scopes[name]
	switch {
	case !ok:
		sc = &liveScope{state: aggregates.NewState(name)}
		l.building.scopes[name] = sc
	case l.shared[name]:
		sc = &liveScope{state: sc.state.Clone(), rets: sc.rets, lastDate: sc.lastDate}
		l.building.scopes[name] = sc
		delete(l.shared, name)
	}
	return sc
}

func (sc *liveScope) apply(ev events.Envelope) {
	sc.state.Apply(ev)
	if ev.Type == events.Retracted {
		sc.rets = append(sc.rets, aggregates.StoredRetraction{ID: ev.ID, Target: ev.Payload.(*events.Retraction).Event, Seq: ev.Seq})
		return
	}
	sc.lastDate = max(sc.lastDate, ev.Date)
}

// image returns an immutable view of the building fold: its scopes are
// shared until the next event changes them (scope clones them first).
func (l *Live) image() *liveView {
	b := l.building
	v := &liveView{scopes: make(map[string]*liveScope, len(b.scopes)), seqs: b.seqs, times: b.times,
		quarantined: b.quarantined, monotone: b.monotone, head: b.head}
	for name, sc := range b.scopes {
		v.scopes[name] = sc
		l.shared[name] = true
	}
	return v
}

// point is where bounds fall in the view: the last stored message known at
// them, its record time, and how many messages up to it no fold counts.
type point struct {
	seq         uint64
	time        time.Time
	quarantined int
}

func (v *liveView) point(b Bounds) point {
	n := len(v.seqs)
	if b.KnownAtSeq != 0 {
		n = sort.Search(n, func(i int) bool { return v.seqs[i] > b.KnownAtSeq })
	}
	if !b.KnownAtTime.IsZero() {
		until := b.KnownAtTime.UnixNano()
		if v.monotone {
			n = sort.Search(n, func(i int) bool { return v.times[i] > until })
		} else {
			for i := range n {
				if v.times[i] > until {
					n = i
					break
				}
			}
		}
	}
	if n == 0 {
		return point{}
	}
	seq := v.seqs[n-1]
	q := sort.Search(len(v.quarantined), func(i int) bool { return v.quarantined[i] > seq })
	return point{seq: seq, time: time.Unix(0, v.times[n-1]).UTC(), quarantined: q}
}

// state returns the scope's aggregate as a fold at p keeping the facts
// dated on or before upTo would hold it, and false when that fold would
// hold nothing of it. The aggregate is shared: do not modify it.
func (sc *liveScope) at(p point, upTo events.Date) (*aggregates.State, bool) {
	s := sc.state
	if p.seq >= s.Version && upTo >= sc.lastDate {
		return s, true
	}
	k := s.KnownAt(p.seq, upTo, sc.rets)
	return k, k.Version != 0
}

// stateNames returns the States the view holds something of, sorted.
func (v *liveView) stateNames() []string { return stateCodes(v.scopes) }

// liveAt reports whether the scope has a live fact dated on or before upTo
// in the fold at p (a report lists only those States), without building
// its view: most often its earliest fact answers.
func (sc *liveScope) liveAt(p point, upTo events.Date) bool {
	if sc == nil {
		return false
	}
	for _, t := range events.Types() {
		for _, f := range sc.state.Facts(t) {
			if f.Date > upTo {
				break
			}
			if f.Seq <= p.seq {
				return true
			}
		}
	}
	for id, f := range sc.state.Retracted {
		if f.Seq <= p.seq && f.Date <= upTo && !retractedAt(sc.rets, id, p.seq) {
			return true
		}
	}
	return false
}

// factsAt is at for deriving a status (aggregates.State.FactsKnownAt):
// the same facts, cheaper, shared with the fold; read it only.
func (sc *liveScope) factsAt(p point, upTo events.Date) *aggregates.State {
	if p.seq >= sc.state.Version && upTo >= sc.lastDate {
		return sc.state
	}
	return sc.state.FactsKnownAt(p.seq, upTo, sc.rets)
}

// fold returns the fold a gated read of the log at b would build, keeping
// the facts dated on or before upTo (zero: every date), of the given scopes
// (nil: every scope).
func (v *liveView) fold(b Bounds, upTo events.Date, scopes []string) *Fold {
	if upTo == 0 {
		upTo = latestAsOf
	}
	p := v.point(b)
	f := &Fold{scopes: map[string]*aggregates.State{}, Seq: p.seq, Time: p.time, Quarantined: p.quarantined}
	add := func(name string, sc *liveScope) {
		if s, ok := sc.at(p, upTo); ok {
			f.scopes[name] = s
			f.Events += s.Len() + len(s.Retracted)
		}
	}
	if scopes == nil {
		for name, sc := range v.scopes {
			add(name, sc)
		}
		return f
	}
	for _, name := range scopes {
		if sc, ok := v.scopes[name]; ok {
			add(name, sc)
		}
	}
	return f
}

// convention is the view's convention, kept by point and date: every query
// needs it, and it looks at every State's deposits.
func (l *Live) convention(v *liveView, p point, asOf events.Date) aggregates.Convention {
	k := convKey{seq: p.seq, asOf: asOf}
	l.convMu.Lock()
	c, ok := l.convs[k]
	l.convMu.Unlock()
	if ok {
		return c
	}
	c = v.convention(p, asOf)
	l.convMu.Lock()
	if len(l.convs) >= maxCachedConventions {
		clear(l.convs)
	}
	l.convs[k] = c
	l.convMu.Unlock()
	return c
}

type convKey struct {
	seq  uint64
	asOf events.Date
}

const maxCachedConventions = 4096

// convention derives the Convention's entry into force as of asOf from the
// deposits known at p, without building the other States' views.
func (v *liveView) convention(p point, asOf events.Date) aggregates.Convention {
	var deps []events.Date
	for name, sc := range v.scopes {
		if name == events.ConventionScope {
			continue
		}
		for _, d := range sc.state.Facts(events.Deposited) {
			if d.Seq <= p.seq && d.Date <= asOf {
				deps = append(deps, d.Date)
			}
		}
		for id, d := range sc.state.Retracted {
			if d.Type == events.Deposited && d.Seq <= p.seq && d.Date <= asOf && !retractedAt(sc.rets, id, p.seq) {
				deps = append(deps, d.Date)
			}
		}
	}
	eif, thirtieth, _ := aggregates.ConventionEntryIntoForce(deps)
	return aggregates.Convention{EntryIntoForce: eif, ThirtiethDeposit: thirtieth}
}

// retractedAt reports whether a retraction stored up to seq took id back.
func retractedAt(rets []aggregates.StoredRetraction, id uuid.UUID, seq uint64) bool {
	for _, r := range rets {
		if r.Seq > seq {
			return false
		}
		if r.Target == id {
			return true
		}
	}
	return false
}

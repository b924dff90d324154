package projections

import (
	"context"
	"sync"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// WithLive makes the engine answer from a live fold instead of reading the
// log and the snapshots: status, report, statuses, diff, meetings and the
// resolution of meeting codes. History and replay still read the log (they
// need each event's record as stored). l's Run must be running.
func WithLive(l *Live) EngineOption {
	return func(e *Engine) { e.live, e.cache = l, newStatusCache() }
}

// liveReport is Report from the live fold: a report is kept by its as-of
// date and the point of the log it stands for, which the log's being
// append-only makes final.
func (e *Engine) liveReport(ctx context.Context, b Bounds) (Report, error) {
	lv, err := e.live.view(ctx)
	if err != nil {
		return Report{}, err
	}
	k := cachedReportKey{asOf: b.AsOf, seq: lv.point(b).seq}
	return e.cache.report(k, func() Report { return e.liveViewOf(lv, b, nil).report(e.opt) }), nil
}

// liveFold returns what readFold would: the fold known at b of the facts
// dated on or before upTo.
func (e *Engine) liveFold(ctx context.Context, b Bounds, upTo events.Date) (*Fold, error) {
	v, err := e.live.view(ctx)
	if err != nil {
		return nil, err
	}
	return v.fold(b, upTo, nil), nil
}

// liveView is view from the live fold. A status is looked up in the cache
// by what it depends on before any State's facts are copied: a State's
// view is built only when its status must be derived. With want set, only
// those States are looked at (and every State's deposits, for the entry
// into force).
func (e *Engine) liveView(ctx context.Context, b Bounds, want []string) (*view, error) {
	lv, err := e.live.view(ctx)
	if err != nil {
		return nil, err
	}
	return e.liveViewOf(lv, b, want), nil
}

func (e *Engine) liveViewOf(lv *liveView, b Bounds, want []string) *view {
	p := lv.point(b)
	f := lv.fold(b, b.AsOf, []string{events.ConventionScope})
	v := &view{fold: f, asOf: b.AsOf, conv: e.live.convention(lv, p, b.AsOf), stored: map[string]Status{}}
	convVersion := lv.version(events.ConventionScope, p.seq)
	names := want
	if names == nil {
		names = lv.stateNames()
	}
	for _, iso3 := range names {
		sc := lv.scopes[iso3]
		if want == nil && !sc.liveAt(p, b.AsOf) {
			continue
		}
		v.states = append(v.states, iso3)
		k := cachedStatusKey{iso3: iso3, version: lv.version(iso3, p.seq), convention: convVersion, asOf: b.AsOf, eif: v.conv.EntryIntoForce, thirtieth: v.conv.ThirtiethDeposit}
		st, ok := e.cache.get(k)
		if !ok {
			if sc != nil {
				f.scopes[iso3] = sc.factsAt(p, b.AsOf)
			}
			st = statusOf(f, v.conv, iso3, b.AsOf, e.opt)
			e.cache.put(k, st)
		}
		v.stored[iso3] = st
	}
	return v
}

// version is what a scope's view at seq depends on: the last event of the
// scope stored up to seq, or seq itself when the scope has later ones.
func (v *liveView) version(scope string, seq uint64) uint64 {
	sc, ok := v.scopes[scope]
	if !ok {
		return 0
	}
	return min(sc.state.Version, seq)
}

// statusCache keeps derived statuses by what they depend on: the State's
// facts (its scope's version at the known-at point), the Convention's
// entry into force and the as-of date. Reports as of the same point share
// them, and an event recomputes only its own State's.
type statusCache struct {
	mu      sync.Mutex
	m       map[cachedStatusKey]Status
	reports map[cachedReportKey]Report
	making  map[cachedReportKey]*reportCall
}

type cachedReportKey struct {
	asOf events.Date
	seq  uint64
}

type cachedStatusKey struct {
	iso3    string
	version uint64
	// convention is the Convention's version: its coverage events say
	// which statuses are unknown.
	convention           uint64
	asOf, eif, thirtieth events.Date
}

// maxCachedStatuses bounds the cache (a few KB each); a full cache is
// emptied, not evicted entry by entry: the working set is a few as-of dates.
const (
	maxCachedStatuses = 1 << 15
	maxCachedReports  = 256
)

func newStatusCache() *statusCache {
	return &statusCache{m: map[cachedStatusKey]Status{}, reports: map[cachedReportKey]Report{}, making: map[cachedReportKey]*reportCall{}}
}

// report returns the report kept under k, or makes it once: concurrent
// queries for the same report wait for the first instead of each deriving
// it.
func (c *statusCache) report(k cachedReportKey, derive func() Report) Report {
	c.mu.Lock()
	if r, ok := c.reports[k]; ok {
		c.mu.Unlock()
		return r
	}
	call, ok := c.making[k]
	if !ok {
		call = &reportCall{done: make(chan struct{})}
		c.making[k] = call
	}
	c.mu.Unlock()
	if ok {
		<-call.done
		if call.ok {
			return call.r
		}
		return derive() // the first failed: no report to share
	}
	defer func() {
		c.mu.Lock()
		delete(c.making, k)
		c.mu.Unlock()
		close(call.done)
	}()
	call.r = derive()
	call.ok = true
	c.mu.Lock()
	if len(c.reports) >= maxCachedReports {
		clear(c.reports)
	}
	c.reports[k] = call.r
	c.mu.Unlock()
	return call.r
}

type reportCall struct {
	done chan struct{}
	r    Report
	ok   bool
}

func (c *statusCache) get(k cachedStatusKey) (Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[k]
	return st, ok
}

func (c *statusCache) put(k cachedStatusKey, st Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedStatuses {
		clear(c.m)
	}
	c.m[k] = st
}

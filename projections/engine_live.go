package projections

import (
	"context"
	"sync"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// WithLive makes the engine answer from a live fold instead of reading the
// log and the snapshots: status, report, statuses, diff, meetings and the
// resolution of meeting codes. History and replay still read the log (they
// need each event's record as stored). l's Run must be running.
func WithLive(l *Live) EngineOption {
	return func(e *Engine) { e.live, e.cache = l, newStatusCache() }
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

// liveView is view from the live fold. With want set, only those States'
// facts are looked at (and every State's deposits, for the entry into
// force).
func (e *Engine) liveView(ctx context.Context, b Bounds, want []string) (*view, error) {
	lv, err := e.live.view(ctx)
	if err != nil {
		return nil, err
	}
	var f *Fold
	var conv aggregates.Convention
	if want == nil {
		f = lv.fold(b, b.AsOf, nil)
		conv = f.Convention(b.AsOf)
	} else {
		f = lv.fold(b, b.AsOf, append([]string{events.ConventionScope}, want...))
		conv = lv.convention(lv.point(b), b.AsOf)
	}
	v := &view{fold: f, asOf: b.AsOf, conv: conv, stored: map[string]Status{}}
	names := want
	if names == nil {
		names = f.Scopes()
	}
	for _, iso3 := range names {
		s := f.State(iso3)
		if want == nil && firstLive(s) == 0 {
			continue
		}
		v.states = append(v.states, iso3)
		v.stored[iso3] = e.cache.status(f, conv, iso3, lv.version(iso3, f.Seq), b.AsOf, e.opt)
	}
	return v, nil
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
	mu sync.Mutex
	m  map[cachedStatusKey]Status
}

type cachedStatusKey struct {
	iso3                 string
	version              uint64
	asOf, eif, thirtieth events.Date
}

// maxCachedStatuses bounds the cache (a few KB each); a full cache is
// emptied, not evicted entry by entry: the working set is a few as-of dates.
const maxCachedStatuses = 1 << 15

func newStatusCache() *statusCache { return &statusCache{m: map[cachedStatusKey]Status{}} }

func (c *statusCache) status(f *Fold, conv aggregates.Convention, iso3 string, version uint64, asOf events.Date, opt Options) Status {
	k := cachedStatusKey{iso3: iso3, version: version, asOf: asOf, eif: conv.EntryIntoForce, thirtieth: conv.ThirtiethDeposit}
	c.mu.Lock()
	st, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return st
	}
	st = statusOf(f, conv, iso3, asOf, opt)
	c.mu.Lock()
	if len(c.m) >= maxCachedStatuses {
		clear(c.m)
	}
	c.m[k] = st
	c.mu.Unlock()
	return st
}

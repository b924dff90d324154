package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// CountingStore is an aggregates.Store that counts what goes through it:
// the events appended and the appends refused by a concurrency conflict
// (each retry of the Ledger after a conflict counts once). It adds counters
// to the write side without changing it.
type CountingStore struct {
	aggregates.Store
	appended  atomic.Uint64
	conflicts atomic.Uint64
}

// CountStore wraps s.
func CountStore(s aggregates.Store) *CountingStore { return &CountingStore{Store: s} }

// Append stores the events and counts them, or counts the conflict.
func (c *CountingStore) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	seq, err := c.Store.Append(ctx, scope, expected, evs...)
	c.count(len(evs), err)
	return seq, err
}

// AppendChain stores the events in order and counts those stored.
func (c *CountingStore) AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(done int)) (int, uint64, error) {
	n, last, err := c.Store.AppendChain(ctx, after, evs, progress)
	c.appended.Add(uint64(n))
	if errors.Is(err, events.ErrConflict) {
		c.conflicts.Add(1)
	}
	return n, last, err
}

func (c *CountingStore) count(n int, err error) {
	switch {
	case err == nil:
		c.appended.Add(uint64(n))
	case errors.Is(err, events.ErrConflict):
		c.conflicts.Add(1)
	}
}

// Appended returns the number of events appended.
func (c *CountingStore) Appended() uint64 { return c.appended.Load() }

// Conflicts returns the number of appends refused by a concurrency conflict.
func (c *CountingStore) Conflicts() uint64 { return c.conflicts.Load() }

// metrics are the server's own counters.
type metrics struct {
	mu       sync.Mutex
	requests map[string]uint64 // "route|code"
	created  atomic.Uint64
	existing atomic.Uint64
	rejected atomic.Uint64
	invalid  atomic.Uint64
	// idConflicts counts events refused because their id names another.
	idConflicts atomic.Uint64
}

func (m *metrics) request(route string, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[string]uint64{}
	}
	m.requests[route+"|"+strconv.Itoa(code)]++
}

// promWriter writes the Prometheus text exposition format (version 0.0.4)
// by hand: the few counters and gauges here do not need a client library.
type promWriter struct {
	w    io.Writer
	seen map[string]bool
}

func (p *promWriter) metric(name, typ, help string, value float64, labels ...string) {
	if !p.seen[name] {
		p.seen[name] = true
		fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	var lb strings.Builder
	for i := 0; i+1 < len(labels); i += 2 {
		if lb.Len() > 0 {
			lb.WriteByte(',')
		}
		lb.WriteString(labels[i])
		lb.WriteString(`="`)
		lb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[i+1]))
		lb.WriteByte('"')
	}
	if lb.Len() > 0 {
		fmt.Fprintf(p.w, "%s{%s} %s\n", name, lb.String(), strconv.FormatFloat(value, 'g', -1, 64))
	} else {
		fmt.Fprintf(p.w, "%s %s\n", name, strconv.FormatFloat(value, 'g', -1, 64))
	}
}

// writeMetrics writes every metric: the log's head, the write side's
// counters, the projector's lag and counters, and the requests served.
func (s *Server) writeMetrics(ctx context.Context, w io.Writer) {
	p := &promWriter{w: w, seen: map[string]bool{}}
	head, headErr := s.cfg.Log.Head(ctx)
	up := 1.0
	if headErr != nil {
		up = 0
	}
	p.metric("ccm_up", "gauge", "Whether the ledger's log answered (1) or not (0).", up)
	if headErr == nil {
		p.metric("ccm_log_last_sequence", "gauge", "Stream sequence of the last event of the log.", float64(head.LastSeq))
		p.metric("ccm_log_events", "gauge", "Events in the log.", float64(head.Msgs))
	}
	if s.cfg.Quarantined != nil {
		p.metric("ccm_log_quarantined", "gauge", "Stored messages of the log that no view counts (ccm verify lists them).", float64(s.cfg.Quarantined()))
	}
	if st := s.cfg.Store; st != nil {
		p.metric("ccm_appends_total", "counter", "Events appended to the log by this server.", float64(st.Appended()))
		p.metric("ccm_append_conflicts_total", "counter", "Appends refused by a concurrency conflict (then retried by the ledger).", float64(st.Conflicts()))
	}
	p.metric("ccm_http_events_recorded_total", "counter", "Events posted to /v1/events, by outcome.", float64(s.m.created.Load()), "outcome", "created")
	p.metric("ccm_http_events_recorded_total", "counter", "", float64(s.m.existing.Load()), "outcome", "existing")
	p.metric("ccm_http_events_recorded_total", "counter", "", float64(s.m.rejected.Load()), "outcome", "rejected")
	p.metric("ccm_http_events_recorded_total", "counter", "", float64(s.m.invalid.Load()), "outcome", "invalid")
	p.metric("ccm_http_events_recorded_total", "counter", "", float64(s.m.idConflicts.Load()), "outcome", "id-conflict")
	if s.cfg.ViewsSeq != nil {
		seq := s.cfg.ViewsSeq()
		p.metric("ccm_views_sequence", "gauge", "Last log sequence the fold the views answer from has read.", float64(seq))
		if headErr == nil {
			p.metric("ccm_views_lag_events", "gauge", "Messages stored that the views' fold has not read yet.", float64(head.LastSeq-min(seq, head.LastSeq)))
		}
	}
	if s.cfg.Projector != nil {
		ps := s.cfg.Projector()
		running := 0.0
		if ps.Running {
			running = 1
		}
		p.metric("ccm_projector_running", "gauge", "Whether the projector has caught up and follows the log.", running)
		p.metric("ccm_projector_sequence", "gauge", "Last log sequence the projector folded.", float64(ps.Seq))
		if headErr == nil {
			lag, lagSec := projectorLag(head.LastSeq, head.LastTime, ps)
			p.metric("ccm_projector_lag_events", "gauge", "Events recorded that the projector has not folded yet.", float64(lag))
			p.metric("ccm_projector_lag_seconds", "gauge", "Record time of the last event of the log minus that of the last event the projector folded (0 when caught up).", lagSec)
		}
		p.metric("ccm_projector_clock_date_seconds", "gauge", "The projector's clock date (midnight UTC, Unix seconds): transitions dated up to it are published.", float64(ps.Clock.Time().Unix()))
		kinds := make([]string, 0, len(ps.Published))
		for k := range ps.Published {
			kinds = append(kinds, string(k))
		}
		sort.Strings(kinds)
		if len(kinds) == 0 {
			p.metric("ccm_compliance_published_total", "counter", "Derived compliance events published by this server's projector, by kind.", 0, "kind", "entered-into-force")
		}
		for _, k := range kinds {
			p.metric("ccm_compliance_published_total", "counter", "Derived compliance events published by this server's projector, by kind.", float64(ps.Published[compliance.Kind(k)]), "kind", k)
		}
		p.metric("ccm_compliance_corrections_total", "counter", "Published compliance events marked as corrections.", float64(ps.Corrections))
		p.metric("ccm_compliance_revocations_total", "counter", "Published revocations of earlier compliance events.", float64(ps.Revocations))
		p.metric("ccm_compliance_publish_conflicts_total", "counter", "Publishes refused because another projector published first (then re-planned).", float64(ps.Conflicts))
	}
	s.m.mu.Lock()
	keys := make([]string, 0, len(s.m.requests))
	for k := range s.m.requests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		route, code, _ := strings.Cut(k, "|")
		p.metric("ccm_http_requests_total", "counter", "HTTP requests served, by route and status code.", float64(s.m.requests[k]), "route", route, "code", code)
	}
	s.m.mu.Unlock()
}

// projectorLag returns how far the projector is behind the log: in events,
// and in seconds of record time.
func projectorLag(headSeq uint64, headTime time.Time, ps projector.Stats) (uint64, float64) {
	if headSeq <= ps.Seq {
		return 0, 0
	}
	if ps.Recorded.IsZero() || headTime.Before(ps.Recorded) {
		return headSeq - ps.Seq, 0
	}
	return headSeq - ps.Seq, headTime.Sub(ps.Recorded).Seconds()
}

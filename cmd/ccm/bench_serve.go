package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// serveScenario measures what `ccm serve` answers from: the live fold's
// start-up and memory, then HTTP queries under concurrency (p50 and p99),
// against the engine that reads the log and the snapshots, in the same run.
func (b *bencher) serveScenario(ctx context.Context, jsonl []byte, n, clients, perClient int) ([]benchResult, error) {
	l, _, stop, err := b.loaded(ctx, jsonl)
	if err != nil {
		return nil, err
	}
	defer stop()
	code := synth.MeetingCode(2016)
	old, err := b.readingEngine(ctx, l)
	if err != nil {
		return nil, err
	}
	base, err := b.oneClient(ctx, old, code)
	if err != nil {
		return nil, err
	}

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The fold's memory is what a second one adds to the heap: the
	// first warms the server's caches of the log as a server's start does.
	var live *projections.Live
	var ready time.Duration
	var heaps []uint64
	for range 2 {
		heaps = append(heaps, heapInUse())
		t0 := time.Now()
		live = projections.NewLive(logsource.New(l))
		go func() { _ = live.Run(lctx) }()
		if err := live.Sync(ctx); err != nil {
			return nil, err
		}
		ready = time.Since(t0)
	}
	heap := heapInUse() - heaps[1]
	startup := benchResult{Name: "serve: live fold start-up", Events: n, Baseline: "–",
		Value: fmt.Sprintf("%.2f s, %.0f MB (%.0f B/event)", ready.Seconds(), float64(heap)/1e6, float64(heap)/float64(n)),
		Aim:   "≤ 3 s, ≤ 600 MB", Met: ready <= 3*time.Second && heap <= 600e6,
		Figures: map[string]float64{"ready_s": ready.Seconds(), "heap_bytes": float64(heap)}}

	url, closeHTTP, err := serveQueries(l, live)
	if err != nil {
		return nil, err
	}
	defer closeHTTP()
	rs := []benchResult{startup}
	for i, q := range serveQueriesToTime(code) {
		var lat latencies
		_, err := b.timed(fmt.Sprintf("serve-%d", i), 0, func() (err error) {
			lat, err = loadHTTP(ctx, url, q.paths, clients, perClient)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		r := benchResult{Name: "serve: " + q.name, Events: n, Baseline: q.baseline, Aim: q.aim,
			Figures: map[string]float64{"p50_ms": lat.p50, "p99_ms": lat.p99, "requests_per_s": lat.rate}}
		r.Value = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, %.0f req/s (%d clients)", lat.p50, lat.p99, lat.rate, clients)
		r.Met = q.met(lat)
		if ms, ok := base[q.name]; ok {
			r.BaseValue = fmt.Sprintf("%.1f ms", ms)
			r.Ratio = ms / lat.p50
			r.Figures["baseline_ms"] = ms
		}
		rs = append(rs, r)
	}
	today, meeting := rs[1].Figures["p50_ms"], rs[2].Figures["p50_ms"]
	rs[1].Note = fmt.Sprintf("report as of today / as of %s (p50): %.2f (aim ≤ 2)", code, today/meeting)
	rs[1].Met = rs[1].Met && today <= 2*meeting
	return rs, nil
}

// targetScenario runs the HTTP rows of the serve scenario against a
// running server (`ccm serve`) at base: what its clients see.
func targetScenario(ctx context.Context, base string, n, clients, perClient int) ([]benchResult, error) {
	code := synth.MeetingCode(2016)
	var rs []benchResult
	for _, q := range serveQueriesToTime(code) {
		lat, err := loadHTTP(ctx, base, q.paths, clients, perClient)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		rs = append(rs, benchResult{Name: "ccm serve at " + base + ": " + q.name, Events: n, Baseline: "–", Aim: q.aim, Met: q.met(lat),
			Value:   fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, %.0f req/s (%d clients)", lat.p50, lat.p99, lat.rate, clients),
			Figures: map[string]float64{"p50_ms": lat.p50, "p99_ms": lat.p99, "requests_per_s": lat.rate}})
	}
	return rs, nil
}

// readingEngine is the query side without a live fold: the log and
// current meeting snapshots.
func (b *bencher) readingEngine(ctx context.Context, l *jslog.Log) (*projections.Engine, error) {
	snaps, err := jslog.CreateSnapshots(ctx, l)
	if err != nil {
		return nil, err
	}
	eng := projections.NewEngine(logsource.New(l), snaps, projections.Options{})
	_, err = eng.RefreshSnapshots(ctx)
	return eng, err
}

// oneClient times, one at a time, the baseline of each query: the reading
// engine's report as of today and as of the meeting, and a status.
func (b *bencher) oneClient(ctx context.Context, eng *projections.Engine, code string) (map[string]float64, error) {
	today := events.DateOf(b.clock()())
	out := map[string]float64{}
	for _, q := range []struct {
		name, asOf string
		state      string
	}{{"report as of today", "", ""}, {"report as of " + code, code, ""}, {"status of SWE as of today", "", "SWE"}} {
		bd, err := eng.Resolve(ctx, q.asOf, "", today)
		if err != nil {
			return nil, err
		}
		var lat []float64
		for range max(b.runs, 1) {
			t0 := time.Now()
			if q.state != "" {
				_, err = eng.Status(ctx, q.state, bd)
			} else {
				_, err = eng.Report(ctx, bd)
			}
			if err != nil {
				return nil, err
			}
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		out[q.name] = median(lat)
	}
	return out, nil
}

// timedQuery is one row of the HTTP table: the paths its clients cycle
// through and its aim.
type timedQuery struct {
	name, baseline, aim string
	paths               []string
	met                 func(latencies) bool
}

func serveQueriesToTime(code string) []timedQuery {
	p50p99 := func(p50, p99 float64) func(latencies) bool {
		return func(l latencies) bool { return l.p50 <= p50 && l.p99 <= p99 }
	}
	reading := "the engine reading the log and snapshots, one client"
	rng := rand.New(rand.NewPCG(42, 1))
	var anyDate []string
	for range 64 {
		d := events.MakeDate(2009+rng.IntN(17), time.Month(1+rng.IntN(12)), 1+rng.IntN(28))
		anyDate = append(anyDate, "/v1/report?as_of="+d.String())
	}
	return []timedQuery{
		{name: "report as of today", baseline: reading, aim: "p50 ≤ 20 ms, p99 ≤ 100 ms", paths: []string{"/v1/report"}, met: p50p99(20, 100)},
		{name: "report as of " + code, baseline: reading, aim: "–", paths: []string{"/v1/report?as_of=" + code}, met: func(latencies) bool { return true }},
		{name: "status of SWE as of today", baseline: reading, aim: "p50 ≤ 5 ms", paths: []string{"/v1/states/SWE"}, met: p50p99(5, 1e9)},
		{name: "report as of 64 dates in turn", baseline: "–", aim: "–", paths: anyDate, met: func(latencies) bool { return true }},
		{name: "status of 200 States in turn, known at a past sequence", baseline: "–", aim: "–", paths: statusPaths(), met: func(latencies) bool { return true }},
	}
}

func statusPaths() []string {
	var out []string
	for i, c := range events.States() {
		out = append(out, fmt.Sprintf("/v1/states/%s?known_at=%d", c.ISO3, 1000+i*997))
	}
	return out
}

// serveQueries serves the HTTP API's reads from the live fold on a
// loopback port.
func serveQueries(l *jslog.Log, live *projections.Live) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	api := httpapi.New(httpapi.Config{
		Querier: func(o projections.Options) httpapi.Querier {
			return projections.NewEngine(logsource.New(l), nil, o, projections.WithLive(live))
		},
		Log:    l,
		Access: httpapi.Access{Addr: ln.Addr().String(), ReadOnly: true},
	})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

type latencies struct{ p50, p99, rate float64 }

// loadHTTP runs clients concurrent clients, each sending perClient GETs
// (cycling through paths) one after the other, and returns the latencies.
func loadHTTP(ctx context.Context, base string, paths []string, clients, perClient int) (latencies, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	var (
		mu   sync.Mutex
		all  []float64
		errs []error
		wg   sync.WaitGroup
	)
	t0 := time.Now()
	for c := range clients {
		wg.Go(func() {
			lat, err := oneHTTPClient(ctx, hc, base, paths, c, perClient)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return latencies{}, err
	}
	sort.Float64s(all)
	return latencies{p50: percentile(all, 0.50), p99: percentile(all, 0.99), rate: float64(len(all)) / elapsed.Seconds()}, nil
}

func oneHTTPClient(ctx context.Context, hc *http.Client, base string, paths []string, c, n int) ([]float64, error) {
	lat := make([]float64, 0, n)
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[(c+i)%len(paths)], nil)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
	}
	return lat, nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// heapInUse is the heap the process holds after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// bench measures the ledger against the raw JetStream baseline, in the
// same run, on the same kind of embedded server (file storage, in-process
// connection): every figure is reported with the ratio to its baseline.
func (m *Main) bench(ctx context.Context, args []string) error {
	fs := m.flagSet("bench", "")
	n := fs.Int("events", 100_000, "events of the bulk scenarios (import, rebuild, report)")
	appends := fs.Int("appends", 20_000, "events of the single-append scenario")
	runs := fs.Int("runs", 3, "runs of each scenario; the median is reported")
	queries := fs.Int("queries", 50, "report queries timed per run in the report scenario")
	profile := fs.String("cpuprofile", "", "directory to write one CPU profile per ledger scenario")
	only := fs.String("only", "", "comma-separated scenarios to run (append, durable, import, rebuild, report, evidence, serve, postgres); default all but evidence, serve and postgres")
	evidenceEvents := fs.Int("evidence-events", 1_000_000, "events of the log the evidence scenario checks (notary.Check) and proves from")
	synthOut := fs.String("write-events", "", "write the --events synthetic events the scenarios use to this JSON Lines file (for ccm import) and stop")
	target := fs.String("target", "", "with --only serve: time the HTTP queries against this running ccm serve (http://127.0.0.1:8080) instead of one the scenario starts")
	clients := fs.Int("clients", 32, "concurrent HTTP clients of the serve scenario")
	perClient := fs.Int("requests", 50, "requests each client of the serve scenario sends per query")
	evidenceRuns := fs.Int("evidence-runs", 1, "runs of the evidence scenario's check of its big log (the median is reported); its import runs --runs times")
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	b := &bencher{m: m, runs: *runs, evidenceRuns: *evidenceRuns, profileDir: *profile}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.Stderr, "ccm bench: generating %d synthetic events\n", max(*n, *appends))
	all := synth.Generate(max(*n, *appends), 42)
	var jsonl bytes.Buffer
	if err := events.WriteAll(&jsonl, all[:*n]); err != nil {
		return err
	}
	if *synthOut != "" {
		return os.WriteFile(*synthOut, jsonl.Bytes(), 0o644)
	}
	one := func(f func(context.Context) (benchResult, error)) func(context.Context) ([]benchResult, error) {
		return func(ctx context.Context) ([]benchResult, error) {
			r, err := f(ctx)
			return []benchResult{r}, err
		}
	}
	scenarios := []struct {
		name string
		run  func(context.Context) ([]benchResult, error)
		// optIn scenarios run only when --only names them.
		optIn bool
	}{
		{name: "append", run: one(func(ctx context.Context) (benchResult, error) { return b.appendScenario(ctx, all[:*appends]) })},
		{name: "durable", run: one(func(ctx context.Context) (benchResult, error) {
			return b.durableAppendScenario(ctx, all[:min(*appends, 5000)])
		})},
		{name: "import", run: one(func(ctx context.Context) (benchResult, error) { return b.importScenario(ctx, all[:*n], jsonl.Bytes()) })},
		{name: "rebuild", run: one(func(ctx context.Context) (benchResult, error) { return b.rebuildScenario(ctx, jsonl.Bytes(), *n) })},
		{name: "report", run: one(func(ctx context.Context) (benchResult, error) {
			return b.reportScenario(ctx, jsonl.Bytes(), *n, *queries)
		})},
		{name: "serve", optIn: true, run: func(ctx context.Context) ([]benchResult, error) {
			if *target != "" {
				return targetScenario(ctx, strings.TrimSuffix(*target, "/"), *n, *clients, *perClient)
			}
			return b.serveScenario(ctx, jsonl.Bytes(), *n, *clients, *perClient)
		}},
		{name: "evidence", optIn: true, run: func(ctx context.Context) ([]benchResult, error) {
			return b.evidenceScenario(ctx, all, *n, *appends, jsonl.Bytes(), *evidenceEvents)
		}},
		{name: "postgres", optIn: true, run: func(ctx context.Context) ([]benchResult, error) {
			return b.postgresScenario(ctx, all, *n, *appends, jsonl.Bytes())
		}},
	}
	chosen := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			chosen[name] = true
		}
	}
	var results []benchResult
	for _, sc := range scenarios {
		if (len(chosen) > 0 || sc.optIn) && !chosen[sc.name] {
			continue
		}
		rs, err := sc.run(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			fmt.Fprintf(m.Stderr, "ccm bench: %s done\n", r.Name)
		}
		results = append(results, rs...)
	}
	if format.value == "json" {
		return writeJSON(m.Stdout, map[string]any{"machine": machineText(), "runs": *runs, "results": results})
	}
	writeBenchText(m.Stdout, results, *runs)
	return nil
}

// benchResult is one scenario: the baseline's and the ledger's median rate
// (or latency), and their ratio.
type benchResult struct {
	Name     string    `json:"name"`
	Events   int       `json:"events"`
	Baseline string    `json:"baseline"`
	BaseRate float64   `json:"baseline_events_per_s,omitempty"`
	Rate     float64   `json:"ledger_events_per_s,omitempty"`
	Ratio    float64   `json:"ratio"`
	Aim      string    `json:"aim"`
	Met      bool      `json:"met"`
	BaseRuns []float64 `json:"baseline_runs"`
	Runs     []float64 `json:"ledger_runs"`
	// Latency scenarios (report) give milliseconds instead of rates.
	BaseMillis float64 `json:"baseline_ms,omitempty"`
	Millis     float64 `json:"ledger_ms,omitempty"`
	Note       string  `json:"note,omitempty"`
	// Figure scenarios (evidence) give their measures as text for the
	// table, and every figure by name.
	BaseValue string             `json:"-"`
	Value     string             `json:"-"`
	Figures   map[string]float64 `json:"figures,omitempty"`
}

type bencher struct {
	m          *Main
	runs       int
	profileDir string
	// evidenceRuns are the runs of the evidence scenario's check.
	evidenceRuns int
	// syncAlways makes the servers fsync every write before its
	// acknowledgement (the durability scenario).
	syncAlways bool
}

// server starts a fresh embedded server with file storage in a temporary
// directory, and returns an in-process connection and a cleanup.
func (b *bencher) server() (*embedded.Server, *nats.Conn, func(), error) {
	dir, err := os.MkdirTemp("", "ccm-bench-")
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true, SyncAlways: b.syncAlways})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	nc, err := srv.Connect("bench", false)
	if err != nil {
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	return srv, nc, func() { nc.Close(); srv.Stop(); os.RemoveAll(dir) }, nil
}

// rawStream starts a fresh server with the ledger's stream, for the
// baseline, and returns a JetStream context on it.
func (b *bencher) rawStream(ctx context.Context, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, func(), error) {
	_, nc, stop, err := b.server()
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, opts...)
	if err == nil {
		_, err = js.CreateStream(ctx, jslog.StreamConfig(jslog.Config{}))
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return js, stop, nil
}

// ledger starts a fresh server and returns a Ledger on its empty log.
func (b *bencher) ledger(ctx context.Context) (*aggregates.Ledger, func(), error) {
	_, nc, stop, err := b.server()
	if err != nil {
		return nil, nil, err
	}
	l, err := jslog.Create(ctx, nc, jslog.Config{})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return aggregates.NewLedger(l, b.clock()), stop, nil
}

// timed runs f, with a CPU profile when asked, and returns its duration.
func (b *bencher) timed(name string, run int, f func() error) (time.Duration, error) {
	runtime.GC()
	if b.profileDir != "" && run == 0 {
		pf, err := os.Create(filepath.Join(b.profileDir, name+".pprof"))
		if err != nil {
			return 0, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func (b *bencher) finish(r benchResult, aim float64) benchResult {
	if len(r.BaseRuns) > 0 {
		r.BaseRate, r.Rate = median(r.BaseRuns), median(r.Runs)
		r.Ratio = r.Rate / r.BaseRate
		r.Met = r.Ratio >= aim
		r.Aim = fmt.Sprintf("≥ %.1f", aim)
	}
	return r
}

// rawMsg is the message the ledger stores for e, with the id header.
func rawMsg(e events.Envelope) *nats.Msg {
	m := nats.NewMsg(e.Subject())
	m.Data = e.StoredJSON()
	m.Header.Set(jetstream.MsgIDHeader, e.ID.String())
	return m
}

func (b *bencher) clock() func() time.Time {
	return func() time.Time { return synth.End.Time().Add(24 * time.Hour) }
}

// appendScenario: one validated append at a time (aggregate decision, then a
// synchronous publish with the per-State concurrency check) against raw
// synchronous publishes carrying the same per-State concurrency header.
func (b *bencher) appendScenario(ctx context.Context, evs []events.Envelope) (benchResult, error) {
	r := benchResult{Name: "single validated append", Events: len(evs), Baseline: "sync publish + expected-last-subject-sequence on ccm.events.<ISO3>.>"}
	msgs := make([]*nats.Msg, len(evs))
	for i, e := range evs {
		msgs[i] = rawMsg(e)
	}
	for run := 0; run < b.runs; run++ {
		js, stop, err := b.rawStream(ctx)
		if err != nil {
			return r, err
		}
		last := map[string]uint64{}
		d, err := b.timed("append-raw", run, func() error {
			for i, e := range evs {
				m := msgs[i]
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last[e.Scope()], 10))
				m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.ScopeFilter(e.Scope()))
				ack, err := js.PublishMsg(ctx, m)
				if err != nil {
					return err
				}
				last[e.Scope()] = ack.Sequence
			}
			return nil
		})
		stop()
		if err != nil {
			return r, fmt.Errorf("raw sync publish: %w", err)
		}
		r.BaseRuns = append(r.BaseRuns, rate(len(evs), d))
		led, stop, err := b.ledger(ctx)
		if err != nil {
			return r, err
		}
		d, err = b.timed("append-ledger", run, func() error { return recordEach(ctx, led, evs) })
		stop()
		if err != nil {
			return r, fmt.Errorf("ledger append: %w", err)
		}
		r.Runs = append(r.Runs, rate(len(evs), d))
	}
	return b.finish(r, 0.8), nil
}

// durableAppendScenario: the single validated append on servers that fsync
// every write before acknowledging it (ccm serve --sync-always), against
// the raw publish on such a server. The note gives the cost against the
// default of flushing to the operating system only.
func (b *bencher) durableAppendScenario(ctx context.Context, evs []events.Envelope) (benchResult, error) {
	b.syncAlways = true
	r, err := b.appendScenario(ctx, evs)
	b.syncAlways = false
	if err != nil {
		return r, err
	}
	r.Name = "single validated append, fsync before ack"
	r.Baseline += ", fsync before ack"
	fast, err := b.appendScenario(ctx, evs)
	if err != nil {
		return r, err
	}
	r.Note = fmt.Sprintf("%.0f events/s without fsync in the same run: fsync costs %.0f%% of the append rate", fast.Rate, 100*(1-r.Rate/fast.Rate))
	return r, nil
}

// importScenario: a whole JSON Lines input read, validated against the
// rules and appended as one chain, against raw asynchronous publishes of the
// same pre-encoded messages (window 256).
func (b *bencher) importScenario(ctx context.Context, evs []events.Envelope, jsonl []byte) (benchResult, error) {
	r := benchResult{Name: "bulk import", Events: len(evs), Baseline: "async publish, window 256, pre-encoded"}
	msgs := make([]*nats.Msg, len(evs))
	for i, e := range evs {
		msgs[i] = rawMsg(e)
	}
	for run := 0; run < b.runs; run++ {
		d, err := b.rawImport(ctx, "import-raw", run, msgs)
		if err != nil {
			return r, err
		}
		r.BaseRuns = append(r.BaseRuns, rate(len(evs), d))
		led, stop, err := b.ledger(ctx)
		if err != nil {
			return r, err
		}
		d, err = b.timed("import-ledger", run, func() error { return ledgerImport(ctx, led, jsonl) })
		stop()
		if err != nil {
			return r, fmt.Errorf("ledger import: %w", err)
		}
		r.Runs = append(r.Runs, rate(len(evs), d))
	}
	return b.finish(r, 0.7), nil
}

// rawImport times the import's baseline on a fresh server: asynchronous
// publishes of the pre-encoded messages, window 256, until all are
// acknowledged.
func (b *bencher) rawImport(ctx context.Context, name string, run int, msgs []*nats.Msg) (time.Duration, error) {
	js, stop, err := b.rawStream(ctx, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return 0, err
	}
	defer stop()
	d, err := b.timed(name, run, func() error {
		for _, m := range msgs {
			if _, err := js.PublishMsgAsync(m); err != nil {
				return err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
			return nil
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("async publishes not acknowledged")
		}
	})
	if err != nil {
		return 0, fmt.Errorf("raw async publish: %w", err)
	}
	return d, nil
}

// ledgerImport is the timed part of the ledger's import: the JSON Lines
// read, validated and appended as one chain.
func ledgerImport(ctx context.Context, led *aggregates.Ledger, jsonl []byte) error {
	in, _, err := events.ReadLines(bytes.NewReader(jsonl))
	if err != nil {
		return err
	}
	res, err := led.Import(ctx, in, nil)
	if err == nil && res.Appended != len(in) {
		err = fmt.Errorf("recorded %d of %d", res.Appended, len(in))
	}
	return err
}

// recordEach records the events one command at a time.
func recordEach(ctx context.Context, led *aggregates.Ledger, evs []events.Envelope) error {
	for _, e := range evs {
		if _, err := led.Record(ctx, e); err != nil {
			return fmt.Errorf("%s %s %s: %w", e.Type, e.Scope(), e.Date, err)
		}
	}
	return nil
}

// loadPart bounds one import of loaded, under the limit of one input
// (events.MaxInputBytes).
const loadPart = 64 << 20

// linesInParts cuts JSON Lines into parts of about size bytes, at line ends.
func linesInParts(jsonl []byte, size int) [][]byte {
	var out [][]byte
	for len(jsonl) > size {
		cut := bytes.LastIndexByte(jsonl[:size], '\n') + 1
		if cut == 0 {
			break
		}
		out = append(out, jsonl[:cut])
		jsonl = jsonl[cut:]
	}
	return append(out, jsonl)
}

// loaded starts a server holding the input, imported through the ledger.
func (b *bencher) loaded(ctx context.Context, jsonl []byte) (*jslog.Log, *nats.Conn, func(), error) {
	_, nc, stop, err := b.server()
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := jslog.Create(ctx, nc, jslog.Config{})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	led := aggregates.NewLedger(l, b.clock())
	for _, part := range linesInParts(jsonl, loadPart) {
		if err := ledgerImport(ctx, led, part); err != nil {
			stop()
			return nil, nil, nil, err
		}
	}
	return l, nc, stop, nil
}

// rebuildScenario: a full rebuild of the views' fold from the log, against
// a raw ordered-consumer read of every message.
func (b *bencher) rebuildScenario(ctx context.Context, jsonl []byte, n int) (benchResult, error) {
	r := benchResult{Name: "full rebuild", Events: n, Baseline: "ordered consumer read of every message, no decoding"}
	l, nc, stop, err := b.loaded(ctx, jsonl)
	if err != nil {
		return r, err
	}
	defer stop()
	js, _ := jetstream.New(nc)
	far := events.MustDate("9999-12-31")
	for run := 0; run < b.runs; run++ {
		d, err := b.timed("rebuild-raw", run, func() error {
			c, err := js.OrderedConsumer(ctx, jslog.DefaultStream, jetstream.OrderedConsumerConfig{})
			if err != nil {
				return err
			}
			it, err := c.Messages(jetstream.PullMaxMessages(2048))
			if err != nil {
				return err
			}
			defer it.Stop()
			for got := 0; got < n; got++ {
				if _, err := it.Next(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("raw ordered read: %w", err)
		}
		r.BaseRuns = append(r.BaseRuns, rate(n, d))
		eng := projections.NewEngine(logsource.New(l), nil, projections.Options{})
		var f *projections.Fold
		d, err = b.timed("rebuild-ledger", run, func() error {
			f, err = eng.Fold(ctx, projections.Bounds{AsOf: far})
			return err
		})
		if err != nil {
			return r, fmt.Errorf("ledger rebuild: %w", err)
		}
		if f.Events != n {
			return r, fmt.Errorf("rebuild folded %d events, want %d", f.Events, n)
		}
		r.Runs = append(r.Runs, rate(n, d))
	}
	return b.finish(r, 0.7), nil
}

// reportScenario: the Convention-wide tables as of a meeting, once a
// snapshot exists, against the same query by a full fold of the log.
func (b *bencher) reportScenario(ctx context.Context, jsonl []byte, n, queries int) (benchResult, error) {
	code := synth.MeetingCode(2016)
	r := benchResult{Name: "report as of a meeting (" + code + ")", Events: n, Baseline: "the same report by a full fold of the log"}
	l, _, stop, err := b.loaded(ctx, jsonl)
	if err != nil {
		return r, err
	}
	defer stop()
	snaps, err := jslog.CreateSnapshots(ctx, l)
	if err != nil {
		return r, err
	}
	withSnap := projections.NewEngine(logsource.New(l), snaps, projections.Options{})
	if _, err := withSnap.RefreshSnapshots(ctx); err != nil {
		return r, err
	}
	noSnap := projections.NewEngine(logsource.New(l), nil, projections.Options{})
	bounds, err := withSnap.Resolve(ctx, code, "", events.DateOf(b.clock()()))
	if err != nil {
		return r, err
	}
	var full, snap []float64
	for run := 0; run < b.runs; run++ {
		var want, got projections.Report
		d, err := b.timed("report-full-fold", run, func() error {
			want, err = noSnap.Report(ctx, bounds)
			return err
		})
		if err != nil {
			return r, err
		}
		full = append(full, float64(d.Microseconds())/1000)
		var lat []float64
		d, err = b.timed("report-snapshot", run, func() error {
			for q := 0; q < queries; q++ {
				t0 := time.Now()
				if got, err = withSnap.Report(ctx, bounds); err != nil {
					return err
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			return nil
		})
		if err != nil {
			return r, err
		}
		snap = append(snap, median(lat))
		if len(got.StatesParties) != len(want.StatesParties) || len(got.Article7.AnnualDue) != len(want.Article7.AnnualDue) {
			return r, fmt.Errorf("the snapshot report differs from the full fold")
		}
	}
	r.BaseRuns, r.Runs = full, snap
	r.BaseMillis, r.Millis = median(full), median(snap)
	r.Ratio = r.BaseMillis / r.Millis
	r.Aim = "< 50 ms"
	r.Met = r.Millis < 50
	r.Note = fmt.Sprintf("median of %d queries per run; ratio = full fold time / snapshot time", queries)
	return r, nil
}

func machineText() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}

func writeBenchText(w io.Writer, rs []benchResult, runs int) {
	fmt.Fprintf(w, "ccm bench — %s; embedded nats-server, file storage, in-process connection; median of %d runs\n\n", machineText(), runs)
	fmt.Fprintln(w, "| scenario | events | baseline | baseline | ledger | ratio | aim | met |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---|---|")
	for _, r := range rs {
		met := "yes"
		if !r.Met {
			met = "no"
		}
		if r.Value != "" {
			ratio := "–"
			if r.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", r.Ratio)
			}
			base := r.BaseValue
			if base == "" {
				base = "–"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Name, r.Events, r.Baseline, base, r.Value, ratio, r.Aim, met)
			continue
		}
		if r.BaseMillis > 0 {
			fmt.Fprintf(w, "| %s | %d | %s | %.1f ms | %.2f ms | %.0f× faster | %s | %s |\n", r.Name, r.Events, r.Baseline, r.BaseMillis, r.Millis, r.Ratio, r.Aim, met)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.0f ev/s | %.0f ev/s | %.2f | %s | %s |\n", r.Name, r.Events, r.Baseline, r.BaseRate, r.Rate, r.Ratio, r.Aim, met)
	}
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "\n%s: %s", r.Name, r.Note)
		}
	}
	fmt.Fprintln(w)
}

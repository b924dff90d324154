package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// The postgres scenario sets the ledger beside the plain alternative: an
// append-only PostgreSQL table of the same events (jsonb payload, an index
// on (state, date), the server's default configuration, so fsync on), on a
// cluster the benchmark starts itself on a loopback port. Each row times
// both sides in the same run on the same synthetic events. PostgreSQL's
// side validates nothing and derives nothing: its reads return the rows,
// and the status or the report is left to whoever reads them.

const pgTable = `CREATE TABLE events (
	id      uuid NOT NULL,
	type    text NOT NULL,
	state   text NOT NULL,
	date    date NOT NULL,
	payload jsonb,
	source  text NOT NULL
)`

const pgIndex = `CREATE INDEX events_state_date ON events (state, date)`

const pgCopy = `COPY events (id, type, state, date, payload, source) FROM STDIN`

const pgInsert = `INSERT INTO events (id, type, state, date, payload, source) VALUES ($1, $2, $3, $4, $5, $6)`

// pgStatusQueries is how many (State, date) pairs the one-State row asks
// per run.
const pgStatusQueries = 200

func (b *bencher) postgresScenario(ctx context.Context, all []events.Envelope, n, appends int, jsonl []byte) (rs []benchResult, err error) {
	evs := all[:n]
	rows, err := copyRows(jsonl)
	if err != nil {
		return nil, err
	}
	pg, err := startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	defer pg.stop()
	conn, err := pg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return nil, err
	}
	if i := bytes.IndexByte([]byte(version), ' '); i > 0 {
		version = version[:i]
	}
	pgName := "PostgreSQL " + version
	fmt.Fprintf(b.m.Stderr, "ccm bench: %s started on 127.0.0.1:%d (%s)\n", pgName, pg.port, pg.bin)

	// Single appends first: the table the bulk load leaves behind is the
	// one the queries read.
	durable := all[:min(appends, 5000)]
	r, err := b.pgAppends(ctx, conn, durable, true)
	if err != nil {
		return nil, err
	}
	r.Baseline = pgName + ": INSERT, one row per transaction, default fsync (synchronous_commit on)"
	rs = append(rs, r)
	r, err = b.pgAppends(ctx, conn, all[:appends], false)
	if err != nil {
		return nil, err
	}
	r.Baseline = pgName + ": INSERT, one row per transaction, synchronous_commit off"
	rs = append(rs, r)

	r, err = b.pgImport(ctx, conn, evs, rows, jsonl)
	if err != nil {
		return nil, err
	}
	r.Baseline = pgName + ": COPY FROM STDIN (text) into the indexed table, one transaction"
	rs = append(rs, r)

	if _, err := conn.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		return nil, err
	}
	qs, err := b.pgQueries(ctx, pg, conn, evs, jsonl, pgName)
	if err != nil {
		return nil, err
	}
	return append(rs, qs...), nil
}

// pgReset drops and recreates the table and its index, and checkpoints,
// so that each run starts alike.
func pgReset(ctx context.Context, conn *pgx.Conn) error {
	for _, q := range []string{"DROP TABLE IF EXISTS events", pgTable, pgIndex, "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// pgAppends: one INSERT per transaction against one validated append at a
// time (ccm's Record, as in the append scenario). With durable, both sides
// flush to disk before answering: PostgreSQL's default commit, and servers
// that fsync every write before the acknowledgement (ccm serve
// --sync-always); without, PostgreSQL's commits do not wait for the flush
// (synchronous_commit off) and ccm's server writes to the operating system
// only, its default.
func (b *bencher) pgAppends(ctx context.Context, conn *pgx.Conn, evs []events.Envelope, durable bool) (benchResult, error) {
	r := benchResult{Name: "vs PostgreSQL: single appends, flushed to disk", Events: len(evs)}
	mode := "on"
	if !durable {
		r.Name = "vs PostgreSQL: single appends, not waiting for the disk"
		mode = "off"
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = "+mode); err != nil {
		return r, err
	}
	defer conn.Exec(context.Background(), "RESET synchronous_commit")
	type row struct {
		id, typ, state, date, source string
		payload                      []byte
	}
	args := make([]row, len(evs))
	for i, e := range evs {
		args[i] = row{e.ID.String(), string(e.Type), e.Scope(), e.Date.String(), e.Source, e.Data()}
	}
	for run := 0; run < b.runs; run++ {
		if err := pgReset(ctx, conn); err != nil {
			return r, err
		}
		if _, err := conn.Prepare(ctx, "insert", pgInsert); err != nil {
			return r, err
		}
		d, err := b.timed("postgres-insert", run, func() error {
			for _, a := range args {
				var payload any
				if a.payload != nil {
					payload = a.payload
				}
				if _, err := conn.Exec(ctx, "insert", a.id, a.typ, a.state, a.date, payload, a.source); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("postgres insert: %w", err)
		}
		r.BaseRuns = append(r.BaseRuns, rate(len(evs), d))

		b.syncAlways = durable
		led, stop, err := b.ledger(ctx)
		b.syncAlways = false
		if err != nil {
			return r, err
		}
		d, err = b.timed("postgres-ccm-append", run, func() error { return recordEach(ctx, led, evs) })
		stop()
		if err != nil {
			return r, fmt.Errorf("ledger append: %w", err)
		}
		r.Runs = append(r.Runs, rate(len(evs), d))
	}
	if err := pgCount(ctx, conn, len(evs)); err != nil {
		return r, err
	}
	return rateRow(r), nil
}

// pgImport: COPY of the rows derived from the JSON Lines (derived before
// the clock starts) against ccm's validated import of the JSON Lines (read,
// decoded, checked against the rules and appended as one chain).
func (b *bencher) pgImport(ctx context.Context, conn *pgx.Conn, evs []events.Envelope, rows, jsonl []byte) (benchResult, error) {
	r := benchResult{Name: "vs PostgreSQL: bulk load", Events: len(evs)}
	for run := 0; run < b.runs; run++ {
		if err := pgReset(ctx, conn); err != nil {
			return r, err
		}
		d, err := b.timed("postgres-copy", run, func() error {
			tag, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(rows), pgCopy)
			if err == nil && tag.RowsAffected() != int64(len(evs)) {
				err = fmt.Errorf("copied %d rows of %d", tag.RowsAffected(), len(evs))
			}
			return err
		})
		if err != nil {
			return r, fmt.Errorf("postgres copy: %w", err)
		}
		r.BaseRuns = append(r.BaseRuns, rate(len(evs), d))
		led, stop, err := b.ledger(ctx)
		if err != nil {
			return r, err
		}
		d, err = b.timed("postgres-ccm-import", run, func() error { return importInParts(ctx, led, jsonl) })
		stop()
		if err != nil {
			return r, fmt.Errorf("ledger import: %w", err)
		}
		r.Runs = append(r.Runs, rate(len(evs), d))
	}
	return rateRow(r), nil
}

// importInParts imports JSON Lines through the ledger as loaded does, in
// parts under the limit of one input, each read, validated and appended as
// one chain.
func importInParts(ctx context.Context, led *aggregates.Ledger, jsonl []byte) error {
	for _, part := range linesInParts(jsonl, loadPart) {
		if err := ledgerImport(ctx, led, part); err != nil {
			return err
		}
	}
	return nil
}

func pgCount(ctx context.Context, conn *pgx.Conn, want int) error {
	var got int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("the table holds %d rows, want %d", got, want)
	}
	return nil
}

// rateRow fills a row of two rates: the ratio is ccm's over PostgreSQL's,
// above 1 when ccm is ahead.
func rateRow(r benchResult) benchResult {
	r.BaseRate, r.Rate = median(r.BaseRuns), median(r.Runs)
	r.Ratio = r.Rate / r.BaseRate
	r.BaseValue = fmt.Sprintf("%.0f ev/s", r.BaseRate)
	r.Value = fmt.Sprintf("%.0f ev/s", r.Rate)
	return ahead(r, r.Ratio)
}

// latencyRow fills a row of two latencies (p50 of every query of every
// run); the ratio is PostgreSQL's over ccm's, above 1 when ccm is ahead.
func latencyRow(r benchResult, base, led []float64) benchResult {
	sort.Float64s(base)
	sort.Float64s(led)
	r.BaseRuns, r.Runs = base, led
	r.BaseMillis, r.Millis = percentile(base, 0.5), percentile(led, 0.5)
	r.Ratio = r.BaseMillis / r.Millis
	r.BaseValue = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r.BaseMillis, percentile(base, 0.99))
	r.Value = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r.Millis, percentile(led, 0.99))
	r.Figures = map[string]float64{"baseline_p50_ms": r.BaseMillis, "baseline_p99_ms": percentile(base, 0.99),
		"ledger_p50_ms": r.Millis, "ledger_p99_ms": percentile(led, 0.99)}
	return ahead(r, r.Ratio)
}

func ahead(r benchResult, ratio float64) benchResult {
	r.Aim = "> 1 (ccm ahead)"
	r.Met = ratio > 1
	return r
}

// pgQueries times the reads on the loaded table against ccm's live fold of
// the same events, and compares the memory each holds.
func (b *bencher) pgQueries(ctx context.Context, pg *pgServer, conn *pgx.Conn, evs []events.Envelope, jsonl []byte, pgName string) ([]benchResult, error) {
	n := len(evs)
	if err := pgCount(ctx, conn, n); err != nil {
		return nil, err
	}
	l, _, stop, err := b.loaded(ctx, jsonl)
	if err != nil {
		return nil, err
	}
	defer stop()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// As in the serve scenario, the fold's memory is what a second one
	// adds to the heap, the first having warmed the server's caches.
	var live *projections.Live
	var heaps []uint64
	for range 2 {
		heaps = append(heaps, heapInUse())
		live = projections.NewLive(logsource.New(l))
		go func() { _ = live.Run(lctx) }()
		if err := live.Sync(ctx); err != nil {
			return nil, err
		}
	}
	heap := heapInUse() - heaps[1]
	// A new engine for each query: no status or report that an earlier
	// query derived is served again.
	engine := func() *projections.Engine {
		return projections.NewEngine(logsource.New(l), nil, projections.Options{}, projections.WithLive(live))
	}
	ix := newEventIndex(evs)

	// One State as of a date.
	pairs := statusPairs(ix.states(), pgStatusQueries*max(b.runs, 1), 42)
	stateRow := benchResult{Name: "vs PostgreSQL: one State as of a date", Events: n,
		Baseline: pgName + ": SELECT the State's rows dated ≤ D (index on (state, date)), every row read"}
	var base, led []float64
	for _, p := range pairs {
		t0 := time.Now()
		got, err := pgStream(ctx, conn, "SELECT id, type, state, date, payload, source FROM events WHERE state = $1 AND date <= $2 ORDER BY date", p.state, p.date.String())
		if err != nil {
			return nil, err
		}
		base = append(base, millisSince(t0))
		if want := ix.count(p.state, p.date); got != want {
			return nil, fmt.Errorf("postgres: %d rows of %s as of %s, want %d", got, p.state, p.date, want)
		}
	}
	for _, p := range pairs {
		eng := engine()
		t0 := time.Now()
		if _, err := eng.Status(ctx, p.state, projections.Bounds{AsOf: p.date}); err != nil {
			return nil, err
		}
		led = append(led, millisSince(t0))
	}
	stateRow = latencyRow(stateRow, base, led)
	stateRow.Note = fmt.Sprintf("%d (State, date) pairs drawn at random, every date a different one; PostgreSQL returns the rows, ccm the derived status (obligations, deadlines, entry into force)", len(pairs))

	// The whole Convention as of each meeting.
	ms, err := engine().Meetings(ctx, projections.Bounds{AsOf: events.DateOf(b.clock()())})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("the synthetic log holds no meeting")
	}
	convRow := benchResult{Name: "vs PostgreSQL: whole Convention as of a meeting", Events: n,
		Baseline: pgName + ": SELECT every row dated ≤ the meeting's last day, streamed"}
	base, led = nil, nil
	for range max(b.runs, 1) {
		for _, m := range ms {
			t0 := time.Now()
			got, err := pgStream(ctx, conn, "SELECT id, type, state, date, payload, source FROM events WHERE date <= $1", m.End.String())
			if err != nil {
				return nil, err
			}
			base = append(base, millisSince(t0))
			if want := ix.countAll(m.End); got != want {
				return nil, fmt.Errorf("postgres: %d rows as of %s, want %d", got, m.End, want)
			}
			eng := engine()
			t0 = time.Now()
			if _, err := eng.Report(ctx, projections.Bounds{AsOf: m.End, Meeting: m.Code}); err != nil {
				return nil, err
			}
			led = append(led, millisSince(t0))
		}
	}
	convRow = latencyRow(convRow, base, led)
	convRow.Note = fmt.Sprintf("each of the %d meetings (%s to %s) %d times; PostgreSQL streams the rows, ccm derives the report (every State's status and the Article 7 tables)", len(ms), ms[0].Code, ms[len(ms)-1].Code, max(b.runs, 1))

	// Memory, once both sides have answered.
	pss, rss, err := pg.memory()
	if err != nil {
		return nil, err
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size('events')").Scan(&size); err != nil {
		return nil, err
	}
	memRow := benchResult{Name: "vs PostgreSQL: memory", Events: n,
		Baseline:  pgName + ": the server's processes, proportional set size summed",
		BaseValue: fmt.Sprintf("%.0f MB", float64(pss)/1e6),
		Value:     fmt.Sprintf("%.0f MB (%.0f B/event)", float64(heap)/1e6, float64(heap)/float64(n)),
		Ratio:     float64(pss) / float64(heap),
		Figures:   map[string]float64{"baseline_pss_bytes": float64(pss), "baseline_rss_bytes": float64(rss), "baseline_table_bytes": float64(size), "ledger_heap_bytes": float64(heap)},
		Note: fmt.Sprintf("ccm: the live fold's heap (what a second fold adds), not the embedded server's; PostgreSQL: %.0f MB resident summed (shared buffers counted in each process), the table and its index %.0f MB on disk and in the page cache, not counted; its shared buffers are bounded by its configuration, the fold grows with the log",
			float64(rss)/1e6, float64(size)/1e6)}
	memRow = ahead(memRow, memRow.Ratio)
	return []benchResult{stateRow, convRow, memRow}, nil
}

func millisSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// pgStream runs a query and reads every row it returns, as the wire gives
// them (nothing decoded), and returns how many.
func pgStream(ctx context.Context, conn *pgx.Conn, sql string, args ...any) (int, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		_ = rows.RawValues()
		got++
	}
	return got, rows.Err()
}

// copyRows derives the rows of COPY's text format from JSON Lines: id,
// type, the scope (the State's code, or "convention"), date, the data as
// given, source. It decodes each line as plain JSON and checks nothing.
func copyRows(jsonl []byte) ([]byte, error) {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var line struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		State  string          `json:"state"`
		Date   string          `json:"date"`
		Data   json.RawMessage `json:"data"`
		Source string          `json:"source"`
	}
	for no := 1; sc.Scan(); no++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		line.Data, line.State = nil, ""
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("line %d: %w", no, err)
		}
		if line.State == "" {
			line.State = events.ConventionScope
		}
		for i, f := range []string{line.ID, line.Type, line.State, line.Date} {
			if i > 0 {
				out.WriteByte('\t')
			}
			copyField(&out, f)
		}
		out.WriteByte('\t')
		if len(line.Data) == 0 || string(line.Data) == "null" {
			out.WriteString(`\N`)
		} else {
			copyField(&out, string(line.Data))
		}
		out.WriteByte('\t')
		copyField(&out, line.Source)
		out.WriteByte('\n')
	}
	return out.Bytes(), sc.Err()
}

// copyField writes s as a field of COPY's text format: backslash, tab,
// newline and carriage return escaped.
func copyField(w *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			w.WriteString(`\\`)
		case '\t':
			w.WriteString(`\t`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		default:
			w.WriteByte(c)
		}
	}
}

// eventIndex counts the events of a scope, or of the whole log, dated on
// or before a date: what each PostgreSQL read must return.
type eventIndex struct {
	byScope map[string][]events.Date
	all     []events.Date
}

func newEventIndex(evs []events.Envelope) *eventIndex {
	ix := &eventIndex{byScope: map[string][]events.Date{}}
	for _, e := range evs {
		ix.byScope[e.Scope()] = append(ix.byScope[e.Scope()], e.Date)
		ix.all = append(ix.all, e.Date)
	}
	for _, ds := range ix.byScope {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	}
	sort.Slice(ix.all, func(i, j int) bool { return ix.all[i] < ix.all[j] })
	return ix
}

func upTo(ds []events.Date, d events.Date) int {
	return sort.Search(len(ds), func(i int) bool { return ds[i] > d })
}

func (ix *eventIndex) count(scope string, d events.Date) int { return upTo(ix.byScope[scope], d) }
func (ix *eventIndex) countAll(d events.Date) int            { return upTo(ix.all, d) }

// states are the States with events, sorted.
func (ix *eventIndex) states() []string {
	var out []string
	for s := range ix.byScope {
		if s != events.ConventionScope {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

type statusPair struct {
	state string
	date  events.Date
}

// statusPairs draws k (State, date) pairs: States among states, dates
// between the Convention's adoption and the end of the synthetic timeline,
// no date twice (so that no derived Convention-wide figure is reused from
// one query to the next), as long as there are days enough.
func statusPairs(states []string, k int, seed uint64) []statusPair {
	if len(states) == 0 {
		return nil
	}
	first, last := events.Adoption, synth.End
	days := int(last-first) + 1
	rng := rand.New(rand.NewPCG(seed, 7))
	seen := map[events.Date]bool{}
	out := make([]statusPair, 0, k)
	for len(out) < k {
		d := first + events.Date(rng.IntN(days))
		if seen[d] && len(seen) < days {
			continue
		}
		seen[d] = true
		out = append(out, statusPair{state: states[rng.IntN(len(states))], date: d})
	}
	return out
}

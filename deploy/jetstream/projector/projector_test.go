package projector_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// clock is the projector's injected clock: noon UTC of a date the test sets.
type clock struct {
	mu sync.Mutex
	d  events.Date
}

func newClock(d string) *clock { return &clock{d: events.MustDate(d)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d.Time().Add(12 * time.Hour)
}

func (c *clock) Set(d string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.d = events.MustDate(d)
}

func (c *clock) Date() events.Date {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d
}

func mustEvent(tb testing.TB, t events.Type, state, date string, p events.Payload) events.Envelope {
	tb.Helper()
	e, err := events.New(uuid.Nil, t, state, events.MustDate(date), p, "test fixture")
	require.NoError(tb, err, "event %s %s %s", t, state, date)
	return e
}

// history is thirty States whose instruments bring the Convention into
// force on 2010-08-01, and Sweden: in force on 2012-10-01, stockpiles
// declared (Art. 3 deadline 2020-10-01).
func history(tb testing.TB) []events.Envelope {
	var out []events.Envelope
	n := 0
	for _, c := range events.States() {
		if n == 30 {
			break
		}
		if c.ISO3 == "SWE" || c.ISO3 == "LAO" {
			continue
		}
		d := events.MustDate("2009-03-01").AddDate(0, 0, n*10)
		if n == 29 {
			d = events.MustDate("2010-02-16")
		}
		out = append(out, mustEvent(tb, events.Signed, c.ISO3, "2008-12-03", nil),
			mustEvent(tb, events.Deposited, c.ISO3, d.String(), &events.Deposit{Instrument: events.Ratification}))
		n++
	}
	return append(out,
		mustEvent(tb, events.Signed, "SWE", "2008-12-03", nil),
		mustEvent(tb, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}),
		mustEvent(tb, events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{}),
	)
}

type env struct {
	srv    *natstest.Server
	nc     *nats.Conn
	log    *jslog.Log
	ledger *aggregates.Ledger
	js     jetstream.JetStream
}

func setup(t *testing.T, evs []events.Envelope) *env {
	t.Helper()
	srv := natstest.RunServer(t)
	nc := srv.Conn(t)
	ctx := context.Background()
	log, err := jslog.Create(ctx, nc, jslog.Config{})
	require.NoError(t, err)
	ledger := aggregates.NewLedger(log, nil)
	if len(evs) > 0 {
		_, err = ledger.Import(ctx, evs, nil)
		require.NoError(t, err, "import the history")
	}
	return &env{srv: srv, nc: nc, log: log, ledger: ledger, js: log.JetStream()}
}

// start runs a projector until the returned stop is called (or the test
// ends).
func (e *env) start(t *testing.T, c *clock, cfg projector.Config) (*projector.Projector, func()) {
	t.Helper()
	cfg.Now = c.Now
	if cfg.Tick == 0 {
		cfg.Tick = 20 * time.Millisecond
	}
	require.NoError(t, projector.Create(context.Background(), e.js, cfg), "the operator's part")
	p, err := projector.Open(context.Background(), e.log, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, p.Run(ctx))
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// waitCaughtUp waits until the stored checkpoint covers the log's head and
// the clock's date.
func (e *env) waitCaughtUp(t *testing.T, p *projector.Projector, c *clock) {
	t.Helper()
	head, err := e.log.Head(context.Background())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := p.Stats()
		return s.Running && s.Checkpoint.Seq >= head.LastSeq && s.Checkpoint.Date >= c.Date()
	}, 20*time.Second, 10*time.Millisecond, "projector catches up to log sequence %d and %s; stats %+v", head.LastSeq, c.Date(), p.Stats())
}

type stored struct {
	seq     uint64
	subject string
	ev      compliance.Event
}

// readAll returns every event of the compliance stream.
func (e *env) readAll(t *testing.T) []stored {
	t.Helper()
	var out []stored
	_, err := projector.ReadEvents(context.Background(), e.js, projector.DefaultStream, compliance.SubjectPrefix+">", 1, func(seq uint64, ev compliance.Event) error {
		out = append(out, stored{seq, ev.Subject(), ev})
		return nil
	})
	require.NoError(t, err)
	return out
}

// fold folds the whole log.
func (e *env) fold(t *testing.T) *projections.Fold {
	t.Helper()
	f := projections.NewFold()
	_, err := e.log.Read(context.Background(), jslog.ReadOptions{}, func(ev events.Envelope) error {
		f.Apply(ev)
		return nil
	})
	require.NoError(t, err)
	return f
}

// checkExactlyOnce checks the stream against the transitions derived from
// the whole log up to the clock: every id once, every key asserted once per
// generation and revoked in between, and what stands is what is derived.
func (e *env) checkExactlyOnce(t *testing.T, c *clock) []stored {
	t.Helper()
	all := e.readAll(t)
	want := compliance.DeriveAll(e.fold(t), c.Date(), compliance.Options{})
	ids := map[uuid.UUID]uint64{}
	standing := map[string]bool{}
	for _, s := range all {
		if first, dup := ids[s.ev.ID]; dup {
			t.Errorf("event %s published twice: at %d and %d", s.ev.ID, first, s.seq)
		}
		ids[s.ev.ID] = s.seq
		if s.ev.Revoked {
			assert.True(t, standing[s.ev.Key], "revocation of %s at %d revokes a standing transition", s.ev.Key, s.seq)
			delete(standing, s.ev.Key)
			continue
		}
		assert.False(t, standing[s.ev.Key], "transition %s asserted again at %d while it stands (%s)", s.ev.Key, s.seq, s.ev.Summary())
		standing[s.ev.Key] = true
		assert.Equal(t, s.subject, compliance.Subject(s.ev.State, s.ev.Kind), "subject of %s", s.ev.Key)
	}
	wantKeys := map[string]bool{}
	for _, tr := range want {
		wantKeys[tr.Key] = true
	}
	assert.Equal(t, wantKeys, standing, "what stands published is what the log derives up to %s", c.Date())
	return all
}

func countSubject(all []stored, subject string) int {
	n := 0
	for _, s := range all {
		if s.subject == subject {
			n++
		}
	}
	return n
}

func TestProjectorPublishesTheHistory(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2021-01-01")
	p, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	all := e.checkExactlyOnce(t, c)
	assert.Equal(t, 1, countSubject(all, "ccm.compliance.SWE.deadline-missed"), "Sweden missed its Art. 3 deadline once")
	assert.Equal(t, 1, countSubject(all, "ccm.compliance.SWE.entered-into-force"))
	assert.Equal(t, 1, countSubject(all, "ccm.compliance.convention.entered-into-force"))
	for _, s := range all {
		assert.False(t, s.ev.Correction, "a first run publishes no correction: %s", s.ev.Summary())
	}
	s := p.Stats()
	var n uint64
	for _, v := range s.Published {
		n += v
	}
	assert.Equal(t, uint64(len(all)), n, "the counters count what was published")
}

func TestProjectorRestartPublishesNoDuplicateAndMissesNone(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2013-01-01")
	p, stop := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	before := e.checkExactlyOnce(t, c)
	assert.Zero(t, countSubject(before, "ccm.compliance.SWE.deadline-missed"), "not yet missed in 2013")
	stop()

	// While the projector is down: a report is recorded, and the clock
	// passes Sweden's Art. 3 deadline (2020-10-01).
	_, err := e.ledger.Record(context.Background(), mustEvent(t, events.ReportSubmitted, "SWE", "2013-03-01", &events.Report{Kind: events.InitialReport}))
	require.NoError(t, err)
	c.Set("2021-01-01")
	p, stop = e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	after := e.checkExactlyOnce(t, c)
	require.Greater(t, len(after), len(before))
	for i := range before {
		assert.Equal(t, before[i].ev.ID, after[i].ev.ID, "the stream only grew: event at %d", before[i].seq)
	}
	missed := 0
	for _, s := range after {
		if s.subject == "ccm.compliance.SWE.deadline-missed" {
			missed++
			assert.Equal(t, "2020-10-02", s.ev.Date.String(), "missed the day after the deadline")
			assert.False(t, s.ev.Correction, "a date that passed while the projector was down is no correction")
		}
	}
	assert.Equal(t, 1, missed, "the deadline missed while down is published on start-up, once")
	stop()

	// A third start with nothing new publishes nothing.
	p, _ = e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	assert.Len(t, e.readAll(t), len(after), "a restart with nothing new publishes nothing")
}

func TestProjectorLiveCorrections(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2016-01-01")
	p, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	before := e.readAll(t)
	var overdue compliance.Event
	for _, s := range before {
		if s.subject == "ccm.compliance.SWE.report-overdue" && s.ev.Year == 2013 {
			overdue = s.ev
		}
	}
	require.NotEqual(t, uuid.Nil, overdue.ID, "the annual report for 2013 was overdue")

	// Recorded today, dated 2014, before it was due: the overdue report
	// is revoked, as a correction.
	_, err := e.ledger.Record(context.Background(), mustEvent(t, events.ReportSubmitted, "SWE", "2014-04-01", &events.Report{Kind: events.AnnualReport, Year: 2013}))
	require.NoError(t, err)
	// Stocks destroyed in 2015, recorded today: fulfilled, as a correction.
	_, err = e.ledger.Record(context.Background(), mustEvent(t, events.StockpileDestructionCompleted, "SWE", "2015-02-01", nil))
	require.NoError(t, err)
	e.waitCaughtUp(t, p, c)
	all := e.checkExactlyOnce(t, c)
	news := all[len(before):]
	require.Len(t, news, 2, "a revocation and a fulfilment: %v", news)
	assert.True(t, news[0].ev.Revoked && news[0].ev.Correction, "revoked as a correction: %s", news[0].ev.Summary())
	require.NotNil(t, news[0].ev.Corrects)
	assert.Equal(t, overdue.ID, *news[0].ev.Corrects)
	assert.Equal(t, "ccm.compliance.SWE.obligation-fulfilled", news[1].subject)
	assert.True(t, news[1].ev.Correction, "learned after its date: a correction")

	// A day passes on the clock while the projector runs.
	c.Set("2016-05-01")
	e.waitCaughtUp(t, p, c)
	all = e.checkExactlyOnce(t, c)
	last := all[len(all)-1].ev
	assert.Equal(t, compliance.ReportOverdue, last.Kind, "the 2015 annual report falls overdue on 1 May 2016")
	assert.Equal(t, 2015, last.Year)
	assert.False(t, last.Correction)
}

func TestTwoProjectorsPublishEachTransitionOnce(t *testing.T) {
	e := setup(t, history(t)[:40])
	c := newClock("2014-01-01")
	// Two share the default durable (each reads what the other took),
	// one has its own.
	p1, _ := e.start(t, c, projector.Config{})
	p2, _ := e.start(t, c, projector.Config{})
	p3, _ := e.start(t, c, projector.Config{Durable: "ccm-projector-b"})
	rest := history(t)[40:]
	for _, ev := range rest {
		_, err := e.ledger.Record(context.Background(), ev)
		require.NoError(t, err)
	}
	c.Set("2021-06-01")
	for _, p := range []*projector.Projector{p1, p2, p3} {
		e.waitCaughtUp(t, p, c)
	}
	// Let every projector finish what it was doing.
	require.Eventually(t, func() bool {
		for _, p := range []*projector.Projector{p1, p2, p3} {
			s := p.Stats()
			if s.Seq < s.Checkpoint.Seq || s.Clock < c.Date() {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	all := e.checkExactlyOnce(t, c)
	var conflicts, dups uint64
	for _, p := range []*projector.Projector{p1, p2, p3} {
		conflicts += p.Stats().Conflicts
		dups += p.Stats().Duplicates
	}
	t.Logf("%d events published by three projectors; %d conflicts and %d duplicates resolved", len(all), conflicts, dups)
	assert.Equal(t, 1, countSubject(all, "ccm.compliance.SWE.deadline-missed"))
	for _, s := range all {
		assert.False(t, s.ev.Revoked, "nothing was retracted, so nothing is revoked: %s", s.ev.Summary())
	}
}

func TestProjectorBehindTheStreamPublishesNothingAgain(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2021-01-01")
	p, stop := e.start(t, c, projector.Config{Duplicates: 500 * time.Millisecond})
	e.waitCaughtUp(t, p, c)
	before := e.readAll(t)
	stop()
	// As after a crash between publishing and storing the checkpoint,
	// long after the duplicate window: the checkpoint is far behind.
	kv, err := e.js.KeyValue(context.Background(), projector.DefaultBucket)
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), "checkpoint", []byte(`{"seq":1,"date":"2009-01-01"}`))
	require.NoError(t, err)
	time.Sleep(600 * time.Millisecond)
	p, _ = e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	after := e.checkExactlyOnce(t, c)
	assert.Equal(t, len(before), len(after), "nothing published again")
	assert.Zero(t, p.Stats().Duplicates, "not even a repeat for the stream to drop")
}

func TestCloudEventHeaders(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2011-01-01")
	p, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	st, err := e.js.Stream(context.Background(), projector.DefaultStream)
	require.NoError(t, err)
	m, err := st.GetLastMsgForSubject(context.Background(), "ccm.compliance.convention.entered-into-force")
	require.NoError(t, err)
	id := m.Header.Get(jetstream.MsgIDHeader)
	assert.Equal(t, id, m.Header.Get("ce-id"), "ce-id is the Nats-Msg-Id")
	assert.Equal(t, "1.0", m.Header.Get("ce-specversion"))
	assert.Equal(t, "org.ccm-ledger.compliance.entered-into-force", m.Header.Get("ce-type"))
	assert.Equal(t, "convention", m.Header.Get("ce-subject"))
	assert.Equal(t, "application/json", m.Header.Get("ce-datacontenttype"))
	assert.Empty(t, m.Header.Get("Content-Type"), "binary mode: no Content-Type")
	assert.Contains(t, string(m.Data), fmt.Sprintf(`"id":"%s"`, id))
}

// The counters answer while the projector holds its state (as it does
// through a publish, which may wait on the server): /healthz and /metrics
// never wait for it.
func TestStatsAnswerWhileTheProjectorHoldsItsState(t *testing.T) {
	e := setup(t, history(t))
	c := newClock("2021-01-01")
	p, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	want := p.Stats()
	release := projector.HoldState(p)
	defer release()
	got := make(chan projector.Stats, 1)
	go func() { got <- p.Stats() }()
	select {
	case s := <-got:
		assert.True(t, s.Running)
		assert.Equal(t, want.Seq, s.Seq, "the counters as last shown")
		assert.Equal(t, want.Published, s.Published)
	case <-time.After(10 * time.Second):
		t.Fatal("Stats waited for the projector's state")
	}
}

package projections_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// jetStreamLedger is a synthetic ledger of n events imported into a log on
// an embedded server, with its snapshot bucket.
type jetStreamLedger struct {
	srv    *natstest.Server
	log    *jslog.Log
	ledger *aggregates.Ledger
	snaps  *jslog.SnapshotStore
	kv     jetstream.KeyValue
}

func newJetStreamLedger(tb testing.TB, n int, seed int64) *jetStreamLedger {
	tb.Helper()
	ctx := context.Background()
	srv := natstest.RunServer(tb)
	log, err := jslog.Create(ctx, srv.Conn(tb), jslog.Config{})
	require.NoError(tb, err)
	snaps, err := jslog.CreateSnapshots(ctx, log)
	require.NoError(tb, err)
	l := aggregates.NewLedger(log, func() time.Time { return synth.End.AddDate(0, 0, 1).Time() })
	res, err := l.Import(ctx, synth.Generate(n, seed), nil)
	require.NoError(tb, err, "import the synthetic ledger")
	require.Equal(tb, n, res.Appended, "events imported")
	kv, err := log.JetStream().KeyValue(ctx, snaps.Bucket())
	require.NoError(tb, err)
	return &jetStreamLedger{srv: srv, log: log, ledger: l, snaps: snaps, kv: kv}
}

// revisions returns the KV revision of every key of a meeting's snapshot.
func (j *jetStreamLedger) revisions(t *testing.T, code string) map[string]uint64 {
	t.Helper()
	ctx := context.Background()
	keys, err := j.snaps.Keys(ctx)
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, k := range keys {
		if strings.HasPrefix(k, code+".") {
			e, err := j.kv.Get(ctx, k)
			require.NoError(t, err, "get %s", k)
			out[k] = e.Revision()
		}
	}
	return out
}

func logFold(t *testing.T, log *jslog.Log, b projections.Bounds) *projections.Fold {
	t.Helper()
	evs, _, err := log.ReadAll(context.Background(), jslog.ReadOptions{UpToSeq: b.KnownAtSeq, UpToTime: b.KnownAtTime})
	require.NoError(t, err)
	f := projections.NewFold()
	for _, e := range evs {
		f.Apply(e)
	}
	return f
}

// The engine on a real log and KV bucket: snapshots give what a fold of
// the log gives, and an event dated after a meeting leaves that meeting's
// keys at their KV revisions.
func TestEngineOnJetStream(t *testing.T) {
	ctx := context.Background()
	j := newJetStreamLedger(t, 2500, 3)
	eng := projections.NewEngine(logsource.New(j.log), j.snaps, projections.Options{})
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	require.Equal(t, 2025-2010+1+1, st.Created, "snapshots created: the meetings' and the latest (%+v)", st)

	check := func(what string) {
		t.Helper()
		for _, asOf := range []string{"SYN-2012", "SYN-2014", "SYN-2020", "2013-02-01", "2025-12-31"} {
			b, err := eng.Resolve(ctx, asOf, "", synth.End)
			require.NoError(t, err)
			got, err := eng.Report(ctx, b)
			require.NoError(t, err)
			require.Equal(t, projections.ReportOf(logFold(t, j.log, b), b.AsOf, projections.Options{}), got, "%s: report as of %s", what, asOf)
		}
	}
	check("after the first refresh")

	before2014, before2015 := j.revisions(t, synth.MeetingCode(2014)), j.revisions(t, synth.MeetingCode(2015))
	// Recorded now, dated after the 2014 meeting and before the 2015 one.
	late, err := events.New([16]byte{}, events.AssistanceProvided, "NOR", events.MustDate("2015-01-15"),
		&events.Assistance{Areas: []string{"clearance"}}, "test: a backdated report of assistance")
	require.NoError(t, err)
	_, err = j.ledger.Record(ctx, late)
	require.NoError(t, err)
	check("after a backdated event, before the refresh")
	_, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	check("after a backdated event and a refresh")

	after2014, after2015 := j.revisions(t, synth.MeetingCode(2014)), j.revisions(t, synth.MeetingCode(2015))
	meta := synth.MeetingCode(2014) + "._meta"
	for k, rev := range before2014 {
		if k == meta {
			assert.Greater(t, after2014[k], rev, "%s moves to the new sequence", k)
		} else {
			assert.Equal(t, rev, after2014[k], "KV revision of %s after an event dated after the meeting", k)
		}
	}
	nor := synth.MeetingCode(2015) + ".NOR"
	assert.Greater(t, after2015[nor], before2015[nor], "KV revision of %s after an event about NOR dated before the meeting", nor)

	infos, err := eng.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 17, "snapshots listed")
	head, err := j.log.Head(ctx)
	require.NoError(t, err)
	for _, info := range infos {
		assert.Equal(t, head.LastSeq, info.Seq, "snapshot %s covers the head", info.Meeting)
	}
}

// ownQuarantinedOnLog counts, for each State, the stored messages known at
// b on its subjects that a fold of the whole log does not count.
func ownQuarantinedOnLog(t testing.TB, log *jslog.Log, b projections.Bounds) map[string]int {
	t.Helper()
	own := map[string]int{}
	count := func(subject string) {
		if scope, ok := events.ScopeOfSubject(subject); ok {
			own[scope]++
		}
	}
	gate := aggregates.NewGate(func(q events.Quarantined) { count(q.Subject) })
	_, err := log.Read(context.Background(), jslog.ReadOptions{UpToSeq: b.KnownAtSeq, UpToTime: b.KnownAtTime,
		Quarantine: func(q events.Quarantined) { count(q.Subject) }},
		func(e events.Envelope) error { gate.Admit(e); return nil })
	require.NoError(t, err)
	return own
}

// On a real log holding messages no view counts and retractions of the
// deposits that decide the entry into force, a status read from the
// State's subjects and the other States' signatures, deposits, withdrawals
// and retractions is the status a fold of the whole log gives.
func TestScopedStatusOnJetStream(t *testing.T) {
	ctx := context.Background()
	j := newJetStreamLedger(t, 3000, 5)
	js, err := jetstream.New(j.srv.Conn(t))
	require.NoError(t, err)
	evs, _, err := j.log.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	var early []events.Envelope // the first deposits, by date
	for _, e := range evs {
		if e.Type == events.Deposited && e.Date < events.MustDate("2010-01-01") {
			early = append(early, e)
		}
	}
	require.GreaterOrEqual(t, len(early), 30)
	raw := func(subject, body string) {
		t.Helper()
		_, err := js.Publish(ctx, subject, []byte(body))
		require.NoError(t, err, "raw publish to %s", subject)
	}
	x, y := early[0], early[1]
	// Recorded through the ledger: a retraction of y's deposit moves the
	// entry into force. (Before the messages below: the ledger appends to
	// a State only while the last message of its subjects is an event the
	// rules admit.)
	ret, err := events.New(uuid.Nil, events.Retracted, y.State, events.MustDate("2013-01-01"), &events.Retraction{Event: y.ID, Reason: "test"}, "test: retraction")
	require.NoError(t, err)
	_, err = j.ledger.Record(ctx, ret)
	require.NoError(t, err)
	mid, err := j.log.Head(ctx)
	require.NoError(t, err)
	// Not events, on the subjects a status of x reads, and of y.
	raw(events.Subject(x.State, events.Deposited), "this is not json")
	raw(events.Subject(y.State, events.Deposited), "this is not json")
	raw(events.Subject(y.State, events.Signed), string(x.StoredJSON()))
	// A second deposit of y, which the rules reject, and a withdrawal of y
	// with a given id taken by y's next fact, a retraction of x's deposit.
	second, err := events.New(uuid.Nil, events.Deposited, y.State, events.MustDate("2009-01-05"), &events.Deposit{Instrument: events.Accession}, "forged")
	require.NoError(t, err)
	raw(second.Subject(), string(second.StoredJSON()))
	id := uuid.New()
	other, err := events.New(id, events.AssistanceProvided, x.State, events.MustDate("2012-01-05"), &events.Assistance{Areas: []string{"clearance"}}, "forged")
	require.NoError(t, err)
	raw(other.Subject(), string(other.StoredJSON()))
	dup, err := events.New(id, events.Retracted, x.State, events.MustDate("2012-01-06"), &events.Retraction{Event: x.ID, Reason: "forged"}, "forged")
	require.NoError(t, err)
	raw(dup.Subject(), string(dup.StoredJSON()))
	head, err := j.log.Head(ctx)
	require.NoError(t, err)

	src := logsource.New(j.log)
	scoped := projections.NewEngine(src, nil, projections.Options{})
	full := projections.NewEngine(plainSource{src}, nil, projections.Options{})
	known := []projections.Bounds{{}, {KnownAtSeq: mid.LastSeq}, {KnownAtSeq: mid.LastSeq - 1}, {KnownAtSeq: 1500}, {KnownAtSeq: head.LastSeq + 5},
		{KnownAtTime: mid.LastTime}, {KnownAtTime: head.LastTime.Add(-time.Nanosecond)}, {KnownAtTime: evs[0].Recorded.Add(-time.Hour)}}
	states := []string{x.State, y.State, early[2].State, evs[len(evs)-1].State, "SWE", "TUV"}
	eifs := map[events.Date]bool{}
	for _, k := range known {
		own := ownQuarantinedOnLog(t, j.log, k)
		for _, d := range []events.Date{events.MustDate("2009-12-31"), events.MustDate("2010-08-01"), events.MustDate("2014-05-01"), synth.End} {
			b := k
			b.AsOf = d
			ref, err := full.Fold(ctx, b)
			require.NoError(t, err)
			for i, iso3 := range states {
				want := projections.StatusOf(ref, iso3, d, projections.Options{})
				if i == 0 {
					st, err := full.Status(ctx, iso3, b)
					require.NoError(t, err)
					require.Equal(t, want, st, "the fold's status")
				}
				want.KnownAt.Quarantined = own[iso3]
				got, err := scoped.Status(ctx, iso3, b)
				require.NoError(t, err)
				require.Equal(t, want, got, "Status(%s) as of %s known at %+v", iso3, d, k)
				if iso3 == x.State {
					eifs[got.EntryIntoForce] = true
				}
			}
		}
	}
	assert.Greater(t, len(eifs), 2, "entry into force of %s: %v", x.State, eifs)
}

// statusLog is a log on an embedded server (file storage) for the status
// benchmarks.
type statusLog struct {
	log    *jslog.Log
	ledger *aggregates.Ledger
	scoped *projections.Engine
	full   *projections.Engine
}

func newStatusLog(b *testing.B, evs []events.Envelope) *statusLog {
	b.Helper()
	ctx := context.Background()
	log, err := jslog.Create(ctx, natstest.RunServer(b).Conn(b), jslog.Config{})
	require.NoError(b, err)
	l := aggregates.NewLedger(log, func() time.Time { return synth.End.AddDate(0, 0, 1).Time() })
	start := time.Now()
	_, err = l.Import(ctx, evs, nil)
	require.NoError(b, err)
	b.Logf("imported %d events in %v", len(evs), time.Since(start).Round(time.Millisecond))
	src := logsource.New(log)
	return &statusLog{log: log, ledger: l, scoped: projections.NewEngine(src, nil, projections.Options{}),
		full: projections.NewEngine(plainSource{src}, nil, projections.Options{})}
}

// onStatusSubjects counts the stored messages a status of iso3 reads, and
// the State's events among them.
func (s *statusLog) onStatusSubjects(b *testing.B, iso3 string) (msgs, own int) {
	b.Helper()
	_, err := s.log.Read(context.Background(), jslog.ReadOptions{Subjects: projections.StatusSubjects(iso3),
		Quarantine: func(events.Quarantined) { msgs++ }}, func(e events.Envelope) error {
		msgs++
		if e.State == iso3 {
			own++
		}
		return nil
	})
	require.NoError(b, err)
	return msgs, own
}

// timeStatus runs Status as a sub-benchmark and returns the time of one.
func timeStatus(b *testing.B, name string, e *projections.Engine, iso3 string, bd projections.Bounds) time.Duration {
	var per time.Duration
	b.Run(name, func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Status(context.Background(), iso3, bd); err != nil {
				b.Fatal(err)
			}
		}
		per = b.Elapsed() / time.Duration(b.N)
	})
	return per
}

// BenchmarkStatus measures `ccm status ISO3` without snapshots on a
// 100,000-event synthetic ledger on an embedded server (file storage): the
// read of the State's subjects and of the other States' signatures,
// deposits, withdrawals and retractions, against a fold of the whole log,
// for the State with the median number of events and the one with the
// most. The ratio is logged.
//
//	go test ./projections/ -run '^$' -bench 'Status$' -benchtime 10x
func BenchmarkStatus(b *testing.B) {
	evs := synth.Generate(100_000, 1)
	s := newStatusLog(b, evs)
	byState := map[string]int{}
	for _, e := range evs {
		if e.State != "" {
			byState[e.State]++
		}
	}
	states := make([]string, 0, len(byState))
	for iso3 := range byState {
		states = append(states, iso3)
	}
	sort.Slice(states, func(i, j int) bool { return byState[states[i]] < byState[states[j]] })
	bd := projections.Bounds{AsOf: synth.End}
	for _, iso3 := range []string{states[len(states)/2], states[len(states)-1]} {
		want, err := s.full.Status(context.Background(), iso3, bd)
		require.NoError(b, err)
		got, err := s.scoped.Status(context.Background(), iso3, bd)
		require.NoError(b, err)
		require.Equal(b, want, got, "the scoped status is the fold's")
		scoped := timeStatus(b, "scoped/"+iso3, s.scoped, iso3, bd)
		full := timeStatus(b, "full-fold/"+iso3, s.full, iso3, bd)
		msgs, own := s.onStatusSubjects(b, iso3)
		b.Logf("status of %s (%d events) on a log of %d: %v from the %d messages of its subjects and the others' signatures, deposits, withdrawals and retractions, %v by a fold of the log: %.0f times faster",
			iso3, own, len(evs), scoped.Round(time.Microsecond), msgs, full.Round(time.Microsecond), float64(full)/float64(scoped))
	}
}

// BenchmarkStatusAsTheLogGrows measures the status of one State on a log of
// 25,000 synthetic events grown to 100,000 by reports of assistance of the
// other States: the scoped read stays with the State's events (and the
// others' deposits), the fold grows with the log. The figures are logged.
//
//	go test ./projections/ -run '^$' -bench StatusAsTheLogGrows -benchtime 10x
func BenchmarkStatusAsTheLogGrows(b *testing.B) {
	ctx := context.Background()
	evs := synth.Generate(25_000, 1)
	s := newStatusLog(b, evs)
	var iso3 string
	for _, e := range evs {
		if e.Type == events.Deposited {
			iso3 = e.State
			break
		}
	}
	var others []string
	for _, e := range evs {
		if e.State != "" && e.State != iso3 && len(others) < 150 && !slices.Contains(others, e.State) {
			others = append(others, e.State)
		}
	}
	bd := projections.Bounds{AsOf: synth.End}
	var lines []string
	for size := 25_000; size <= 100_000; size += 25_000 {
		if size > 25_000 {
			more := make([]events.Envelope, 0, 25_000)
			for i := range 25_000 {
				e, err := events.New(uuid.Nil, events.AssistanceProvided, others[i%len(others)],
					events.MustDate("2011-01-01").AddDate(0, 0, i%5000), &events.Assistance{Areas: []string{"clearance"}},
					fmt.Sprintf("benchmark: assistance #%d at %d", i, size))
				require.NoError(b, err)
				more = append(more, e)
			}
			_, err := s.ledger.Import(ctx, more, nil)
			require.NoError(b, err)
		}
		want, err := s.full.Status(ctx, iso3, bd)
		require.NoError(b, err)
		got, err := s.scoped.Status(ctx, iso3, bd)
		require.NoError(b, err)
		require.Equal(b, want, got, "the scoped status is the fold's")
		scoped := timeStatus(b, fmt.Sprintf("scoped/%dk", size/1000), s.scoped, iso3, bd)
		full := timeStatus(b, fmt.Sprintf("full-fold/%dk", size/1000), s.full, iso3, bd)
		msgs, own := s.onStatusSubjects(b, iso3)
		lines = append(lines, fmt.Sprintf("%7d events: scoped %8v (%d messages read, %d of %s), full fold %8v, ratio %.0f",
			size, scoped.Round(time.Microsecond), msgs, own, iso3, full.Round(time.Microsecond), float64(full)/float64(scoped)))
	}
	b.Logf("status of %s as the log grows:\n%s", iso3, strings.Join(lines, "\n"))
}

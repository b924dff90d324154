package jslog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

func openLog(t *testing.T, srv *natstest.Server) *jslog.Log {
	t.Helper()
	l, err := jslog.Create(context.Background(), srv.Conn(t), jslog.Config{})
	require.NoError(t, err)
	return l
}

func ev(t *testing.T, typ events.Type, state, date string, p events.Payload) events.Envelope {
	t.Helper()
	e, err := events.New(uuid.Nil, typ, state, events.MustDate(date), p, "test source")
	require.NoError(t, err)
	return e
}

func TestAppendChecksVersionOfWholeState(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))

	seq1, err := l.Append(ctx, "SWE", 0, ev(t, events.Signed, "SWE", "2008-12-03", nil))
	require.NoError(t, err)
	// A stale expectation (0: "no event yet") on another subject of the
	// same State conflicts: the check covers ccm.events.SWE.>.
	_, err = l.Append(ctx, "SWE", 0, ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}))
	require.ErrorIs(t, err, events.ErrConflict)
	// Another State is not affected.
	seqN, err := l.Append(ctx, "NOR", 0, ev(t, events.Signed, "NOR", "2008-12-03", nil))
	require.NoError(t, err)
	v, err := l.Version(ctx, "SWE")
	require.NoError(t, err)
	assert.Equal(t, seq1, v, "version of SWE is the sequence of its last event")
	seq2, err := l.Append(ctx, "SWE", seq1, ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}))
	require.NoError(t, err)
	assert.Greater(t, seq2, seqN)

	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), head.Msgs, "the conflicting append stored nothing")
}

func TestAppendDuplicateIDIsReported(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	e := ev(t, events.Signed, "SWE", "2008-12-03", nil)
	seq, err := l.Append(ctx, "SWE", jslog.AnyVersion, e)
	require.NoError(t, err)
	again, err := l.Append(ctx, "SWE", jslog.AnyVersion, e)
	require.ErrorIs(t, err, events.ErrDuplicate)
	assert.Equal(t, seq, again, "a duplicate reports the stored event's sequence")
	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), head.Msgs)
}

func TestAppendSeveralIsAtomic(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	a := ev(t, events.Signed, "SWE", "2008-12-03", nil)
	b := ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification})
	last, err := l.Append(ctx, "SWE", 0, a, b)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), last)

	c := ev(t, events.StockpileDeclared, "SWE", "2012-05-01", &events.Quantities{})
	d := ev(t, events.RetentionDeclared, "SWE", "2012-05-01", &events.Quantities{})
	_, err = l.Append(ctx, "SWE", 1, c, d) // stale: SWE is at 2
	require.ErrorIs(t, err, events.ErrConflict)
	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), head.Msgs, "a rejected batch stores none of its events")
}

func TestStreamDeniesDeleteAndPurge(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	_, err := l.Append(ctx, "SWE", 0, ev(t, events.Signed, "SWE", "2008-12-03", nil))
	require.NoError(t, err)
	js := srv.JetStream(t)
	st, err := js.Stream(ctx, jslog.DefaultStream)
	require.NoError(t, err)
	require.Error(t, st.Purge(ctx), "purge must be denied")
	require.Error(t, st.DeleteMsg(ctx, 1), "message delete must be denied")
	cfg := st.CachedInfo().Config
	cfg.DenyDelete, cfg.DenyPurge = false, false
	_, err = js.UpdateStream(ctx, cfg)
	require.Error(t, err, "deny delete/purge cannot be switched off")
}

func TestOpenRefusesUnsafeStream(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	js := srv.JetStream(t)
	cfg := jslog.StreamConfig(jslog.Config{})
	cfg.DenyPurge = false
	cfg.MaxAge = time.Hour
	_, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	_, err = jslog.Create(ctx, srv.Conn(t), jslog.Config{})
	require.ErrorContains(t, err, "not fit for the ledger")
}

func TestAppendChainStopsWhenSomeoneInterleaves(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	var evs []events.Envelope
	for i := 0; i < 3000; i++ {
		evs = append(evs, ev(t, events.ReportSubmitted, "SWE", "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011 - i%3}))
		evs[i].ID = uuid.New()
	}
	n, last, err := l.AppendChain(ctx, 0, evs[:1000], nil)
	require.NoError(t, err)
	assert.Equal(t, 1000, n)
	assert.Equal(t, uint64(1000), last)

	// A chain that expects the log to end at 999 conflicts at once.
	n, _, err = l.AppendChain(ctx, 999, evs[1000:], nil)
	require.ErrorIs(t, err, events.ErrConflict)
	assert.Equal(t, 0, n)
	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), head.Msgs, "nothing stored after a broken chain")

	var progress []int
	n, _, err = l.AppendChain(ctx, 1000, evs[1000:], func(n int) { progress = append(progress, n) })
	require.NoError(t, err)
	assert.Equal(t, 2000, n)
	assert.Equal(t, []int{1000, 2000}, progress)
}

func TestReadBoundsAndScope(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	for i, st := range []string{"SWE", "NOR", "SWE", "LAO", "SWE"} {
		e := ev(t, events.ReportSubmitted, st, "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011})
		e.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint(i)))
		_, err := l.Append(ctx, st, jslog.AnyVersion, e)
		require.NoError(t, err)
	}
	all, last, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	assert.Len(t, all, 5)
	assert.Equal(t, uint64(5), last)
	swe, _, err := l.ReadAll(ctx, jslog.ReadOptions{Scope: "SWE"})
	require.NoError(t, err)
	require.Len(t, swe, 3)
	assert.Equal(t, []uint64{1, 3, 5}, []uint64{swe[0].Seq, swe[1].Seq, swe[2].Seq})
	part, last, err := l.ReadAll(ctx, jslog.ReadOptions{FromSeq: 2, UpToSeq: 4})
	require.NoError(t, err)
	assert.Len(t, part, 3)
	assert.Equal(t, uint64(4), last)
	none, _, err := l.ReadAll(ctx, jslog.ReadOptions{Scope: "FRA"})
	require.NoError(t, err)
	assert.Empty(t, none)
	byTime, _, err := l.ReadAll(ctx, jslog.ReadOptions{UpToTime: all[2].Recorded})
	require.NoError(t, err)
	assert.Len(t, byTime, 3, "known at the record time of the third event")
	assert.False(t, all[0].Recorded.IsZero())
}

func TestDurableAcrossRestart(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	e := ev(t, events.Signed, "SWE", "2008-12-03", nil)
	_, err := l.Append(ctx, "SWE", 0, e)
	require.NoError(t, err)

	srv = srv.Restart(t)
	l = openLog(t, srv)
	got, _, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, e.ID, got[0].ID)
	// The duplicate window survives the restart; the concurrency check too.
	_, err = l.Append(ctx, "SWE", 0, ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}))
	require.ErrorIs(t, err, events.ErrConflict)
}

func TestFollowResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			e := ev(t, events.ReportSubmitted, "SWE", "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011})
			e.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint(i)))
			_, err := l.Append(ctx, "SWE", jslog.AnyVersion, e)
			require.NoError(t, err)
		}
	}
	follow := func(l *jslog.Log, want int) []uint64 {
		var seen []uint64
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.Follow(cctx, jslog.FollowOptions{Durable: "test"}, func(_ context.Context, e events.Envelope) error {
			seen = append(seen, e.Seq)
			if len(seen) == want {
				cancel()
			}
			return nil
		})
		require.NoError(t, err)
		return seen
	}
	appendN(0, 3)
	assert.Equal(t, []uint64{1, 2, 3}, follow(l, 3))
	srv = srv.Restart(t)
	l = openLog(t, srv)
	appendN(3, 2)
	// Acks are asynchronous: give the server a moment is not needed after a
	// restart, which flushed them; the follower resumes after 3.
	assert.Equal(t, []uint64{4, 5}, follow(l, 2))
}

func TestVersionIsAbsentForUnknownScope(t *testing.T) {
	l := openLog(t, natstest.RunServer(t))
	v, err := l.Version(context.Background(), "FRA")
	require.NoError(t, err)
	assert.Zero(t, v)
	_, err = l.Get(context.Background(), 42)
	require.True(t, errors.Is(err, jetstream.ErrMsgNotFound), "got %v", err)
}

func TestAppendChainLeavesNoGapWhenInterleavedMidway(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	var evs []events.Envelope
	for i := 0; i < 20000; i++ {
		e := ev(t, events.ReportSubmitted, "SWE", "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011})
		e.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("chain", i)))
		evs = append(evs, e)
	}
	foreign := ev(t, events.Signed, "NOR", "2008-12-03", nil)
	started := make(chan struct{})
	var once bool
	go func() {
		<-started
		_, err := l.Append(ctx, "NOR", jslog.AnyVersion, foreign)
		assert.NoError(t, err)
	}()
	appended, _, err := l.AppendChain(ctx, 0, evs, func(n int) {
		if !once {
			once = true
			close(started)
		}
	})
	require.ErrorIs(t, err, events.ErrConflict, "the foreign append breaks the chain")
	all, _, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	require.Len(t, all, appended+1, "the stored prefix and the foreign event, nothing else")
	for i := 0; i < appended; i++ {
		require.Equal(t, evs[i].ID, all[i].ID, "event %d of the chain", i)
	}
	assert.Equal(t, foreign.ID, all[appended].ID)
	assert.Greater(t, appended, 0)
}

// TestReplayEqualsLiveFollow appends from several writers while a durable
// follower follows live; the follower sees exactly what a replay of the
// whole log gives afterwards, in the same order.
func TestReplayEqualsLiveFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := openLog(t, natstest.RunServer(t))
	const writers, each = 4, 250
	var followed []events.Envelope
	done := make(chan error, 1)
	fctx, stop := context.WithCancel(ctx)
	go func() {
		done <- l.Follow(fctx, jslog.FollowOptions{Durable: "live"}, func(_ context.Context, e events.Envelope) error {
			followed = append(followed, e)
			if len(followed) == writers*each {
				stop()
			}
			return nil
		})
	}()
	states := []string{"SWE", "NOR", "LAO", "FRA"}
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				e := ev(t, events.ReportSubmitted, states[w], "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011})
				e.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("live", w, i)))
				if _, err := l.Append(ctx, states[w], jslog.AnyVersion, e); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		require.NoError(t, <-errs)
	}
	require.NoError(t, <-done)
	replayed, _, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	require.Len(t, followed, writers*each)
	require.Equal(t, replayed, followed, "a live follower and a replay see the same events in the same order")
}

// TestFollowSurvivesAStalledNetwork: a follower whose connection stops
// delivering for longer than two heartbeats (the server's pull request and
// its heartbeats are held, not lost) goes on following once traffic flows
// again, and misses nothing.
func TestFollowSurvivesAStalledNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.RunServer(t)
	writer := openLog(t, srv)
	proxy := natstest.RunProxy(t, srv.ClientURL())
	nc, err := nats.Connect(proxy.URL(), nats.Name(t.Name()))
	require.NoError(t, err)
	defer nc.Close()
	follower, err := jslog.Create(ctx, nc, jslog.Config{})
	require.NoError(t, err)

	appendReport := func(i int) {
		e := ev(t, events.ReportSubmitted, "SWE", "2012-05-01", &events.Report{Kind: events.AnnualReport, Year: 2011})
		e.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("stall", i)))
		_, err := writer.Append(ctx, "SWE", jslog.AnyVersion, e)
		require.NoError(t, err)
	}
	seen := make(chan uint64, 8)
	done := make(chan error, 1)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		done <- follower.Follow(fctx, jslog.FollowOptions{Durable: "stalled"}, func(_ context.Context, e events.Envelope) error {
			seen <- e.Seq
			return nil
		})
	}()
	next := func() uint64 {
		select {
		case s := <-seen:
			return s
		case err := <-done:
			t.Fatalf("Follow ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no event followed")
		}
		return 0
	}
	appendReport(1)
	require.Equal(t, uint64(1), next())

	proxy.Pause()
	appendReport(2)
	time.Sleep(3 * time.Second) // more than two missed heartbeats
	proxy.Resume()
	appendReport(3)
	assert.Equal(t, uint64(2), next(), "the event recorded during the stall")
	assert.Equal(t, uint64(3), next(), "the event recorded after it")
	stop()
	require.NoError(t, <-done)
}

// A read deletes its consumer when it ends: a thousand reads in a row leave
// none behind (nats-server allows 1,000 consumers a stream).
func TestReadsLeaveNoConsumerBehind(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, natstest.RunServer(t))
	_, err := l.Append(ctx, "SWE", 0, ev(t, events.Signed, "SWE", "2008-12-03", nil))
	require.NoError(t, err)
	for i := 0; i < 1100; i++ {
		_, err := l.Read(ctx, jslog.ReadOptions{}, func(events.Envelope) error { return nil })
		require.NoError(t, err, "read %d", i+1)
	}
	st, err := l.JetStream().Stream(ctx, l.StreamName())
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Consumers, "consumers left on the stream")
}

package jslog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// A read by subject filters delivers, in stream order and once each, the
// stored messages of every filter, overlapping ones too; what is not an
// event of its subject goes to the quarantine as in any read.
func TestReadBySubjects(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	publishRaw(t, srv, l) // SWE signed, 8 raw messages, NOR signed
	for _, e := range []events.Envelope{
		ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}),
		ev(t, events.Deposited, "NOR", "2008-12-03", &events.Deposit{Instrument: events.Ratification}),
		ev(t, events.ReportSubmitted, "NOR", "2011-06-01", &events.Report{Kind: events.InitialReport}),
		ev(t, events.Deposited, "LAO", "2009-03-18", &events.Deposit{Instrument: events.Ratification}),
	} {
		_, err := l.Append(ctx, e.Scope(), jslog.AnyVersion, e)
		require.NoError(t, err)
	}
	var seqs []uint64
	var kept []uint64
	last, err := l.Read(ctx, jslog.ReadOptions{
		Subjects:   []string{events.ScopeFilter("SWE"), events.SubjectPrefix + "*.deposited"},
		Quarantine: func(q events.Quarantined) { kept = append(kept, q.Seq) },
	}, func(e events.Envelope) error { seqs = append(seqs, e.Seq); return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(14), last)
	assert.Equal(t, []uint64{1, 11, 12, 14}, seqs, "SWE's events and every deposit, SWE's once")
	assert.Equal(t, []uint64{2, 4, 6, 9}, kept, "what is on SWE's subjects and not its event")

	_, err = l.Read(ctx, jslog.ReadOptions{Scope: "SWE", Subjects: []string{events.ScopeFilter("NOR")}}, func(events.Envelope) error { return nil })
	assert.ErrorContains(t, err, "not both")
	seqs = nil
	last, err = l.Read(ctx, jslog.ReadOptions{UpToSeq: 12, Subjects: []string{events.Subject("SWE", events.Deposited), events.ScopeFilter("SWE"),
		events.Subject("NOR", events.ReportSubmitted), events.SubjectPrefix + "*.signed"}},
		func(e events.Envelope) error { seqs = append(seqs, e.Seq); return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(12), last)
	assert.Equal(t, []uint64{1, 10, 11}, seqs, "a filter within another, up to a sequence")

	// A handler's error stops the read, and it leaves no consumer.
	stop := errors.New("enough")
	n := 0
	_, err = l.Read(ctx, jslog.ReadOptions{Subjects: []string{events.ScopeFilter("SWE"), events.SubjectPrefix + "*.deposited"}},
		func(events.Envelope) error { n++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
	st, err := l.JetStream().Stream(ctx, l.StreamName())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Consumers == 0
	}, 10*time.Second, 20*time.Millisecond, "consumers left on the stream")
}

// Last gives where a read with the same bounds ends: the last message it
// delivers, event or not, and its record time.
func TestLastIsWhereAReadEnds(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	seq, at, err := l.Last(ctx, 0, time.Time{})
	require.NoError(t, err)
	assert.Zero(t, seq, "an empty log")
	assert.True(t, at.IsZero())

	publishRaw(t, srv, l)
	for i := range 5 {
		time.Sleep(2 * time.Millisecond)
		e := ev(t, events.ReportSubmitted, "SWE", "2017-04-30", &events.Report{Kind: events.AnnualReport, Year: 2011 + i})
		_, err := l.Append(ctx, "SWE", jslog.AnyVersion, e)
		require.NoError(t, err)
	}
	var msgs []evidence.Message
	_, err = l.ReadMessages(ctx, 1, 0, func(m evidence.Message) error { msgs = append(msgs, m); return nil })
	require.NoError(t, err)
	require.Len(t, msgs, 15)
	end := func(upTo uint64, until time.Time) (uint64, time.Time) {
		var seq uint64
		var at time.Time
		_, err := l.Read(ctx, jslog.ReadOptions{UpToSeq: upTo, UpToTime: until, Quarantine: func(q events.Quarantined) {
			seq, at = q.Seq, q.Recorded
		}}, func(e events.Envelope) error { seq, at = e.Seq, e.Recorded; return nil })
		require.NoError(t, err)
		return seq, at
	}
	type bound struct {
		upTo  uint64
		until time.Time
	}
	bounds := []bound{{}, {upTo: 15}, {upTo: 99}, {upTo: 1}, {upTo: 5}, {upTo: 12},
		{until: msgs[0].Recorded.Add(-time.Nanosecond)}, {until: msgs[14].Recorded.Add(time.Hour)}}
	for _, i := range []int{0, 4, 9, 11, 13} {
		bounds = append(bounds, bound{until: msgs[i].Recorded}, bound{until: msgs[i].Recorded.Add(time.Millisecond)},
			bound{upTo: uint64(i + 3), until: msgs[i].Recorded}, bound{upTo: uint64(i + 1), until: msgs[14].Recorded})
	}
	for _, b := range bounds {
		wantSeq, wantAt := end(b.upTo, b.until)
		seq, at, err := l.Last(ctx, b.upTo, b.until)
		require.NoError(t, err)
		assert.Equal(t, wantSeq, seq, "last of %+v", b)
		assert.True(t, wantAt.Equal(at), "record time of the last of %+v: %s, not %s", b, at, wantAt)
	}
}

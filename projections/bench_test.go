package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// BenchmarkReportAsOfMeeting measures the report as of a meeting on a
// 100,000-event ledger on an embedded server: through the meeting's
// snapshot, through the snapshot with events recorded since (backdated,
// not yet refreshed), through the snapshot for a date before the meeting,
// and by a fold of the whole log. The ratio of the fold to the snapshot
// is logged.
//
//	go test ./projections/ -run '^$' -bench ReportAsOfMeeting -benchtime 10x -benchmem -v
func BenchmarkReportAsOfMeeting(b *testing.B) {
	ctx := context.Background()
	start := time.Now()
	j := newJetStreamLedger(b, 100_000, 1)
	b.Logf("imported 100,000 events in %v", time.Since(start).Round(time.Millisecond))
	eng := projections.NewEngine(logsource.New(j.log), j.snaps, projections.Options{})
	start = time.Now()
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(b, err)
	built := time.Since(start)
	infos, err := eng.Snapshots(ctx)
	require.NoError(b, err)
	var facts, size int
	for _, in := range infos {
		facts, size = facts+in.Facts, size+in.Bytes
	}
	b.Logf("built %d snapshots (%d State keys, %d facts, %d MB) in %v", st.Created, st.States, facts, size>>20, built.Round(time.Millisecond))
	keys, values, stored := bucketSize(b, j)
	b.Logf("bucket: %d keys, %.1f MB of values, %.1f MB in the stream", keys, values, stored)
	bounds, err := eng.Resolve(ctx, synth.MeetingCode(2020), "", synth.End)
	require.NoError(b, err)
	report := func(b *testing.B, e *projections.Engine, bd projections.Bounds) time.Duration {
		for b.Loop() {
			if _, err := e.Report(ctx, bd); err != nil {
				b.Fatal(err)
			}
		}
		return b.Elapsed() / time.Duration(b.N)
	}
	var snap, full time.Duration
	b.Run("snapshot", func(b *testing.B) {
		snap = report(b, eng, bounds)
		b.ReportMetric(values, "bucket-MB")
		b.ReportMetric(stored, "stream-MB")
	})
	b.Run("full-fold", func(b *testing.B) {
		full = report(b, projections.NewEngine(logsource.New(j.log), nil, projections.Options{}), bounds)
	})
	b.Run("snapshot-date-before-meeting", func(b *testing.B) {
		report(b, eng, projections.Bounds{AsOf: bounds.AsOf.AddDate(0, -2, 0)})
	})
	// 200 events recorded since the snapshots, dated before the meeting.
	for i := range 200 {
		e, err := events.New([16]byte{}, events.AssistanceRequested, "NOR", bounds.AsOf.AddDate(0, 0, -i),
			&events.Assistance{Areas: []string{"clearance"}}, "benchmark: backdated assistance")
		require.NoError(b, err)
		_, err = j.ledger.Record(ctx, e)
		require.NoError(b, err)
	}
	b.Run("snapshot-200-events-behind", func(b *testing.B) { report(b, eng, bounds) })
	start = time.Now()
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(b, err)
	b.Logf("refreshed after 200 events in %v: %d State keys written", time.Since(start).Round(time.Millisecond), st.States)
	// One event dated before the 2012 meeting, then a refresh.
	b.Run("refresh-1-event", func(b *testing.B) {
		written, i := 0, 0
		for b.Loop() {
			b.StopTimer()
			i++
			e, err := events.New([16]byte{}, events.AssistanceRequested, "NOR", events.MustDate("2012-03-01").AddDate(0, 0, i),
				&events.Assistance{Areas: []string{"clearance"}}, "benchmark: backdated assistance")
			require.NoError(b, err)
			_, err = j.ledger.Record(ctx, e)
			require.NoError(b, err)
			b.StartTimer()
			st, err := eng.RefreshSnapshots(ctx)
			require.NoError(b, err)
			written += st.States
		}
		b.ReportMetric(float64(written)/float64(b.N), "keys/op")
	})
	keys, values, stored = bucketSize(b, j)
	b.Logf("bucket after the refreshes: %d keys, %.1f MB of values, %.1f MB in the stream", keys, values, stored)
	if snap > 0 {
		b.Logf("report as of %s: %v through the snapshot, %v by a fold of the log: %.0f times faster",
			bounds.Meeting, snap.Round(time.Microsecond), full.Round(time.Microsecond), float64(full)/float64(snap))
	}
}

// bucketSize returns the number of keys of the snapshot bucket, the size
// of their values, and the bytes of the bucket's stream (its messages
// before the S2 compression on disk), in MB.
func bucketSize(b *testing.B, j *jetStreamLedger) (keys int, values, stored float64) {
	ctx := context.Background()
	ks, err := j.snaps.Keys(ctx)
	require.NoError(b, err)
	n := 0
	for _, k := range ks {
		v, _, err := j.snaps.Get(ctx, k)
		require.NoError(b, err)
		n += len(v)
	}
	status, err := j.kv.Status(ctx)
	require.NoError(b, err)
	return len(ks), float64(n) / (1 << 20), float64(status.Bytes()) / (1 << 20)
}

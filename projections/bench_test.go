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
//	go test ./projections/ -run '^$' -bench ReportAsOfMeeting -benchtime 20x
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
	b.Run("snapshot", func(b *testing.B) { snap = report(b, eng, bounds) })
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
	if snap > 0 {
		b.Logf("report as of %s: %v through the snapshot, %v by a fold of the log: %.0f times faster",
			bounds.Meeting, snap.Round(time.Microsecond), full.Round(time.Microsecond), float64(full)/float64(snap))
	}
}

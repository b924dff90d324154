package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// BenchmarkLiveCatchUp reads a log of 100,000 synthetic events into a live
// fold from nothing (what `ccm serve` does before it answers), against a
// full fold of the same log by the engine, in the same run:
//
//	go test ./projections/ -run '^$' -bench LiveCatchUp -benchtime 3x -v
func BenchmarkLiveCatchUp(b *testing.B) {
	ctx := context.Background()
	j := newJetStreamLedger(b, 100_000, 1)
	b.Run("live", func(b *testing.B) {
		for b.Loop() {
			l := projections.NewLive(logsource.New(j.log))
			lctx, stop := context.WithCancel(ctx)
			go func() { _ = l.Run(lctx) }()
			require.NoError(b, l.Sync(ctx))
			stop()
		}
		b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("fold", func(b *testing.B) {
		eng := projections.NewEngine(logsource.New(j.log), nil, projections.Options{})
		for b.Loop() {
			_, err := eng.Fold(ctx, projections.Bounds{AsOf: 99_999_999})
			require.NoError(b, err)
		}
		b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

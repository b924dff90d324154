package compliance_test

import (
	"testing"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

func synthFold(b *testing.B, n int) *projections.Fold {
	b.Helper()
	f := projections.NewFold()
	for i, e := range synth.Generate(n, 1) {
		e.Seq = uint64(i + 1)
		f.Apply(e)
	}
	return f
}

// BenchmarkDeriveAll measures a first run's derivation (every scope) on a
// synthetic ledger of 100,000 events.
func BenchmarkDeriveAll(b *testing.B) {
	f := synthFold(b, 100_000)
	upTo := events.MustDate("2026-01-01")
	b.ResetTimer()
	n := 0
	for range b.N {
		n = len(compliance.DeriveAll(f, upTo, compliance.Options{}))
	}
	b.ReportMetric(float64(n), "transitions")
}

// BenchmarkDeriveOneState measures what the live projector does per event:
// the transitions of the event's State.
func BenchmarkDeriveOneState(b *testing.B) {
	f := synthFold(b, 100_000)
	upTo := events.MustDate("2026-01-01")
	scopes := f.Scopes()
	b.ResetTimer()
	for i := range b.N {
		compliance.Derive(f, scopes[i%len(scopes)], upTo, compliance.Options{})
	}
}

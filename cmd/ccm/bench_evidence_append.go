package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// notaryAppendScenario: the single validated append (one event at a time,
// as clerks record them), on servers with the evidence stream, without and
// with a notary running alongside as ccm serve runs it; the timed region
// ends when the notary has read every message and signed the head. Runs
// alternate which of the two goes first.
func (b *bencher) notaryAppendScenario(ctx context.Context, evs []events.Envelope) (benchResult, error) {
	r := benchResult{Name: fmt.Sprintf("single validated append, notary signing every %d", benchCheckpointEvery), Events: len(evs),
		Baseline: "the same appends without the notary"}
	var quotients []float64
	for run := 0; run < b.runs; run++ {
		var plain, signed float64
		for _, withNotary := range []bool{run%2 == 1, run%2 == 0} {
			d, err := b.appendOnce(ctx, run, evs, withNotary)
			if err != nil {
				return r, err
			}
			if withNotary {
				signed = rate(len(evs), d)
			} else {
				plain = rate(len(evs), d)
			}
		}
		r.BaseRuns = append(r.BaseRuns, plain)
		r.Runs = append(r.Runs, signed)
		quotients = append(quotients, signed/plain)
	}
	r = b.finish(r, aimNotaryQuotient)
	r.Aim = fmt.Sprintf("≥ %.2f × without", aimNotaryQuotient)
	r.Figures = map[string]float64{"quotient_median_of_runs": median(quotients)}
	r.Note = fmt.Sprintf("appends with the notary / without: %.3f (per-run %s); the notary looks every second and signs every %d messages, as in ccm serve, and the last head inside the timed region",
		r.Ratio, floats(quotients, "%.3f"), benchCheckpointEvery)
	return r, nil
}

// appendOnce times the appends on a fresh server, with a notary or not.
func (b *bencher) appendOnce(ctx context.Context, run int, evs []events.Envelope, withNotary bool) (time.Duration, error) {
	el, err := b.evidenceLedger(ctx)
	if err != nil {
		return 0, err
	}
	defer el.stop()
	var nt *notary.Notary
	if withNotary {
		if nt, err = notary.Start(ctx, el.log, el.store, el.key, nil, notary.Options{Every: benchCheckpointEvery}); err != nil {
			return 0, err
		}
		defer nt.Stop()
	}
	name := map[bool]string{false: "evidence-append-plain", true: "evidence-append-notary"}[withNotary]
	return b.timed(name, run, func() error {
		for _, e := range evs {
			if _, err := el.led.Record(ctx, e); err != nil {
				return fmt.Errorf("%s %s %s: %w", e.Type, e.Scope(), e.Date, err)
			}
		}
		if nt == nil {
			return nil
		}
		cp, err := nt.Checkpoint(ctx, false)
		if err == nil && cp.Size != uint64(len(evs)) {
			err = fmt.Errorf("the notary signed %d messages of %d", cp.Size, len(evs))
		}
		return err
	})
}

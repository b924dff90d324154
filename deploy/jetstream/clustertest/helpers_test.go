package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// createLog creates the ledger's R3 stream as the operator, the role that
// creates it (deploy/README.md).
func createLog(t *testing.T, c *natstest.Cluster) *jslog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := jslog.Create(ctx, c.DialRole(t, "operator"), jslog.Config{Replicas: 3})
	require.NoError(t, err, "the operator creates the R3 stream")
	return l
}

// openLog opens the existing log as role.
func openLog(t *testing.T, c *natstest.Cluster, role string) *jslog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := jslog.Open(ctx, c.DialRole(t, role), jslog.Config{Replicas: 3})
	require.NoError(t, err, "open the log as %s", role)
	return l
}

// genNamespace names the generated events' ids.
var genNamespace = uuid.MustParse("0b7c1c53-7d2e-4b8e-9a57-1f0f8d7c2a10")

// generate returns n valid events spread over the States, with distinct,
// reproducible ids: annual Article 7 reports and stockpile destruction
// progress.
func generate(t testing.TB, n int) []events.Envelope {
	t.Helper()
	states := events.States()
	out := make([]events.Envelope, n)
	base := events.MustDate("2011-01-01")
	for i := range n {
		st := states[i%len(states)].ISO3
		round := i / len(states)
		id := uuid.NewSHA1(genNamespace, fmt.Appendf(nil, "generated event %d", i))
		date := base.AddDate(0, 0, round%3000)
		var e events.Envelope
		var err error
		if i%2 == 0 {
			e, err = events.New(id, events.ReportSubmitted, st, date, &events.Report{Kind: events.AnnualReport, Year: date.Year() - 1}, "generated for a cluster test")
		} else {
			munitions, submunitions := int64(i), int64(10*i)
			e, err = events.New(id, events.StockpileDestroyed, st, date, &events.Quantities{Munitions: &munitions, Submunitions: &submunitions}, "generated for a cluster test")
		}
		require.NoError(t, err, "generate event %d", i)
		out[i] = e
	}
	return out
}

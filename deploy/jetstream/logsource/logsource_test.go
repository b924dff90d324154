package logsource_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Two thousand as-of queries in a row, each reading the log, all answered,
// and the stream holds no more consumers than before: no query leaves a
// server resource behind. nats-server allows 1,000 consumers a stream and
// kept each read's for 5 minutes: query 1,001 failed. (Each query folds the
// whole log, about 9 ms here: ten thousand would take the suite 90 s more.)
func TestQueriesLeaveNoConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log, err := jslog.Create(ctx, natstest.RunServer(t).Conn(t), jslog.Config{})
	require.NoError(t, err)
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	_, err = aggregates.NewLedger(log, time.Now).Import(ctx, evs, nil)
	require.NoError(t, err)
	consumers := func() int {
		st, err := log.JetStream().Stream(ctx, log.StreamName())
		require.NoError(t, err)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		return info.State.Consumers
	}
	before := consumers()
	eng := projections.NewEngine(logsource.New(log), nil, projections.Options{})
	today := events.DateOf(time.Now())
	const queries = 2_000
	for i := 0; i < queries; i++ {
		// Dates across the record, every State's read of its own events.
		asOf := events.MustDate("2008-12-03").AddDate(0, 0, i%1500).String()
		b, err := eng.Resolve(ctx, asOf, "", today)
		require.NoError(t, err, "query %d", i+1)
		_, err = eng.Status(ctx, "SWE", b)
		require.NoError(t, err, "query %d as of %s", i+1, asOf)
	}
	require.Equal(t, before, consumers(), "consumers left on the stream after %d queries", queries)
}

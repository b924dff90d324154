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

// Ten thousand as-of queries in a row from the live fold `ccm serve`
// answers from, all answered, and the stream holds no more consumers than
// before: no query leaves a server resource behind. nats-server allows
// 1,000 consumers a stream, and each read used to keep its own for 5
// minutes: query 1,001 failed. One-shot queries read the log each time
// (about 15 ms a query here), so 1,100 of them show they leave none.
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
	const oneShot, queries = 1_100, 10_000
	ask := func(eng *projections.Engine, i int) {
		// Dates across the record, one State's read of its own events.
		asOf := events.MustDate("2008-12-03").AddDate(0, 0, i%1500).String()
		b, err := eng.Resolve(ctx, asOf, "", events.DateOf(time.Now()))
		require.NoError(t, err, "query %d", i+1)
		_, err = eng.Status(ctx, "SWE", b)
		require.NoError(t, err, "query %d as of %s", i+1, asOf)
	}
	eng := projections.NewEngine(logsource.New(log), nil, projections.Options{})
	for i := range oneShot {
		ask(eng, i)
	}
	require.Equal(t, before, consumers(), "consumers left on the stream after %d queries", oneShot)

	live := projections.NewLive(logsource.New(log))
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = live.Run(lctx) }()
	eng = projections.NewEngine(logsource.New(log), nil, projections.Options{}, projections.WithLive(live))
	for i := range queries {
		ask(eng, i)
		if i%1000 == 0 {
			_, err := eng.Report(ctx, projections.Bounds{AsOf: events.DateOf(time.Now())})
			require.NoError(t, err)
		}
	}
	require.Equal(t, before, consumers(), "consumers left on the stream after %d queries of the live fold", queries)
}

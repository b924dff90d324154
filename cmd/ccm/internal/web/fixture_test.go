package web_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/web"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// testToken is the bearer token of the fixture's servers.
const testToken = "W3b-t0ken-for-the-tests_0123456789abcdefgh"

// today is the fixture's clock: after the record's last fact.
var today = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// ledger is a ledger on an embedded JetStream server with its live fold,
// as `ccm serve` keeps them.
type ledger struct {
	log    *jslog.Log
	ledger *aggregates.Ledger
	live   *projections.Live
	// engine answers from the log alone, as the command line does: the
	// tests' reference.
	engine *projections.Engine
}

// newLedger records evs (the bundled record when nil) and starts the live
// fold; the test's end stops both.
func newLedger(tb testing.TB, evs []events.Envelope) *ledger {
	tb.Helper()
	ctx := context.Background()
	srv := natstest.RunServer(tb)
	l, err := jslog.Create(ctx, srv.Conn(tb), jslog.Config{})
	require.NoError(tb, err)
	lg := aggregates.NewLedger(l, func() time.Time { return today })
	if evs == nil {
		evs, err = events.ReadAll(bytes.NewReader(record.JSONL()))
		require.NoError(tb, err)
	}
	_, err = lg.Import(ctx, evs, nil)
	require.NoError(tb, err, "import the ledger")
	live := projections.NewLive(logsource.New(l), projections.LiveEvery(100*time.Millisecond))
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = live.Run(lctx)
	}()
	tb.Cleanup(func() { cancel(); <-done })
	require.NoError(tb, live.Sync(ctx), "read the log into the live fold")
	return &ledger{log: l, ledger: lg, live: live, engine: projections.NewEngine(logsource.New(l), nil, projections.Options{})}
}

// serve mounts the API and the web view on the ledger as `ccm serve`
// does, on a loopback test server. Access.Addr is the listener's unless a
// gives one (a server that believes it listens elsewhere).
func (lg *ledger) serve(tb testing.TB, a httpapi.Access) *httptest.Server {
	tb.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if a.Addr == "" {
		a.Addr = ts.Listener.Addr().String()
	}
	quiet := log.New(io.Discard, "", 0)
	logged := log.New(testLog{tb}, "", 0)
	queries := func(o projections.Options) *projections.Engine {
		return projections.NewEngine(logsource.New(lg.log), nil, o, projections.WithLive(lg.live))
	}
	api := httpapi.New(httpapi.Config{
		Recorder: lg.ledger,
		Querier:  func(o projections.Options) httpapi.Querier { return queries(o) },
		Log:      lg.log,
		ViewsSeq: lg.live.Seq,
		Now:      func() time.Time { return today },
		Logger:   quiet,
		Access:   a,
	})
	pages := web.New(web.Config{
		Querier:  func(o projections.Options) web.Querier { return queries(o) },
		ViewsSeq: lg.live.Seq,
		Access:   a,
		Now:      func() time.Time { return today },
		Poll:     100 * time.Millisecond,
		Logger:   logged,
	})
	ts.Config.Handler = web.Mount(api, pages)
	ts.Config.RegisterOnShutdown(pages.Close)
	ts.Start()
	tb.Cleanup(func() { pages.Close(); ts.Close() })
	return ts
}

// testLog writes a server's log lines to the test's log.
type testLog struct{ tb testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

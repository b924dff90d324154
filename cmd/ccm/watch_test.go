package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// TestWatchSurvivesAStalledNetwork: `ccm watch --durable` whose connection
// stops delivering for longer than two heartbeats (its pull request and the
// heartbeats are held, as when a consumer leader is elected after the
// request or a network path stalls) goes on once traffic flows, and prints
// the event published meanwhile.
func TestWatchSurvivesAStalledNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), slow*30*time.Second)
	defer cancel()
	srv := natstest.RunServer(t)
	js := srv.JetStream(t)
	st, err := projector.EnsureStream(ctx, js, projector.StreamConfig("", 1, 0))
	require.NoError(t, err)
	publish := func(i int) uuid.UUID {
		e := compliance.Event{
			ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("stall", i))), Kind: compliance.ReportOverdue,
			State: "SWE", Date: events.MustDate("2012-05-01").AddDate(0, 0, i), Rule: "test", Key: fmt.Sprint("stall-", i),
		}
		b, err := json.Marshal(e)
		require.NoError(t, err)
		_, err = js.Publish(ctx, e.Subject(), b, jetstream.WithMsgID(e.ID.String()))
		require.NoError(t, err)
		return e.ID
	}
	proxy := natstest.RunProxy(t, srv.ClientURL())

	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := ccmRun(ctx, nil, "watch", "SWE.>", "--durable", "stalled", "--from-start", "--count", "2", "--format", "json", "--nats-url", proxy.URL())
		done <- result{code, out, errs}
	}()
	first := publish(1)
	// Wait until the watcher has acknowledged the first event.
	require.Eventually(t, func() bool {
		c, err := st.Consumer(ctx, "stalled")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream == 1
	}, slow*10*time.Second, 20*time.Millisecond, "the watcher acknowledges the first event")

	proxy.Pause()
	second := publish(2)
	time.Sleep(3 * watchHeartbeat) // more than two missed heartbeats
	proxy.Resume()

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("ccm watch did not end")
	}
	require.Equal(t, exitOK, r.code, "ccm watch through a stalled network: %s", r.errs)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 2, r.out)
	var got []uuid.UUID
	for _, l := range lines {
		var e compliance.Event
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		got = append(got, e.ID)
	}
	assert.Equal(t, []uuid.UUID{first, second}, got, "both events, in order, once each")
}

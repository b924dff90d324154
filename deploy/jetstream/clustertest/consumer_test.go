package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// follow reads n events with the durable consumer, as the ledger's
// projector does (jslog.Follow), and returns their sequences.
func follow(t *testing.T, l *jslog.Log, durable string, n int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seqs []uint64
	err := l.Follow(ctx, jslog.FollowOptions{Durable: durable}, func(_ context.Context, e events.Envelope) error {
		seqs = append(seqs, e.Seq)
		if len(seqs) == n {
			cancel()
		}
		return nil
	})
	require.NoError(t, err, "follow with %s", durable)
	require.Len(t, seqs, n, "events delivered to %s within 30s", durable)
	return seqs
}

// waitAcked waits until the consumer has every event up to seq
// acknowledged (acknowledgements are sent after the handler returns).
func waitAcked(t *testing.T, js jetstream.JetStream, durable string, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := consumerNow(t, js, jslog.DefaultStream, durable)
		require.NotNil(t, s, "consumer %s", durable)
		if s.AckFloor.Stream == seq && s.NumAckPending == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s: acknowledged up to %d with %d pending, want %d and none", durable, s.AckFloor.Stream, s.NumAckPending, seq)
		time.Sleep(25 * time.Millisecond)
	}
}

// TestOnlyTheLedgerUsesItsConsumer: the ledger's durable consumer on the
// log, ccm-projector, delivers the events its projector derives the
// compliance events from. A consumer of that name made by someone else
// before the ledger's, or a change of it (a narrower filter), a pull, an
// acknowledgement, a reset, a pause or its deletion would make the
// projector miss events or stop. Each is refused to every role but the
// ledger, the consumer is left as it was, and the ledger resumes where it
// stopped.
func TestOnlyTheLedgerUsesItsConsumer(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ledger := openLog(t, c, roles.Ledger)
	evs := generate(t, 13)
	appendAsLedger(t, ledger, evs[:10])
	ojs := operatorJS(t, c)
	durable := projector.DefaultDurable
	narrow := "ccm.events.SWE.>"

	type attempt struct {
		what, subject string
		call          func(ctx context.Context, nc *nats.Conn) error
	}
	create := []attempt{
		{"create it", "$JS.API.CONSUMER.CREATE.CCM." + durable, withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateConsumer(ctx, jslog.DefaultStream, jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy})
			return err
		})},
		{"create it with a narrower filter", "$JS.API.CONSUMER.CREATE.CCM." + durable + "." + narrow, withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateConsumer(ctx, jslog.DefaultStream, jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: narrow})
			return err
		})},
		{"create it with the legacy durable subject", "$JS.API.CONSUMER.DURABLE.CREATE.CCM." + durable,
			request("$JS.API.CONSUMER.DURABLE.CREATE.CCM."+durable, `{"stream_name":"CCM","config":{"durable_name":"`+durable+`","ack_policy":"explicit"}}`)},
		{"create it with the legacy subject, named in the request", "$JS.API.CONSUMER.CREATE.CCM",
			request("$JS.API.CONSUMER.CREATE.CCM", `{"stream_name":"CCM","config":{"name":"`+durable+`","ack_policy":"explicit","filter_subject":"`+narrow+`"}}`)},
	}
	use := []attempt{
		{"delete it", "$JS.API.CONSUMER.DELETE.CCM." + durable, withJS(func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteConsumer(ctx, jslog.DefaultStream, durable)
		})},
		{"pull from it", "$JS.API.CONSUMER.MSG.NEXT.CCM." + durable,
			request("$JS.API.CONSUMER.MSG.NEXT.CCM."+durable, `{"batch":10,"expires":1000000000}`)},
		{"acknowledge on it", "$JS.ACK.CCM." + durable + ".1.10.10.1700000000000000000.0", func(ctx context.Context, nc *nats.Conn) error {
			if err := nc.Publish("$JS.ACK.CCM."+durable+".1.10.10.1700000000000000000.0", []byte("+ACK")); err != nil {
				return err
			}
			return nc.FlushWithContext(ctx)
		}},
		{"reset it", "$JS.API.CONSUMER.RESET.CCM." + durable, request("$JS.API.CONSUMER.RESET.CCM."+durable, `{"seq":5}`)},
		{"pause it", "$JS.API.CONSUMER.PAUSE.CCM." + durable, request("$JS.API.CONSUMER.PAUSE.CCM."+durable, `{"pause_until":"2099-01-01T00:00:00Z"}`)},
	}

	for _, role := range otherRoles {
		for _, a := range create {
			t.Run(fmt.Sprintf("before the ledger's, %s may not %s", role, a.what), func(t *testing.T) {
				refused(t, c, role, publish, a.subject, a.call)
			})
		}
	}
	assert.Nil(t, consumerNow(t, ojs, jslog.DefaultStream, durable), "no consumer named %s", durable)

	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, follow(t, ledger, durable, 10), "the ledger's consumer delivers every event")
	waitAcked(t, ojs, durable, 10)
	before := consumerNow(t, ojs, jslog.DefaultStream, durable)
	for _, role := range otherRoles {
		for _, a := range append(create, use...) {
			t.Run(fmt.Sprintf("%s may not %s", role, a.what), func(t *testing.T) {
				refused(t, c, role, publish, a.subject, a.call)
			})
		}
	}
	assert.Equal(t, before, consumerNow(t, ojs, jslog.DefaultStream, durable), "the ledger's consumer is as it was")

	appendAsLedger(t, ledger, evs[10:])
	assert.Equal(t, []uint64{11, 12, 13}, follow(t, ledger, durable, 3), "the ledger resumes after the last event it handled")
}

package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// The streams infra.Ensure makes: the log, the compliance stream and the
// streams of the two buckets.
var (
	snapshotsStream = "KV_" + jslog.SnapshotBucket
	projectorStream = "KV_" + projector.DefaultBucket
	ledgerStreams   = []string{jslog.DefaultStream, notary.StreamName(jslog.DefaultStream), projector.DefaultStream, snapshotsStream, projectorStream}
)

// errCodeNoPeers is the server's refusal to place a stream
// (JSClusterNoPeersErr); nats.go has no constant for it.
const errCodeNoPeers jetstream.ErrorCode = 10005

// ensure creates the ledger's streams and buckets as the operator, the
// only role that may (infra.Ensure, as `ccm init` does), with three
// replicas, and waits until every node holds a current replica of each.
//
// A meta leader elected again (on a loaded machine) refuses to place a
// stream until it has heard from every node ("no suitable peers for
// placement"); infra.Ensure keeps what it made, so it is run again until
// that passes, within a bound. Created says whether any run made it.
func ensure(t *testing.T, c *natstest.Cluster) []infra.Resource {
	t.Helper()
	nc := c.DialRole(t, roles.Operator)
	existed := map[string]bool{}
	for _, name := range storedNow(t, operatorJS(t, c)).Streams {
		existed[name] = true
	}
	deadline := time.Now().Add(30 * time.Second)
	for again := false; ; again = true {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := infra.Ensure(ctx, nc, jslog.Config{Replicas: 3}, projector.Config{})
		cancel()
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNoPeers && time.Now().Before(deadline) {
			t.Logf("infra.Ensure: %v; again", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		require.NoError(t, err, "the operator creates the streams and buckets")
		for i := range res {
			if again {
				res[i].Created = !existed[res[i].Name]
			}
		}
		for _, name := range ledgerStreams {
			require.NoError(t, c.WaitCaughtUp(name, 30*time.Second), "every node holds a current replica of %s", name)
		}
		return res
	}
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

// operatorJS is a JetStream context of the operator, who may look at
// every stream and consumer.
func operatorJS(t *testing.T, c *natstest.Cluster) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.DialRole(t, roles.Operator))
	require.NoError(t, err)
	return js
}

// generate returns n valid events spread over the States, reproducible,
// each with its id derived from its content: annual Article 7 reports and
// stockpile destruction progress.
func generate(t testing.TB, n int) []events.Envelope {
	t.Helper()
	states := events.States()
	out := make([]events.Envelope, n)
	base := events.MustDate("2011-01-01")
	for i := range n {
		st := states[i%len(states)].ISO3
		round := i / len(states)
		source := fmt.Sprintf("generated event %d for a cluster test", i)
		date := base.AddDate(0, 0, round%3000)
		var e events.Envelope
		var err error
		if i%2 == 0 {
			e, err = events.New(uuid.Nil, events.ReportSubmitted, st, date, &events.Report{Kind: events.AnnualReport, Year: date.Year() - 1}, source)
		} else {
			munitions, submunitions := int64(i), int64(10*i)
			e, err = events.New(uuid.Nil, events.StockpileDestroyed, st, date, &events.Quantities{Munitions: &munitions, Submunitions: &submunitions}, source)
		}
		require.NoError(t, err, "generate event %d", i)
		out[i] = e
	}
	return out
}

// newEvent builds one event for a test, with its id derived.
func newEvent(t *testing.T, typ events.Type, state, date string, p events.Payload) events.Envelope {
	t.Helper()
	e, err := events.New(uuid.Nil, typ, state, events.MustDate(date), p, "cluster test: "+string(typ)+" "+state)
	require.NoError(t, err)
	return e
}

// appendAsLedger stores evs as the ledger, the only writer, in one chain
// after the log's end, and returns the last sequence.
func appendAsLedger(t *testing.T, l *jslog.Log, evs []events.Envelope) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head, err := l.Head(ctx)
	require.NoError(t, err)
	n, last, err := l.AppendChain(ctx, head.LastSeq, evs, nil)
	require.NoError(t, err, "the ledger appends %d events after %d", len(evs), head.LastSeq)
	require.Equal(t, len(evs), n)
	return last
}

// stored is what a refused operation must leave as it was: the account's
// streams, and the configuration and contents of each. A bucket's last
// sequence is its latest revision.
type stored struct {
	Streams  []string
	Configs  map[string]jetstream.StreamConfig
	Contents map[string]contents
}

type contents struct {
	Msgs, Bytes, FirstSeq, LastSeq uint64
	NumDeleted                     int
}

// storedNow reads what the streams hold, through js (the operator's).
func storedNow(t *testing.T, js jetstream.JetStream) stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := stored{Configs: map[string]jetstream.StreamConfig{}, Contents: map[string]contents{}}
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		s.Streams = append(s.Streams, n)
	}
	require.NoError(t, names.Err())
	slices.Sort(s.Streams)
	for _, n := range s.Streams {
		st, err := js.Stream(ctx, n)
		require.NoError(t, err, "stream %s", n)
		info := st.CachedInfo()
		s.Configs[n] = info.Config
		s.Contents[n] = contents{Msgs: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq,
			LastSeq: info.State.LastSeq, NumDeleted: info.State.NumDeleted}
	}
	return s
}

// consumerState is what must not change in a consumer that only its owner
// may use (pull requests waiting are left out: they come and go).
type consumerState struct {
	Config                        jetstream.ConsumerConfig
	Delivered, AckFloor           jetstream.SequenceInfo
	NumAckPending, NumRedelivered int
	NumPending                    uint64
}

// consumerNow returns the state of the consumer, or nil when it does not
// exist.
func consumerNow(t *testing.T, js jetstream.JetStream, stream, name string) *consumerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	require.NoError(t, err, "consumer %s on %s", name, stream)
	i := cons.CachedInfo()
	return &consumerState{Config: i.Config, Delivered: i.Delivered, AckFloor: i.AckFloor,
		NumAckPending: i.NumAckPending, NumRedelivered: i.NumRedelivered, NumPending: i.NumPending}
}

// refusalWait bounds the wait for the server's report of a refusal. The
// report comes at once; the bound only ends a test that would hang.
const refusalWait = 15 * time.Second

// violations replaces nc's error handler by one that hands the permission
// violations the server reports to the returned channel. (jslog.Dial's
// own handler is then gone: the connection is for raw API calls.)
func violations(nc *nats.Conn) <-chan string {
	ch := make(chan string, 64)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case ch <- err.Error():
			default:
			}
		}
	})
	return ch
}

// Operations the server refuses, as its violation reports name them.
const (
	publish   = "publish"
	subscribe = "subscription"
)

// refused runs call on a new connection of role and waits until the server
// reports that it refused the connection's op (publish or subscribe) to
// subject. Then call's context ends: a refused request gets no reply.
func refused(t *testing.T, c *natstest.Cluster, role, op, subject string, call func(ctx context.Context, nc *nats.Conn) error) {
	t.Helper()
	nc := c.DialRole(t, role)
	defer nc.Close()
	ch := violations(nc)
	ctx, cancel := context.WithTimeout(context.Background(), refusalWait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx, nc) }()
	want := strings.ToLower(fmt.Sprintf("for %s to %q", op, subject))
	var seen []string
	var result error
	returned := done
	for {
		select {
		case v := <-ch:
			if strings.Contains(strings.ToLower(v), want) {
				cancel()
				if returned != nil {
					<-returned
				}
				return
			}
			seen = append(seen, v)
		case result = <-returned:
			returned = nil // keep waiting for the report
		case <-ctx.Done():
			t.Errorf("%s: %s to %s: want the server's permissions violation, got none after %v (call returned %v; other violations: %q)",
				role, op, subject, refusalWait, result, seen)
			return
		}
	}
}

// requirePermissionError checks that err is jslog's refusal of role's op
// on a subject starting with subject: the server's report, noticed at once
// rather than after a timeout.
func requirePermissionError(t *testing.T, err error, role, op, subject string) {
	t.Helper()
	require.ErrorIs(t, err, jslog.ErrPermissionDenied, "%s: %s to %s: got %v", role, op, subject, err)
	var pe *jslog.PermissionError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, role, pe.User, "refused user")
	assert.Equal(t, op, pe.Op, "refused operation")
	assert.True(t, strings.HasPrefix(pe.Subject, subject), "refused subject: got %s, want %s...", pe.Subject, subject)
}

// otherRoles are the roles but the ledger.
var otherRoles = []string{roles.Operator, roles.Recorder, roles.Auditor, roles.Service}

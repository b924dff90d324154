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
)

// complianceSubjects are the compliance events the tests publish as the
// ledger's projector would.
var complianceSubjects = []string{"ccm.compliance.SWE.obligation-fulfilled", "ccm.compliance.LAO.deadline-approaching"}

// publishCompliance publishes one event on each of complianceSubjects as
// the ledger.
func publishCompliance(t *testing.T, ledger *jslog.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, subj := range complianceSubjects {
		_, err := ledger.JetStream().Publish(ctx, subj, fmt.Appendf(nil, `{"n":%d}`, i))
		require.NoError(t, err, "the ledger publishes %s", subj)
	}
}

// fetchAll pulls n messages from cons, acknowledging each. A pull request
// may be lost while a new consumer's leader settles, so it pulls again
// until n came or the bound passed.
func fetchAll(t *testing.T, cons jetstream.Consumer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for len(got) < n && time.Now().Before(deadline) {
		batch, err := cons.Fetch(n-len(got), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			got = append(got, m.Subject())
			require.NoError(t, m.Ack())
		}
	}
	require.Len(t, got, n, "messages fetched within 30s: %v", got)
	return got
}

// TestServiceReadsOnlyComplianceEvents: the service role consumes the
// compliance stream and cannot reach raw events or the snapshots in any
// way: no stream info, consumer or get on CCM or the buckets, no
// subscription to the events' or views' subjects, none to the other
// users' inboxes; and it writes nothing.
func TestServiceReadsOnlyComplianceEvents(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ledger := openLog(t, c, roles.Ledger)
	appendAsLedger(t, ledger, generate(t, 5))
	publishCompliance(t, ledger)

	_, err := jslog.Open(ctx, c.DialRole(t, roles.Service), jslog.Config{Replicas: 3})
	requirePermissionError(t, err, roles.Service, "publish", "$JS.API.STREAM.INFO.CCM")

	sjs, err := jetstream.New(c.DialRole(t, roles.Service))
	require.NoError(t, err)
	cons, err := sjs.CreateOrUpdateConsumer(ctx, projector.DefaultStream, jetstream.ConsumerConfig{Durable: "deadlines", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err, "the service creates its consumer on %s", projector.DefaultStream)
	assert.Equal(t, complianceSubjects, fetchAll(t, cons, len(complianceSubjects)), "the service consumes the compliance events")

	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)
	for _, subject := range []string{
		"$JS.API.STREAM.INFO.CCM",
		"$JS.API.DIRECT.GET.CCM",
		"$JS.API.DIRECT.GET.CCM.ccm.events.SWE.>",
		"$JS.API.STREAM.MSG.GET.CCM",
		"$JS.API.CONSUMER.CREATE.CCM.peek",
		"$JS.API.CONSUMER.CREATE.CCM.peek.ccm.events.>",
		"$JS.API.STREAM.INFO.KV_CCM_SNAPSHOTS",
		"$JS.API.DIRECT.GET.KV_CCM_SNAPSHOTS.$KV.CCM_SNAPSHOTS.3MSP",
		"$JS.API.STREAM.INFO.KV_CCM_PROJECTOR",
		"$KV.CCM_SNAPSHOTS.3MSP",
		"ccm.events.SWE.signed",
		"ccm.compliance.SWE.forged",
	} {
		t.Run("publish "+subject, func(t *testing.T) {
			refused(t, c, roles.Service, publish, subject, request(subject, `{"seq":1}`))
		})
	}
	for _, subject := range []string{"ccm.events.>", "ccm.compliance.>", "ccm.>", ">", "_INBOX.>", "$KV.>"} {
		t.Run("subscribe "+subject, func(t *testing.T) {
			refused(t, c, roles.Service, subscribe, subject, func(ctx context.Context, nc *nats.Conn) error {
				if _, err := nc.SubscribeSync(subject); err != nil {
					return err
				}
				return nc.FlushWithContext(ctx)
			})
		})
	}
	assert.Equal(t, before, storedNow(t, ojs), "the service changed nothing")
}

// TestRolesKeepToTheirViews: the ledger keeps the views (the snapshot and
// checkpoint buckets, the compliance events); the auditor and the
// recorder read the snapshots; nobody else writes a view, or deletes or
// purges one of its keys, and the buckets keep their revisions.
func TestRolesKeepToTheirViews(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ledger := openLog(t, c, roles.Ledger)
	snaps, err := jslog.OpenSnapshots(ctx, ledger)
	require.NoError(t, err)
	require.NoError(t, snaps.Put(ctx, "3MSP", []byte("snapshot of 3MSP")), "the ledger writes a snapshot")
	checkpoints, err := ledger.JetStream().KeyValue(ctx, projector.DefaultBucket)
	require.NoError(t, err)
	_, err = checkpoints.Put(ctx, "checkpoint", []byte(`{"seq":0}`))
	require.NoError(t, err, "the ledger writes its checkpoint")
	publishCompliance(t, ledger)

	for _, role := range []string{roles.Auditor, roles.Recorder} {
		s, err := jslog.OpenSnapshots(ctx, openLog(t, c, role))
		require.NoError(t, err, "%s opens the snapshots", role)
		v, found, err := s.Get(ctx, "3MSP")
		require.NoError(t, err, "%s reads a snapshot", role)
		assert.True(t, found, "%s finds the snapshot", role)
		assert.Equal(t, "snapshot of 3MSP", string(v), "%s reads the ledger's snapshot", role)
		keys, err := s.Keys(ctx)
		require.NoError(t, err, "%s lists the snapshots", role)
		assert.Equal(t, []string{"3MSP"}, keys)
	}

	revision := func(kv jetstream.KeyValue, key string) uint64 {
		t.Helper()
		e, err := kv.Get(ctx, key)
		require.NoError(t, err, "get %s", key)
		return e.Revision()
	}
	snapshotsKV, err := ledger.JetStream().KeyValue(ctx, jslog.SnapshotBucket)
	require.NoError(t, err)
	revisions := []uint64{revision(snapshotsKV, "3MSP"), revision(checkpoints, "checkpoint")}
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)
	for _, role := range otherRoles {
		for _, w := range []struct {
			what, subject, operation string
		}{
			{"write a snapshot", "$KV.CCM_SNAPSHOTS.3MSP", ""},
			{"delete a snapshot", "$KV.CCM_SNAPSHOTS.3MSP", "DEL"},
			{"purge a snapshot", "$KV.CCM_SNAPSHOTS.3MSP", "PURGE"},
			{"write the checkpoint", "$KV.CCM_PROJECTOR.checkpoint", ""},
			{"delete the checkpoint", "$KV.CCM_PROJECTOR.checkpoint", "DEL"},
			{"publish a compliance event", "ccm.compliance.SWE.forged", ""},
		} {
			t.Run(role+" may not "+w.what, func(t *testing.T) {
				refused(t, c, role, publish, w.subject, func(ctx context.Context, nc *nats.Conn) error {
					m := nats.NewMsg(w.subject)
					m.Data = []byte("forged")
					if w.operation != "" {
						m.Header.Set("KV-Operation", w.operation)
					}
					_, err := nc.RequestMsgWithContext(ctx, m)
					return err
				})
			})
		}
	}
	assert.Equal(t, before, storedNow(t, ojs), "the views are as they were")
	assert.Equal(t, revisions, []uint64{revision(snapshotsKV, "3MSP"), revision(checkpoints, "checkpoint")}, "revisions of the snapshot and the checkpoint")
}

// TestReaderCannotCopyIntoAView: a reader may create consumers, and a push
// consumer delivers to any subject it is given. Were anyone allowed to
// subscribe to the log's or a view's subjects, a reader could have one
// stream's messages copied into another. Nobody may, and a subject that
// only a stream captures is no interest to deliver to: nothing is
// delivered, nothing copied. A consumer delivering to the reader's own
// inbox, made after the others, shows that deliveries happen meanwhile.
func TestReaderCannotCopyIntoAView(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ledger := openLog(t, c, roles.Ledger)
	const events = 5
	appendAsLedger(t, ledger, generate(t, events))
	publishCompliance(t, ledger)
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)

	for _, role := range []string{roles.Recorder, roles.Auditor} {
		nc := c.DialRole(t, role)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		copiers := []struct{ name, from, into string }{
			{role + "-log-into-compliance", jslog.DefaultStream, "ccm.compliance.SWE.forged"},
			{role + "-log-into-snapshots", jslog.DefaultStream, "$KV.CCM_SNAPSHOTS.forged"},
			{role + "-compliance-into-log", projector.DefaultStream, "ccm.events.SWE.signed"},
		}
		for _, cp := range copiers {
			_, err := js.CreateOrUpdatePushConsumer(ctx, cp.from, jetstream.ConsumerConfig{Name: cp.name, DeliverSubject: cp.into, AckPolicy: jetstream.AckNonePolicy})
			require.NoError(t, err, "%s may create a push consumer on %s delivering to %s", role, cp.from, cp.into)
			refused(t, c, role, subscribe, cp.into, func(ctx context.Context, nc *nats.Conn) error {
				if _, err := nc.SubscribeSync(cp.into); err != nil {
					return err
				}
				return nc.FlushWithContext(ctx)
			})
		}

		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		_, err = js.CreateOrUpdatePushConsumer(ctx, jslog.DefaultStream, jetstream.ConsumerConfig{Name: role + "-control", DeliverSubject: inbox, AckPolicy: jetstream.AckNonePolicy})
		require.NoError(t, err)
		for i := range events {
			_, err := sub.NextMsg(20 * time.Second)
			require.NoError(t, err, "%s: event %d of %d delivered to the reader's inbox", role, i+1, events)
		}
		for _, cp := range copiers {
			cons, err := js.PushConsumer(ctx, cp.from, cp.name)
			require.NoError(t, err)
			info := cons.CachedInfo()
			assert.Zero(t, info.Delivered.Stream, "%s delivered nothing", cp.name)
			assert.False(t, info.PushBound, "%s has no subscriber", cp.name)
		}
	}
	assert.Equal(t, before, storedNow(t, ojs), "nothing copied into a stream")
}

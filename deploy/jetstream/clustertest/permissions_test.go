package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// violations replaces nc's error handler by one that hands permission
// violations to the returned channel. (jslog.Dial's own handler is then
// gone: the connection is for raw API calls.)
func violations(nc *nats.Conn) <-chan string {
	ch := make(chan string, 64)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			ch <- err.Error()
		}
	})
	return ch
}

// refused waits for the server to report a violation naming subject.
func refused(t *testing.T, ch <-chan string, what, subject string) {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case v := <-ch:
			if strings.Contains(v, fmt.Sprintf("%q", subject)) {
				return
			}
		case <-deadline:
			t.Errorf("%s: want a permissions violation for %s, got none", what, subject)
			return
		}
	}
}

func TestOperatorCreatesTheR3Stream(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Only the operator may create the log.
	for _, role := range []string{"ledger", "recorder"} {
		start := time.Now()
		_, err := jslog.Create(ctx, c.DialRole(t, role), jslog.Config{Replicas: 3})
		require.ErrorIs(t, err, jslog.ErrPermissionDenied, "%s creating the stream; got %v", role, err)
		assert.Contains(t, err.Error(), "user "+role+" may not publish to $JS.API.STREAM.CREATE.CCM")
		assert.Less(t, time.Since(start), 2*time.Second, "refused at once")
	}

	l := createLog(t, c)
	info, err := l.JetStream().Stream(ctx, jslog.DefaultStream)
	require.NoError(t, err)
	cfg := info.CachedInfo().Config
	want := jslog.StreamConfig(jslog.Config{Replicas: 3})
	assert.Equal(t, 3, cfg.Replicas, "replicas")
	assert.Equal(t, want.Subjects, cfg.Subjects)
	assert.True(t, cfg.DenyDelete && cfg.DenyPurge, "delete and purge denied")
	assert.Equal(t, want.Duplicates, cfg.Duplicates, "duplicate window")
	assert.True(t, cfg.AllowAtomicPublish && cfg.AllowDirect, "atomic publish and direct get")
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 10*time.Second), "three replicas, all current")
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	for _, s := range states {
		assert.True(t, s.Found, "%s holds a replica", s.Name)
	}

	// The other roles open the existing stream. Before ccm serve created
	// the snapshot bucket, those who may not create it work without it.
	for _, role := range []string{"ledger", "recorder", "auditor"} {
		l := openLog(t, c, role)
		if role == "ledger" {
			continue
		}
		start := time.Now()
		s, err := jslog.OpenSnapshots(ctx, openLog(t, c, role))
		require.NoError(t, err, "%s opens the snapshot store without a bucket", role)
		assert.Less(t, time.Since(start), 2*time.Second, "the refused creation is noticed at once")
		_, found, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.False(t, found)
		assert.ErrorIs(t, s.Put(ctx, "k", []byte("v")), jslog.ErrReadOnlySnapshots, "%s writes no snapshot", role)
		_, _, err = l.ReadAll(ctx, jslog.ReadOptions{})
		require.NoError(t, err, "%s reads the log", role)
	}
}

func TestAuditorCannotAppend(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	createLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recorder := openLog(t, c, "recorder")
	evs := generate(t, 3)
	_, err := recorder.Append(ctx, evs[0].Scope(), 0, evs[0])
	require.NoError(t, err, "the recorder appends")

	auditor := openLog(t, c, "auditor")
	signed, err := events.New(uuid.Nil, events.Signed, "SWE", events.MustDate("2008-12-03"), nil, "test source")
	require.NoError(t, err)
	deposited, err := events.New(uuid.Nil, events.Deposited, "SWE", events.MustDate("2012-04-23"), &events.Deposit{Instrument: events.Ratification}, "test source")
	require.NoError(t, err)
	for _, tt := range []struct {
		name   string
		append func() error
	}{
		{"one event", func() error { _, err := auditor.Append(ctx, "SWE", jslog.AnyVersion, signed); return err }},
		{"a command of two events", func() error { _, err := auditor.Append(ctx, "SWE", 0, signed, deposited); return err }},
		{"a chain", func() error { _, _, err := auditor.AppendChain(ctx, 1, evs[1:], nil); return err }},
	} {
		start := time.Now()
		err := tt.append()
		require.ErrorIs(t, err, jslog.ErrPermissionDenied, "the auditor appending %s; got %v", tt.name, err)
		var pe *jslog.PermissionError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "auditor", pe.User)
		assert.Equal(t, "publish", pe.Op)
		assert.True(t, strings.HasPrefix(pe.Subject, events.SubjectPrefix), "the refused subject is an event subject: %s", pe.Subject)
		assert.Contains(t, err.Error(), "permission denied: user auditor may not publish to ccm.events.")
		assert.Less(t, time.Since(start), 2*time.Second, "refused at once, not after a timeout")
	}
	head, err := auditor.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), head.Msgs, "nothing appended by the auditor")
	got, _, err := auditor.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err, "the auditor reads the log")
	require.Len(t, got, 1)
	assert.Equal(t, evs[0].ID, got[0].ID)
}

// TestNobodyDestroysTheLog: no role may delete or purge the stream or
// delete a message, nor (but the operator) change its configuration; and
// the stream itself refuses purge and message deletion, and the lifting of
// either ban, to a user with every permission.
func TestNobodyDestroysTheLog(t *testing.T) {
	c := natstest.RunCluster(t, natstest.ClusterOptions{
		ConfigDir: natstest.DeployDir(t), Env: natstest.DeployEnv(),
		Configure: func(_ int, o *server.Options) {
			// A user of the ledger's account without restrictions, which
			// deploy/nats does not have, to show what the stream denies.
			for _, a := range o.Accounts {
				if a.Name == "CCM" {
					o.Users = append(o.Users, &server.User{Username: "root", Password: "root", Account: a})
				}
			}
		},
	})
	l := createLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recorder := openLog(t, c, "recorder")
	evs := generate(t, 10)
	_, _, err := recorder.AppendChain(ctx, 0, evs, nil)
	require.NoError(t, err)

	destroy := []struct {
		op      string
		subject string
		call    func(ctx context.Context, js jetstream.JetStream) error
	}{
		{"delete the stream", "$JS.API.STREAM.DELETE.CCM", func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, jslog.DefaultStream)
		}},
		{"purge the stream", "$JS.API.STREAM.PURGE.CCM", func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.PURGE.CCM", []byte("{}"))
			return err
		}},
		{"delete a message", "$JS.API.STREAM.MSG.DELETE.CCM", func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE.CCM", []byte(`{"seq":1}`))
			return err
		}},
		{"update the stream", "$JS.API.STREAM.UPDATE.CCM", func(ctx context.Context, js jetstream.JetStream) error {
			cfg := jslog.StreamConfig(jslog.Config{Replicas: 3})
			cfg.MaxMsgs = 1
			_, err := js.UpdateStream(ctx, cfg)
			return err
		}},
	}
	for _, role := range []string{"operator", "ledger", "recorder", "auditor", "service"} {
		nc := c.DialRole(t, role)
		ch := violations(nc)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		for _, d := range destroy {
			if role == "operator" && d.op == "update the stream" {
				continue // the operator may update; the server refuses lifting the bans (below)
			}
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			errc := make(chan error, 1)
			go func() { errc <- d.call(cctx, js) }()
			refused(t, ch, role+": "+d.op, d.subject)
			ccancel()
			<-errc
		}
	}

	// The stream denies purge and message deletion even to a user with
	// every permission; deleting the whole stream is refused by the
	// permissions alone (deny_delete does not cover it).
	root, err := nats.Connect(c.URL(), nats.UserInfo("root", "root"))
	require.NoError(t, err)
	defer root.Close()
	rjs, err := jetstream.New(root)
	require.NoError(t, err)
	st, err := rjs.Stream(ctx, jslog.DefaultStream)
	require.NoError(t, err)
	err = st.Purge(ctx)
	require.Error(t, err, "the stream refuses a purge")
	assert.Contains(t, err.Error(), "purge", "got %v", err)
	err = st.DeleteMsg(ctx, 1)
	require.Error(t, err, "the stream refuses a message deletion")
	assert.Contains(t, err.Error(), "delete", "got %v", err)

	// The operator may update the stream, but not lift the bans.
	ojs := l.JetStream()
	cfg := jslog.StreamConfig(jslog.Config{Replicas: 3})
	cfg.DenyPurge = false
	_, err = ojs.UpdateStream(ctx, cfg)
	require.Error(t, err, "deny purge cannot be lifted")
	cfg = jslog.StreamConfig(jslog.Config{Replicas: 3})
	cfg.DenyDelete = false
	_, err = ojs.UpdateStream(ctx, cfg)
	require.Error(t, err, "deny delete cannot be lifted")

	checkExactlyOnce(t, c, evs)
}

// TestServiceReadsOnlyComplianceEvents: the service role consumes the
// compliance stream and cannot read raw events in any way: no stream
// info, consumer or direct get on CCM, no subscription to the events'
// subjects, no subscription to the others' inboxes.
func TestServiceReadsOnlyComplianceEvents(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	createLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recorder := openLog(t, c, "recorder")
	_, _, err := recorder.AppendChain(ctx, 0, generate(t, 5), nil)
	require.NoError(t, err)

	// ccm serve's projector (the ledger user) creates the compliance stream
	// and publishes to it.
	ledger, err := jetstream.New(c.DialRole(t, "ledger"))
	require.NoError(t, err)
	_, err = ledger.CreateStream(ctx, jetstream.StreamConfig{
		Name: "CCM_COMPLIANCE", Subjects: []string{"ccm.compliance.>"}, Replicas: 3, Storage: jetstream.FileStorage,
		DenyDelete: true, DenyPurge: true,
	})
	require.NoError(t, err, "the ledger creates the compliance stream")
	for i, subj := range []string{"ccm.compliance.SWE.obligation-fulfilled", "ccm.compliance.LAO.deadline-approaching"} {
		_, err := ledger.Publish(ctx, subj, fmt.Appendf(nil, `{"n":%d}`, i))
		require.NoError(t, err)
	}

	svc := c.DialRole(t, "service")
	_, err = jslog.Open(ctx, svc, jslog.Config{})
	require.ErrorIs(t, err, jslog.ErrPermissionDenied, "the service opening the log; got %v", err)
	assert.Contains(t, err.Error(), "user service may not publish to $JS.API.STREAM.INFO.CCM")

	// It consumes the compliance events with a durable pull consumer.
	sjs, err := jetstream.New(svc)
	require.NoError(t, err)
	cons, err := sjs.CreateOrUpdateConsumer(ctx, "CCM_COMPLIANCE", jetstream.ConsumerConfig{Durable: "deadlines", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err, "the service creates its consumer on CCM_COMPLIANCE")
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
		require.NoError(t, m.Ack())
	}
	require.NoError(t, batch.Error())
	assert.Equal(t, []string{"ccm.compliance.SWE.obligation-fulfilled", "ccm.compliance.LAO.deadline-approaching"}, got)

	// Every way to raw events is refused.
	raw := c.DialRole(t, "service")
	ch := violations(raw)
	for _, subject := range []string{
		"$JS.API.STREAM.INFO.CCM",
		"$JS.API.DIRECT.GET.CCM",
		"$JS.API.DIRECT.GET.CCM.ccm.events.SWE.>",
		"$JS.API.STREAM.MSG.GET.CCM",
		"$JS.API.CONSUMER.CREATE.CCM.peek",
		"$JS.API.CONSUMER.CREATE.CCM.peek.ccm.events.>",
		"$KV.CCM_SNAPSHOTS.x",
		"ccm.events.SWE.signed",
	} {
		require.NoError(t, raw.PublishRequest(subject, raw.NewRespInbox(), []byte(`{"seq":1}`)))
		require.NoError(t, raw.Flush())
		refused(t, ch, "service publishing to "+subject, subject)
	}
	for _, subject := range []string{"ccm.events.>", "ccm.>", ">", "_INBOX.>", "$KV.>"} {
		_, err := raw.SubscribeSync(subject)
		require.NoError(t, err)
		require.NoError(t, raw.Flush())
		refused(t, ch, "service subscribing to "+subject, subject)
	}
}

// TestRolesKeepToTheirViews: the ledger keeps the views (snapshot and
// projector buckets); the auditor and the recorder read snapshots but
// write no view; nobody but the ledger publishes compliance events.
func TestRolesKeepToTheirViews(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	createLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ljs, err := jetstream.New(c.DialRole(t, "ledger"))
	require.NoError(t, err)
	for _, bucket := range []string{jslog.SnapshotBucket, "CCM_PROJECTOR"} {
		kv, err := ljs.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1, Storage: jetstream.FileStorage, Replicas: 3})
		require.NoError(t, err, "the ledger creates bucket %s", bucket)
		_, err = kv.Put(ctx, "k", []byte("v-"+bucket))
		require.NoError(t, err, "the ledger writes to %s", bucket)
	}

	for _, role := range []string{"auditor", "recorder"} {
		// As the ccm commands open it: the log not read-only, then the
		// existing snapshot bucket, which they may not update.
		s, err := jslog.OpenSnapshots(ctx, openLog(t, c, role))
		require.NoError(t, err, "%s opens the snapshot store", role)
		v, found, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, "v-"+jslog.SnapshotBucket, string(v), "%s reads through the snapshot store", role)

		js, err := jetstream.New(c.DialRole(t, role))
		require.NoError(t, err)
		kv, err := js.KeyValue(ctx, jslog.SnapshotBucket)
		require.NoError(t, err, "%s opens the snapshots", role)
		e, err := kv.Get(ctx, "k")
		require.NoError(t, err, "%s reads a snapshot", role)
		assert.Equal(t, "v-"+jslog.SnapshotBucket, string(e.Value()))
		keys, err := kv.ListKeys(ctx)
		require.NoError(t, err, "%s lists the snapshots", role)
		var names []string
		for k := range keys.Keys() {
			names = append(names, k)
		}
		assert.Equal(t, []string{"k"}, names)
	}

	for _, tt := range []struct {
		role     string
		subjects []string
	}{
		{"auditor", []string{"$KV.CCM_SNAPSHOTS.k", "$KV.CCM_PROJECTOR.checkpoint", "ccm.compliance.SWE.forged", "ccm.events.SWE.signed", "$JS.API.STREAM.CREATE.CCM_COMPLIANCE"}},
		{"recorder", []string{"$KV.CCM_SNAPSHOTS.k", "$KV.CCM_PROJECTOR.checkpoint", "ccm.compliance.SWE.forged", "$JS.API.STREAM.CREATE.KV_CCM_SNAPSHOTS", "$JS.API.STREAM.UPDATE.KV_CCM_SNAPSHOTS"}},
		{"operator", []string{"ccm.events.SWE.signed", "ccm.compliance.SWE.forged", "$KV.CCM_SNAPSHOTS.k"}},
	} {
		nc := c.DialRole(t, tt.role)
		ch := violations(nc)
		for _, subject := range tt.subjects {
			require.NoError(t, nc.Publish(subject, []byte("forged")))
			require.NoError(t, nc.Flush())
			refused(t, ch, tt.role+" publishing to "+subject, subject)
		}
	}
}

// TestReaderCannotCopyIntoAView: a reader may create consumers, and a push
// consumer delivers to any subject; were anyone allowed to subscribe to a
// view's subjects, the reader could have the log's events copied into the
// view. Nobody may, so nothing is delivered.
func TestReaderCannotCopyIntoAView(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	createLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recorder := openLog(t, c, "recorder")
	_, _, err := recorder.AppendChain(ctx, 0, generate(t, 5), nil)
	require.NoError(t, err)
	ljs, err := jetstream.New(c.DialRole(t, "ledger"))
	require.NoError(t, err)
	compliance, err := ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "CCM_COMPLIANCE", Subjects: []string{"ccm.compliance.>"}, Replicas: 3})
	require.NoError(t, err)

	nc := c.DialRole(t, "auditor")
	ch := violations(nc)
	ajs, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = ajs.CreateOrUpdatePushConsumer(ctx, jslog.DefaultStream, jetstream.ConsumerConfig{
		Name: "copier", DeliverSubject: "ccm.compliance.SWE.forged", AckPolicy: jetstream.AckNonePolicy,
	})
	require.NoError(t, err, "the auditor may create a consumer on the log")
	_, err = nc.SubscribeSync("ccm.compliance.SWE.forged")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	refused(t, ch, "auditor subscribing to the consumer's delivery subject", "ccm.compliance.SWE.forged")

	time.Sleep(500 * time.Millisecond)
	info, err := compliance.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Msgs, "no event copied into the compliance stream")
}

// TestStreamFileMatchesTheLog: deploy/nats/streams/CCM.json, the
// configuration an operator gives `nats stream add --config`, is the one
// the ledger creates and requires with three replicas.
func TestStreamFileMatchesTheLog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(natstest.DeployDir(t), "streams", "CCM.json"))
	require.NoError(t, err)
	var got jetstream.StreamConfig
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, jslog.StreamConfig(jslog.Config{Replicas: 3}), got, "deploy/nats/streams/CCM.json differs from jslog.StreamConfig(Replicas 3)")
}

package clustertest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// request is a raw JetStream API call: what a client that bypasses the
// ledger's code sends.
func request(subject, body string) func(ctx context.Context, nc *nats.Conn) error {
	return func(ctx context.Context, nc *nats.Conn) error {
		_, err := nc.RequestWithContext(ctx, subject, []byte(body))
		return err
	}
}

// withJS runs a call of the JetStream API on the connection.
func withJS(call func(ctx context.Context, js jetstream.JetStream) error) func(ctx context.Context, nc *nats.Conn) error {
	return func(ctx context.Context, nc *nats.Conn) error {
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		return call(ctx, js)
	}
}

// TestOperatorCreatesEverything: opening the log creates nothing, whoever
// opens it; the operator creates the log, the compliance stream and the
// two buckets with infra.Ensure, each with the log's three replicas, all
// current on every node; a second run changes nothing; then the ledger
// opens the log and its views, the readers the log and the snapshots, and
// the service not even the log.
func TestOperatorCreatesEverything(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ojs := operatorJS(t, c)

	for _, role := range []string{roles.Operator, roles.Ledger, roles.Recorder, roles.Auditor} {
		_, err := jslog.Open(ctx, c.DialRole(t, role), jslog.Config{Replicas: 3})
		require.ErrorIs(t, err, jslog.ErrNoLog, "%s opening the log before the operator made it: got %v", role, err)
	}
	for _, role := range []string{roles.Recorder, roles.Auditor} {
		_, err := jslog.Create(ctx, c.DialRole(t, role), jslog.Config{Replicas: 3})
		requirePermissionError(t, err, role, "publish", "$JS.API.STREAM.CREATE.CCM")
	}
	assert.Empty(t, storedNow(t, ojs).Streams, "opening the log created nothing, and the readers could not")

	res := ensure(t, c)
	var made []string
	for _, r := range res {
		made = append(made, r.Name)
		assert.True(t, r.Created, "%s: created by this run", r.Name)
		assert.Equal(t, 3, r.Replicas, "%s: the log's replica count", r.Name)
		assert.Empty(t, r.Problem, "%s", r.Name)
	}
	assert.ElementsMatch(t, ledgerStreams, made, "what infra.Ensure reports")
	after := storedNow(t, ojs)
	assert.Equal(t, slices.Sorted(slices.Values(ledgerStreams)), after.Streams, "the account's streams")
	for _, name := range ledgerStreams {
		assert.Equal(t, 3, after.Configs[name].Replicas, "%s: replicas", name)
		assert.Equal(t, jetstream.FileStorage, after.Configs[name].Storage, "%s: storage", name)
	}
	got, want := after.Configs[jslog.DefaultStream], jslog.StreamConfig(jslog.Config{Replicas: 3})
	assert.Equal(t, want.Subjects, got.Subjects, "subjects of the log")
	assert.Equal(t, want.Duplicates, got.Duplicates, "duplicate window of the log")
	assert.Equal(t, jetstream.DiscardNew, got.Discard, "a full log refuses new events")
	assert.Equal(t, []int64{-1, -1, -1}, []int64{got.MaxMsgs, got.MaxBytes, got.MaxMsgsPerSubject}, "the log has no limits")
	assert.Zero(t, got.MaxAge, "the log's events never expire")
	assert.True(t, got.DenyDelete && got.DenyPurge, "the log denies delete and purge")
	assert.True(t, got.AllowAtomicPublish && got.AllowDirect, "atomic publish and direct get")

	res, err := infra.Ensure(ctx, c.DialRole(t, roles.Operator), jslog.Config{Replicas: 3}, projector.Config{})
	require.NoError(t, err, "infra.Ensure again")
	for _, r := range res {
		assert.False(t, r.Created, "%s: the second run creates nothing", r.Name)
	}
	assert.Equal(t, after, storedNow(t, ojs), "the second run changes nothing")

	ledger := openLog(t, c, roles.Ledger)
	_, err = projector.Open(ctx, ledger, projector.Config{})
	require.NoError(t, err, "the ledger opens the compliance stream and the checkpoint bucket")
	for _, role := range []string{roles.Recorder, roles.Auditor} {
		s, err := jslog.OpenSnapshots(ctx, openLog(t, c, role))
		require.NoError(t, err, "%s opens the snapshots", role)
		keys, err := s.Keys(ctx)
		require.NoError(t, err, "%s lists the snapshots", role)
		assert.Empty(t, keys)
	}
	_, err = jslog.Open(ctx, c.DialRole(t, roles.Service), jslog.Config{Replicas: 3})
	requirePermissionError(t, err, roles.Service, "publish", "$JS.API.STREAM.INFO.CCM")
	assert.Equal(t, after, storedNow(t, ojs), "opening changed nothing")
}

// TestLedgerChangesNoStreamOrBucket: the ledger writes events and views
// but creates, changes, purges and deletes no stream or bucket: through
// its own code (jslog's guard reports the refusal at once) or through the
// JetStream API (the server refuses), nothing is created, changed or lost.
func TestLedgerChangesNoStreamOrBucket(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := infra.Ensure(ctx, c.DialRole(t, roles.Ledger), jslog.Config{Replicas: 3}, projector.Config{})
	requirePermissionError(t, err, roles.Ledger, "publish", "$JS.API.STREAM.CREATE.CCM")
	assert.Empty(t, storedNow(t, operatorJS(t, c)).Streams, "the ledger created nothing")

	ensure(t, c)
	ledger := openLog(t, c, roles.Ledger)
	appendAsLedger(t, ledger, generate(t, 20))
	snaps, err := jslog.OpenSnapshots(ctx, ledger)
	require.NoError(t, err)
	require.NoError(t, snaps.Put(ctx, "3MSP", []byte("a snapshot")), "the ledger writes a snapshot")
	kv, err := ledger.JetStream().KeyValue(ctx, projector.DefaultBucket)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "checkpoint", []byte(`{"seq":20}`))
	require.NoError(t, err, "the ledger writes its checkpoint")
	_, err = ledger.JetStream().Publish(ctx, "ccm.compliance.SWE.obligation-fulfilled", []byte(`{}`))
	require.NoError(t, err, "the ledger publishes a compliance event")
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)

	limited := jslog.StreamConfig(jslog.Config{Replicas: 3})
	limited.MaxMsgs, limited.Discard = 10, jetstream.DiscardOld
	compliance := projector.StreamConfig("", 3, 0)
	compliance.MaxMsgs = 1
	for _, tt := range []struct {
		what, subject string
		call          func(ctx context.Context, nc *nats.Conn) error
	}{
		{"create a stream", "$JS.API.STREAM.CREATE.CCM_SHADOW", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CCM_SHADOW", Subjects: []string{"shadow.>"}, Replicas: 3})
			return err
		})},
		{"create a bucket", "$JS.API.STREAM.CREATE.KV_CCM_SHADOW", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CCM_SHADOW", Replicas: 3})
			return err
		})},
		{"limit the log to 10 events", "$JS.API.STREAM.UPDATE.CCM", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.UpdateStream(ctx, limited)
			return err
		})},
		{"limit the compliance stream", "$JS.API.STREAM.UPDATE.CCM_COMPLIANCE", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.UpdateStream(ctx, compliance)
			return err
		})},
		{"change the snapshot bucket", "$JS.API.STREAM.UPDATE.KV_CCM_SNAPSHOTS", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: jslog.SnapshotBucket, History: 1, MaxBytes: 1, Replicas: 3})
			return err
		})},
		{"delete the log", "$JS.API.STREAM.DELETE.CCM", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, jslog.DefaultStream)
		})},
		{"delete the compliance stream", "$JS.API.STREAM.DELETE.CCM_COMPLIANCE", request("$JS.API.STREAM.DELETE.CCM_COMPLIANCE", "")},
		{"delete the checkpoint bucket", "$JS.API.STREAM.DELETE.KV_CCM_PROJECTOR", withJS(func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteKeyValue(ctx, projector.DefaultBucket)
		})},
		{"purge the log", "$JS.API.STREAM.PURGE.CCM", request("$JS.API.STREAM.PURGE.CCM", "{}")},
		{"purge the compliance stream", "$JS.API.STREAM.PURGE.CCM_COMPLIANCE", request("$JS.API.STREAM.PURGE.CCM_COMPLIANCE", "{}")},
		{"purge the snapshot bucket", "$JS.API.STREAM.PURGE.KV_CCM_SNAPSHOTS", request("$JS.API.STREAM.PURGE.KV_CCM_SNAPSHOTS", "{}")},
		{"delete an event", "$JS.API.STREAM.MSG.DELETE.CCM", request("$JS.API.STREAM.MSG.DELETE.CCM", `{"seq":1}`)},
	} {
		t.Run(tt.what, func(t *testing.T) {
			refused(t, c, roles.Ledger, publish, tt.subject, tt.call)
		})
	}
	assert.Equal(t, before, storedNow(t, ojs), "nothing created, changed or removed")
}

// TestNoReaderLimitsTheLog: an update of the log to keep 10 messages and
// discard the old ones erased 449 of 459 events when the server let
// anyone in. It is refused to every role but the operator, and the log
// keeps its 459 events and its configuration.
func TestNoReaderLimitsTheLog(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	evs := generate(t, 459)
	appendAsLedger(t, openLog(t, c, roles.Ledger), evs)
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)
	limited := jslog.StreamConfig(jslog.Config{Replicas: 3})
	limited.MaxMsgs, limited.Discard = 10, jetstream.DiscardOld
	body, err := json.Marshal(limited)
	require.NoError(t, err)

	for _, role := range []string{roles.Recorder, roles.Auditor, roles.Service, roles.Ledger} {
		t.Run(role, func(t *testing.T) {
			refused(t, c, role, publish, "$JS.API.STREAM.UPDATE.CCM", withJS(func(ctx context.Context, js jetstream.JetStream) error {
				_, err := js.UpdateStream(ctx, limited)
				return err
			}))
			refused(t, c, role, publish, "$JS.API.STREAM.UPDATE.CCM", request("$JS.API.STREAM.UPDATE.CCM", string(body)))
		})
	}
	assert.Equal(t, before, storedNow(t, ojs), "the log's configuration and events are as they were")
	checkExactlyOnce(t, c, evs)
}

// TestOperatorMayUpdateTheLog: the operator is trusted with the log's
// configuration (replicas, placement, whatever the cluster needs), so it
// may update CCM, even with limits that could drop events: no permission
// tells such an update from a safe one. What stands between such a stream
// and the ledger is jslog.Open, through which every role opens the log: it
// refuses a stream that could lose events, and says why. The bans on purge
// and deletion cannot be lifted, not even by the operator.
func TestOperatorMayUpdateTheLog(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	evs := generate(t, 20)
	appendAsLedger(t, openLog(t, c, roles.Ledger), evs)
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)
	fit := jslog.StreamConfig(jslog.Config{Replicas: 3})

	for _, tt := range []struct {
		name    string
		change  func(*jetstream.StreamConfig)
		problem string
	}{
		{"at most 1000 messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 1000 },
			"limits (max age, messages, bytes, per subject) must be unlimited"},
		{"events expire after a century", func(c *jetstream.StreamConfig) { c.MaxAge = 100 * 365 * 24 * time.Hour },
			"limits (max age, messages, bytes, per subject) must be unlimited"},
		{"a full stream drops old events", func(c *jetstream.StreamConfig) { c.Discard = jetstream.DiscardOld },
			"a full stream must refuse new events (discard new), never drop old ones"},
		{"no direct get", func(c *jetstream.StreamConfig) { c.AllowDirect = false },
			"direct get must be allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fit
			tt.change(&cfg)
			_, err := ojs.UpdateStream(ctx, cfg)
			require.NoError(t, err, "the operator updates the log")
			for _, role := range []string{roles.Ledger, roles.Recorder, roles.Auditor} {
				_, err := jslog.Open(ctx, c.DialRole(t, role), jslog.Config{Replicas: 3})
				require.Error(t, err, "%s opens a log that could lose events", role)
				assert.Contains(t, err.Error(), "stream CCM is not fit for the ledger", "%s", role)
				assert.Contains(t, err.Error(), tt.problem, "%s", role)
			}
			_, err = ojs.UpdateStream(ctx, fit)
			require.NoError(t, err, "the operator restores the log's configuration")
			openLog(t, c, roles.Auditor)
			assert.Equal(t, before.Contents, storedNow(t, ojs).Contents, "no event lost")
		})
	}

	for _, tt := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
	}{
		{"allow purge", func(c *jetstream.StreamConfig) { c.DenyPurge = false }},
		{"allow delete", func(c *jetstream.StreamConfig) { c.DenyDelete = false }},
	} {
		cfg := fit
		tt.change(&cfg)
		_, err := ojs.UpdateStream(ctx, cfg)
		require.Error(t, err, "the operator cannot %s", tt.name)
	}
	after := storedNow(t, ojs)
	assert.True(t, after.Configs[jslog.DefaultStream].DenyPurge && after.Configs[jslog.DefaultStream].DenyDelete, "the bans hold")
	checkExactlyOnce(t, c, evs)
}

// TestNobodyDestroysTheLog: no role, the operator included, may delete or
// purge the log or delete one of its events, in any form; the system user
// may not purge the account; and the stream itself refuses purge and
// message deletion even to a user with every permission.
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
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	evs := generate(t, 10)
	appendAsLedger(t, openLog(t, c, roles.Ledger), evs)
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)

	destroy := []struct {
		what, subject, body string
	}{
		{"delete the log", "$JS.API.STREAM.DELETE.CCM", ""},
		{"purge the log", "$JS.API.STREAM.PURGE.CCM", "{}"},
		{"purge one State's events", "$JS.API.STREAM.PURGE.CCM", `{"filter":"ccm.events.SWE.>"}`},
		{"purge all but the last event", "$JS.API.STREAM.PURGE.CCM", `{"keep":1}`},
		{"delete an event", "$JS.API.STREAM.MSG.DELETE.CCM", `{"seq":1,"no_erase":true}`},
		{"erase an event", "$JS.API.STREAM.MSG.DELETE.CCM", `{"seq":1}`},
	}
	for _, role := range []string{roles.Operator, roles.Ledger, roles.Recorder, roles.Auditor, roles.Service} {
		for _, d := range destroy {
			t.Run(role+" may not "+d.what, func(t *testing.T) {
				refused(t, c, role, publish, d.subject, request(d.subject, d.body))
			})
		}
	}
	refused(t, c, natstest.SysUser, publish, "$JS.API.ACCOUNT.PURGE.CCM", request("$JS.API.ACCOUNT.PURGE.CCM", ""))

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

	assert.Equal(t, before, storedNow(t, ojs), "the log is as it was")
	checkExactlyOnce(t, c, evs)
}

// TestStreamFileMatchesTheLog: deploy/nats/streams/CCM.json, the
// configuration an operator gives `nats stream add --config`, is the one
// the ledger requires with three replicas.
func TestStreamFileMatchesTheLog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(natstest.DeployDir(t), "streams", "CCM.json"))
	require.NoError(t, err)
	var got jetstream.StreamConfig
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, jslog.StreamConfig(jslog.Config{Replicas: 3}), got, "deploy/nats/streams/CCM.json differs from jslog.StreamConfig(Replicas 3)")
}

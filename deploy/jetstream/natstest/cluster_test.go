package natstest_test

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// TestDeployConfigParses reads every node configuration of deploy/nats with
// the server's own parser and checks the settings deploy/README.md
// promises: each user's permissions are its role's (roles.All), and the
// rules of the one-writer ledger hold in what the server will enforce.
func TestDeployConfigParses(t *testing.T) {
	dir := natstest.DeployDir(t)
	for k, v := range natstest.DeployEnv() {
		t.Setenv(k, v)
	}
	names := map[string]bool{}
	for _, node := range natstest.DefaultNodes {
		o, err := server.ProcessConfigFile(filepath.Join(dir, node))
		require.NoError(t, err, "parse %s", node)
		names[o.ServerName] = true
		assert.Equal(t, "ccm", o.Cluster.Name, "%s: cluster name", node)
		assert.Len(t, o.Routes, 3, "%s: a route to every node", node)
		assert.True(t, o.JetStream, "%s: JetStream", node)
		assert.Equal(t, "/var/lib/nats", o.StoreDir, "%s: store_dir", node)
		assert.True(t, o.SyncAlways, "%s: sync_interval always", node)
		assert.Equal(t, int64(20<<30), o.JetStreamMaxStore, "%s: max_file_store", node)
		assert.Equal(t, 30*time.Second, o.LameDuckDuration, "%s: lame_duck_duration", node)
		assert.Equal(t, "SYS", o.SystemAccount, "%s: system account", node)
		assert.Nil(t, o.TLSConfig, "%s: TLS is off until its include is uncommented", node)

		users := map[string]*server.User{}
		for _, u := range o.Users {
			users[u.Username] = u
		}
		assert.Len(t, users, len(natstest.DeployRoles), "%s: one user per role and sys, no other", node)
		for _, role := range natstest.DeployRoles {
			u := users[role]
			require.NotNil(t, u, "%s: user %s", node, role)
			assert.Equal(t, natstest.DeployPassword(role), u.Password, "%s: the password of %s comes from %s", node, role, natstest.DeployPasswordEnv(role))
			require.NotNil(t, u.Permissions, "%s: %s has permissions", node, role)
		}
		sys := users[natstest.SysUser]
		assert.Equal(t, "SYS", sys.Account.Name, "%s: sys is in the system account", node)
		assert.False(t, may(sys.Permissions.Publish, "$JS.API.ACCOUNT.PURGE.CCM"), "%s: sys may not purge the ledger's account", node)

		// Each user's lists are its role's, in the table's order.
		for _, r := range roles.All() {
			u := users[r.Name]
			want := r.Permissions()
			assert.Equal(t, "CCM", u.Account.Name, "%s: %s is in the ledger's account", node, r.Name)
			assert.Equal(t, want.Publish, u.Permissions.Publish, "%s: publish permissions of %s", node, r.Name)
			assert.Equal(t, want.Subscribe, u.Permissions.Subscribe, "%s: subscribe permissions of %s", node, r.Name)
			assert.Equal(t, want.Response, u.Permissions.Response, "%s: response permissions of %s", node, r.Name)
		}

		// The rules, as the server will apply these permissions.
		for _, rule := range deployRules {
			var got []string
			for _, r := range roles.All() {
				p := users[r.Name].Permissions
				perm := p.Publish
				if rule.op == "subscribe" {
					perm = p.Subscribe
				}
				if may(perm, rule.subject) {
					got = append(got, r.Name)
				}
			}
			assert.Equal(t, rule.who, got, "%s: %s: who may %s %s", node, rule.why, rule.op, rule.subject)
		}
	}
	assert.Len(t, names, 3, "three distinct server names: %v", names)
}

// Who may do what, by role in the order of roles.All (nil: nobody).
var (
	onlyOperator = []string{roles.Operator}
	onlyLedger   = []string{roles.Ledger}
	logReaders   = []string{roles.Operator, roles.Ledger, roles.Recorder, roles.Auditor}
	everyone     = []string{roles.Operator, roles.Ledger, roles.Recorder, roles.Auditor, roles.Service}
)

// deployRules are the rules of the ledger's permissions (deploy/README.md,
// section 7), each as a subject and the roles that may use it.
var deployRules = []struct {
	why, op, subject string
	who              []string
}{
	{"only the ledger writes events", "publish", "ccm.events.SWE.signed", onlyLedger},
	{"only the ledger writes events", "publish", "ccm.events.convention.meeting-held", onlyLedger},
	{"only the ledger writes the views", "publish", "ccm.compliance.SWE.obligation-fulfilled", onlyLedger},
	{"only the ledger writes the views", "publish", "$KV.CCM_SNAPSHOTS.3MSP", onlyLedger},
	{"only the ledger writes the views", "publish", "$KV.CCM_PROJECTOR.checkpoint", onlyLedger},
	{"only the ledger answers commands", "subscribe", "ccm.cmd.>", onlyLedger},
	{"only the ledger answers commands", "subscribe", "ccm.cmd.record", onlyLedger},
	{"only the ledger answers commands", "subscribe", "ccm.cmd.import", onlyLedger},
	{"only the ledger answers discovery", "subscribe", "$SRV.INFO.ccm-ledger", onlyLedger},
	{"recorders send commands", "publish", "ccm.cmd.record", []string{roles.Recorder}},
	{"nobody subscribes to the events", "subscribe", "ccm.events.SWE.signed", nil},
	{"nobody subscribes to the views", "subscribe", "ccm.compliance.SWE.obligation-fulfilled", nil},
	{"nobody subscribes to the views", "subscribe", "$KV.CCM_SNAPSHOTS.3MSP", nil},
	{"nobody subscribes to the views", "subscribe", "$KV.CCM_PROJECTOR.checkpoint", nil},
	{"nobody deletes the log", "publish", "$JS.API.STREAM.DELETE.CCM", nil},
	{"nobody purges the log", "publish", "$JS.API.STREAM.PURGE.CCM", nil},
	{"nobody deletes an event", "publish", "$JS.API.STREAM.MSG.DELETE.CCM", nil},
	{"only the operator creates streams", "publish", "$JS.API.STREAM.CREATE.CCM", onlyOperator},
	{"only the operator creates buckets", "publish", "$JS.API.STREAM.CREATE.KV_CCM_SNAPSHOTS", onlyOperator},
	{"only the operator changes the log", "publish", "$JS.API.STREAM.UPDATE.CCM", onlyOperator},
	{"only the operator changes the views", "publish", "$JS.API.STREAM.UPDATE.CCM_COMPLIANCE", onlyOperator},
	{"only the operator changes the views", "publish", "$JS.API.STREAM.UPDATE.KV_CCM_PROJECTOR", onlyOperator},
	{"only the operator deletes the views", "publish", "$JS.API.STREAM.DELETE.CCM_COMPLIANCE", onlyOperator},
	{"only the operator deletes the views", "publish", "$JS.API.STREAM.DELETE.KV_CCM_SNAPSHOTS", onlyOperator},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.CREATE.CCM.ccm-projector", onlyLedger},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.CREATE.CCM.ccm-projector.ccm.events.>", onlyLedger},
	{"the ledger's consumer is its own (the ledger creates it by name)", "publish", "$JS.API.CONSUMER.DURABLE.CREATE.CCM.ccm-projector", nil},
	{"the ledger's consumer is its own (legacy create names it in the body)", "publish", "$JS.API.CONSUMER.CREATE.CCM", onlyLedger},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.DELETE.CCM.ccm-projector", onlyLedger},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.MSG.NEXT.CCM.ccm-projector", onlyLedger},
	{"the ledger's consumer is its own", "publish", "$JS.ACK.CCM.ccm-projector.1.7.7.1700000000000000000.0", onlyLedger},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.RESET.CCM.ccm-projector", nil},
	{"the ledger's consumer is its own", "publish", "$JS.API.CONSUMER.PAUSE.CCM.ccm-projector", nil},
	{"readers make consumers of their own on the log", "publish", "$JS.API.CONSUMER.CREATE.CCM.audit", logReaders},
	{"the service reads only CCM_COMPLIANCE", "publish", "$JS.API.STREAM.INFO.CCM", logReaders},
	{"the service reads only CCM_COMPLIANCE", "publish", "$JS.API.DIRECT.GET.CCM.ccm.events.SWE.>", logReaders},
	{"the service reads only CCM_COMPLIANCE", "publish", "$JS.API.STREAM.INFO.KV_CCM_SNAPSHOTS", logReaders},
	{"the service reads only CCM_COMPLIANCE", "publish", "$JS.API.CONSUMER.CREATE.CCM_COMPLIANCE.deadlines", everyone},
	{"the service's replies are its own", "subscribe", "_INBOX_service.abc", []string{roles.Service}},
	{"the service sees no other user's replies", "subscribe", "_INBOX.abc", logReaders},
}

// may reports whether p lets a client use subject (with wildcards: every
// subject it matches), as the server decides: some allowance covers it, or
// there is no allow list, and no denial matches it.
func may(p *server.SubjectPermission, subject string) bool {
	if p == nil {
		return true
	}
	allowed := len(p.Allow) == 0
	for _, a := range p.Allow {
		allowed = allowed || covers(a, subject)
	}
	for _, d := range p.Deny {
		if covers(d, subject) || covers(subject, d) {
			return false
		}
	}
	return allowed
}

// covers reports whether every subject matched by subject is matched by
// pattern ("*" one token, a final ">" one or more).
func covers(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, p := range pt {
		switch {
		case p == ">":
			return len(st) > i
		case i >= len(st) || st[i] == ">":
			return false
		case p != "*" && p != st[i], p == "*" && st[i] == ">":
			return false
		}
	}
	return len(pt) == len(st)
}

func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		pattern, subject string
		want             bool
	}{
		{"ccm.>", "ccm.events.SWE.signed", true},
		{"ccm.>", "ccm", false},
		{"ccm.events.>", "ccm.events.>", true},
		{"ccm.events.>", "ccm.>", false},
		{"ccm.*.SWE", "ccm.events.SWE", true},
		{"ccm.*.SWE", "ccm.*.SWE", true},
		{"ccm.*", "ccm.>", false},
		{"ccm.events", "ccm.events.SWE", false},
		{"$JS.API.CONSUMER.CREATE.CCM", "$JS.API.CONSUMER.CREATE.CCM.x", false},
		{"$JS.API.CONSUMER.CREATE.CCM.>", "$JS.API.CONSUMER.CREATE.CCM", false},
	} {
		assert.Equal(t, tt.want, covers(tt.pattern, tt.subject), "covers(%q, %q)", tt.pattern, tt.subject)
	}
}

// TestDeployConfigWithTLS parses the configuration with its TLS includes
// switched on: clients over TLS, routes over mutual TLS.
func TestDeployConfigWithTLS(t *testing.T) {
	ca := natstest.NewCA(t, "ccm-test")
	cert, key := ca.Issue(t, "node", "127.0.0.1", "ccm-nats-1", "ccm-nats-2", "ccm-nats-3")
	env := natstest.DeployEnv()
	env["CCM_NATS_TLS_CERT"], env["CCM_NATS_TLS_KEY"], env["CCM_NATS_TLS_CA"] = cert, key, ca.CertFile
	c := natstest.RunCluster(t, natstest.ClusterOptions{ConfigDir: natstest.DeployDir(t), Env: env, TLS: true})
	o, err := c.Options(0)
	require.NoError(t, err)
	require.NotNil(t, o.TLSConfig, "client TLS")
	assert.False(t, o.TLSVerify, "client certificates are optional unless verify is uncommented")
	require.NotNil(t, o.Cluster.TLSConfig, "route TLS")
	assert.Equal(t, tls.RequireAndVerifyClientCert, o.Cluster.TLSConfig.ClientAuth, "routes authenticate each other by certificate")

	// The three nodes formed a cluster over TLS routes (RunCluster waited
	// for a meta leader followed by all); clients need the CA.
	_, err = nats.Connect(c.URL(), nats.UserInfo(roles.Auditor, natstest.DeployPassword(roles.Auditor)))
	require.Error(t, err, "a client without the CA cannot connect")
	assert.Contains(t, err.Error(), "unknown authority")
	nc, err := nats.Connect(c.URL(), nats.UserInfo(roles.Auditor, natstest.DeployPassword(roles.Auditor)), nats.RootCAs(ca.CertFile))
	require.NoError(t, err, "a client with the CA connects")
	nc.Close()
}

// TestRunClusterKillRestart starts the deployment's three nodes, creates an
// R3 stream as the operator, and checks that it survives the loss of its
// leader and that the restarted node catches up.
func TestRunClusterKillRestart(t *testing.T) {
	// A password may be given to the servers as its bcrypt hash.
	env := natstest.DeployEnv()
	hash, err := bcrypt.GenerateFromPassword([]byte(natstest.DeployPassword(roles.Auditor)), bcrypt.MinCost)
	require.NoError(t, err)
	env[natstest.DeployPasswordEnv(roles.Auditor)] = string(hash)
	start := time.Now()
	c := natstest.RunCluster(t, natstest.ClusterOptions{ConfigDir: natstest.DeployDir(t), Env: env})
	t.Logf("three nodes up with a meta leader in %v", time.Since(start))
	auditor, err := nats.Connect(c.URL(), nats.UserInfo(roles.Auditor, natstest.DeployPassword(roles.Auditor)))
	require.NoError(t, err, "the auditor logs in with the password whose hash the servers hold")
	auditor.Close()
	assert.Less(t, time.Since(start), 10*time.Second, "starting the cluster")
	require.Len(t, c.Servers(), 3)
	names := []string{c.Name(0), c.Name(1), c.Name(2)}
	assert.Equal(t, []string{"ccm-nats-1", "ccm-nats-2", "ccm-nats-3"}, names)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.URL(), nats.UserInfo(roles.Operator, natstest.DeployPassword(roles.Operator)), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "CCM_COMPLIANCE", Subjects: []string{"ccm.compliance.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	require.NoError(t, err, "the operator creates an R3 stream")

	ledger, err := nats.Connect(c.URL(), nats.UserInfo(roles.Ledger, natstest.DeployPassword(roles.Ledger)), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	defer ledger.Close()
	ljs, err := jetstream.New(ledger)
	require.NoError(t, err)
	publish := func(n int) {
		for i := range n {
			_, err := ljs.Publish(ctx, "ccm.compliance.SWE.test", []byte{byte(i)}, jetstream.WithRetryAttempts(50), jetstream.WithRetryWait(100*time.Millisecond))
			require.NoError(t, err, "publish %d", i)
		}
	}
	publish(100)

	leader, err := c.WaitStreamLeader("CCM_COMPLIANCE", 10*time.Second)
	require.NoError(t, err)
	c.Kill(leader)
	assert.Nil(t, c.Servers()[leader])
	newLeader, err := c.WaitStreamLeader("CCM_COMPLIANCE", 20*time.Second)
	require.NoError(t, err, "a new leader is elected")
	assert.NotEqual(t, leader, newLeader)
	publish(100)
	require.Error(t, c.WaitCaughtUp("CCM_COMPLIANCE", 100*time.Millisecond), "not caught up while a node is down")

	c.Restart(leader)
	require.NoError(t, c.WaitCaughtUp("CCM_COMPLIANCE", 30*time.Second), "the restarted node catches up")
	states, err := c.StreamStates("CCM_COMPLIANCE")
	require.NoError(t, err)
	for _, s := range states {
		assert.Equal(t, uint64(200), s.State.Msgs, "node %s holds every message", s.Name)
		assert.Equal(t, uint64(200), s.State.LastSeq, "node %s", s.Name)
	}
}

// TestGenCertsScript runs deploy/nats/gen-certs.sh and starts the cluster
// with TLS on its certificates: a trial CA that works as the README says.
func TestGenCertsScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(natstest.DeployDir(t), "gen-certs.sh")
	out, err := exec.Command("bash", script, dir).CombinedOutput()
	require.NoError(t, err, "gen-certs.sh: %s", out)
	for _, f := range []string{"ca.pem", "ccm-nats-1-cert.pem", "ccm-nats-1-key.pem", "client-cert.pem", "client-key.pem"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	info, err := os.Stat(filepath.Join(dir, "ccm-nats-1-key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "keys are private")

	env := natstest.DeployEnv()
	// One node's certificate serves all three here: the routes go to
	// 127.0.0.1, which every certificate of the script names.
	env["CCM_NATS_TLS_CERT"] = filepath.Join(dir, "ccm-nats-1-cert.pem")
	env["CCM_NATS_TLS_KEY"] = filepath.Join(dir, "ccm-nats-1-key.pem")
	env["CCM_NATS_TLS_CA"] = filepath.Join(dir, "ca.pem")
	c := natstest.RunCluster(t, natstest.ClusterOptions{ConfigDir: natstest.DeployDir(t), Env: env, TLS: true})
	nc, err := nats.Connect(c.URL(), nats.UserInfo(roles.Auditor, natstest.DeployPassword(roles.Auditor)),
		nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.ClientCert(filepath.Join(dir, "client-cert.pem"), filepath.Join(dir, "client-key.pem")))
	require.NoError(t, err, "a client trusting the trial CA connects")
	defer nc.Close()
	assert.True(t, nc.TLSRequired())
}

package natstest_test

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
)

// destructive are the API subjects no user of the ledger's account may
// publish to.
var destructive = []string{"$JS.API.STREAM.DELETE.CCM", "$JS.API.STREAM.PURGE.CCM", "$JS.API.STREAM.MSG.DELETE.CCM"}

// TestDeployConfigParses reads every node configuration of deploy/nats with
// the server's own parser and checks the settings deploy/README.md
// promises.
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
		for _, role := range natstest.DeployRoles {
			u := users[role]
			require.NotNil(t, u, "%s: user %s", node, role)
			assert.Equal(t, natstest.DeployPassword(role), u.Password, "%s: the password of %s comes from %s", node, role, natstest.DeployPasswordEnv(role))
			require.NotNil(t, u.Permissions, "%s: %s has permissions", node, role)
			if role == "sys" {
				assert.Equal(t, "SYS", u.Account.Name)
				assert.Contains(t, u.Permissions.Publish.Deny, "$JS.API.ACCOUNT.PURGE.>", "sys may not purge an account")
				continue
			}
			assert.Equal(t, "CCM", u.Account.Name, "%s: %s is in the ledger's account", node, role)
			for _, subj := range destructive {
				assert.Contains(t, u.Permissions.Publish.Deny, subj, "%s: %s is denied %s", node, role, subj)
			}
			if role != "operator" {
				assert.Contains(t, u.Permissions.Publish.Deny, "$JS.API.STREAM.UPDATE.CCM", "%s: only the operator updates the stream", node)
			}
			assert.Subset(t, u.Permissions.Subscribe.Deny, []string{"ccm.>", "$KV.>"}, "%s: %s may not subscribe to the ledger's subjects", node, role)
		}
	}
	assert.Len(t, names, 3, "three distinct server names: %v", names)
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
	_, err = nats.Connect(c.URL(), nats.UserInfo("auditor", natstest.DeployPassword("auditor")))
	require.Error(t, err, "a client without the CA cannot connect")
	assert.Contains(t, err.Error(), "unknown authority")
	nc, err := nats.Connect(c.URL(), nats.UserInfo("auditor", natstest.DeployPassword("auditor")), nats.RootCAs(ca.CertFile))
	require.NoError(t, err, "a client with the CA connects")
	nc.Close()
}

// TestRunClusterKillRestart starts the deployment's three nodes, creates an
// R3 stream as the operator, and checks that it survives the loss of its
// leader and that the restarted node catches up.
func TestRunClusterKillRestart(t *testing.T) {
	// A password may be given to the servers as its bcrypt hash.
	env := natstest.DeployEnv()
	hash, err := bcrypt.GenerateFromPassword([]byte(natstest.DeployPassword("auditor")), bcrypt.MinCost)
	require.NoError(t, err)
	env[natstest.DeployPasswordEnv("auditor")] = string(hash)
	start := time.Now()
	c := natstest.RunCluster(t, natstest.ClusterOptions{ConfigDir: natstest.DeployDir(t), Env: env})
	t.Logf("three nodes up with a meta leader in %v", time.Since(start))
	auditor, err := nats.Connect(c.URL(), nats.UserInfo("auditor", natstest.DeployPassword("auditor")))
	require.NoError(t, err, "the auditor logs in with the password whose hash the servers hold")
	auditor.Close()
	assert.Less(t, time.Since(start), 10*time.Second, "starting the cluster")
	require.Len(t, c.Servers(), 3)
	names := []string{c.Name(0), c.Name(1), c.Name(2)}
	assert.Equal(t, []string{"ccm-nats-1", "ccm-nats-2", "ccm-nats-3"}, names)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.URL(), nats.UserInfo("operator", natstest.DeployPassword("operator")), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "CCM_COMPLIANCE", Subjects: []string{"ccm.compliance.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	require.NoError(t, err, "the operator creates an R3 stream")

	ledger, err := nats.Connect(c.URL(), nats.UserInfo("ledger", natstest.DeployPassword("ledger")), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
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
	nc, err := nats.Connect(c.URL(), nats.UserInfo("auditor", natstest.DeployPassword("auditor")),
		nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.ClientCert(filepath.Join(dir, "client-cert.pem"), filepath.Join(dir, "client-key.pem")))
	require.NoError(t, err, "a client trusting the trial CA connects")
	defer nc.Close()
	assert.True(t, nc.TLSRequired())
}

package natsconf_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	natsconf "github.com/ccm-ledger/ccm-ledger/deploy/nats"
)

// node.conf is the template rendered for production: what the trial and
// the tests render differs only in the values.
func TestNodeConfIsTheTemplateRendered(t *testing.T) {
	want, err := natsconf.Render(natsconf.Production())
	require.NoError(t, err)
	got, err := os.ReadFile("node.conf")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "node.conf is out of date: go generate ./deploy/nats")
}

// A node directory written for one host parses with nats-server's parser
// and has the rendered values, and the shared settings of the deployment.
func TestWriteNodeDir(t *testing.T) {
	for _, r := range append(roles.All(), roles.Role{Name: "sys"}) {
		t.Setenv(roles.PasswordEnv(r.Name), "a-test-password-for-"+r.Name)
	}
	dir, store := t.TempDir(), filepath.Join(t.TempDir(), "store with a space")
	n := natsconf.Node{Host: "127.0.0.1", ClientPort: 14222, ClusterPort: 16222, StoreDir: store,
		Routes: []string{"nats-route://127.0.0.1:16222", "nats-route://127.0.0.1:16223", "nats-route://127.0.0.1:16224"}}
	require.NoError(t, natsconf.WriteNodeDir(dir, natsconf.Files(), n, false))
	o, err := server.ProcessConfigFile(filepath.Join(dir, natsconf.NodeFile(1)))
	require.NoError(t, err)
	assert.Equal(t, natsconf.ServerName(1), o.ServerName)
	assert.Equal(t, "127.0.0.1", o.Host)
	assert.Equal(t, 14222, o.Port)
	assert.Zero(t, o.HTTPPort, "no monitoring listener")
	assert.Equal(t, 16222, o.Cluster.Port)
	assert.Len(t, o.Routes, 3)
	assert.Equal(t, store, o.StoreDir)
	assert.True(t, o.SyncAlways, "the shared settings: cluster.conf")
	assert.Len(t, o.Users, 6, "the shared settings: accounts.conf")
	assert.Nil(t, o.TLSConfig)
}

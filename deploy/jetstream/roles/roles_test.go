package roles_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// The deployment's accounts.conf is the role table, generated.
func TestAccountsConfIsGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "nats", "accounts.conf")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(roles.AccountsConf()), string(got), "%s is not the role table: run go generate ./deploy/jetstream/roles", path)
}

// nats-server reads the generated file, with every role.
func TestAccountsConfParses(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.conf")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accounts.conf"), roles.AccountsConf(), 0o600))
	require.NoError(t, os.WriteFile(conf, []byte("jetstream { store_dir: \""+filepath.ToSlash(dir)+"\" }\ninclude accounts.conf\n"), 0o600))
	for _, r := range append(roles.All(), roles.Role{Name: "sys"}) {
		t.Setenv(roles.PasswordEnv(r.Name), "test-"+r.Name)
	}
	opts, err := server.ProcessConfigFile(conf)
	require.NoError(t, err)
	names := map[string]bool{}
	for _, u := range opts.Users {
		names[u.Username] = true
	}
	for _, r := range roles.All() {
		assert.True(t, names[r.Name], "user %s", r.Name)
	}
}

// Only the ledger may publish events or listen on the commands; nobody
// may delete the log.
func TestOnlyTheLedgerWritesEvents(t *testing.T) {
	for _, r := range roles.All() {
		p := r.Permissions()
		assert.Contains(t, p.Publish.Deny, "$JS.API.STREAM.DELETE.CCM", r.Name)
		if r.Name == roles.Ledger {
			assert.Contains(t, p.Publish.Allow, "ccm.events.>")
			assert.Contains(t, p.Subscribe.Allow, "ccm.cmd.>")
			assert.Contains(t, p.Publish.Allow, "_INBOX.>", "it answers on any node")
			continue
		}
		for _, s := range p.Publish.Allow {
			assert.NotContains(t, []string{"ccm.events.>", "ccm.>", ">"}, s, "%s may publish %s", r.Name, s)
		}
		for _, s := range p.Subscribe.Allow {
			assert.NotEqual(t, "ccm.cmd.>", s, "%s may answer commands", r.Name)
		}
	}
}

// Only the ledger publishes the log's evidence; anyone may keep copies of
// the checkpoints; nobody deletes from the evidence stream.
func TestOnlyTheLedgerSignsCheckpoints(t *testing.T) {
	for _, r := range roles.All() {
		p := r.Permissions()
		for _, s := range []string{"$JS.API.STREAM.DELETE.CCM_EVIDENCE", "$JS.API.STREAM.PURGE.CCM_EVIDENCE", "$JS.API.STREAM.MSG.DELETE.CCM_EVIDENCE"} {
			assert.Contains(t, p.Publish.Deny, s, r.Name)
		}
		publishes := slices.Contains(p.Publish.Allow, roles.Checkpoints)
		assert.Equal(t, r.Name == roles.Ledger, publishes, "%s publishes checkpoints", r.Name)
		if r.Name != roles.Operator {
			assert.True(t, slices.Contains(p.Subscribe.Allow, roles.Checkpoints) || slices.Contains(p.Publish.Allow, "$JS.API.DIRECT.GET.CCM_EVIDENCE"),
				"%s may keep copies of the checkpoints", r.Name)
		}
	}
}

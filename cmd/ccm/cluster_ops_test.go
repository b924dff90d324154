package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// writeRolesEnv writes the clients' environment file of the deployment's
// test passwords, in the format of roles.EnvLine.
func writeRolesEnv(t *testing.T) string {
	t.Helper()
	var lines []string
	for _, r := range natstest.DeployRoles {
		l, err := roles.EnvLine(roles.PasswordEnv(r), natstest.DeployPassword(r))
		require.NoError(t, err)
		lines = append(lines, l)
	}
	f := filepath.Join(t.TempDir(), "roles.env")
	require.NoError(t, os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return f
}

// The operator's commands on the deployed cluster: `ccm init` takes the
// cluster's replica count by itself and refuses fewer, `ccm cluster
// status` shows every stream's leader and current replicas, and `ccm
// cluster check` passes every check of a deployment as deploy/ makes it,
// with every role's permissions as the role table says.
func TestClusterOperatorCommands(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), slow*120*time.Second)
	defer cancel()
	op := roleEnv(roles.Operator)
	code, _, errs := ccmRun(ctx, op, append([]string{"init", "--replicas", "1"}, asRole(c, roles.Operator)...)...)
	assert.Equal(t, exitUsage, code, "ccm init --replicas 1 on a cluster: %s", errs)
	assert.Contains(t, errs, "--replicas 1 on cluster ccm: the streams take 3")
	var res []infra.Resource
	poll(t, slow*30*time.Second, 100*time.Millisecond, func() bool {
		code, out, errs := ccmRun(ctx, op, append([]string{"init", "--format", "json"}, asRole(c, roles.Operator)...)...)
		if code != exitOK {
			require.Regexp(t, settlingCodes, errs, "ccm init: exit %d", code)
			return false
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		return true
	}, "ccm init as the operator")
	for _, r := range res {
		assert.Equal(t, 3, r.Replicas, "%s: the cluster's replica count without --replicas", r.Name)
		require.NoError(t, c.WaitCaughtUp(r.Name, slow*30*time.Second))
	}
	serveClusterLedger(t, c.URL(), "--http", "off")

	code, out, errs := ccmRun(ctx, op, append([]string{"cluster", "status", "--format", "json"}, asRole(c, roles.Operator)...)...)
	require.Equal(t, exitOK, code, "ccm cluster status: %s", errs)
	var sts []infra.StreamStatus
	require.NoError(t, json.Unmarshal([]byte(out), &sts), out)
	require.Len(t, sts, 5)
	for _, st := range sts {
		require.Len(t, st.Nodes, 3, "%s: the leader and two replicas", st.Name)
		assert.True(t, st.Nodes[0].Leader, "%s: the leader first", st.Name)
		assert.Equal(t, "ccm", st.Cluster)
	}
	code, out, errs = ccmRun(ctx, op, append([]string{"cluster", "status"}, asRole(c, roles.Operator)...)...)
	require.Equal(t, exitOK, code, "ccm cluster status: %s", errs)
	assert.Regexp(t, `(?m)^CCM +3 +ccm-nats-\d +leader +yes +0 +0 +0`, out)

	code, out, errs = ccmRun(ctx, op, append([]string{"cluster", "check", "--roles-env", writeRolesEnv(t)}, asRole(c, roles.Operator)...)...)
	assert.Equal(t, exitOK, code, "ccm cluster check: %s%s", out, errs)
	assert.NotContains(t, out, "FAIL")
	t.Logf("ccm cluster check:\n%s", out)
	assert.NotContains(t, out, "SKIP", "every role checked")
	assert.Contains(t, out, "PASS  recorder may publish to ccm.cmd.record")
	assert.Contains(t, out, "PASS  a ledger (ccm serve) answers commands")
	assert.Contains(t, out, "PASS  auditor may not publish to ccm.cmd.record")
	assert.Contains(t, out, "PASS  ledger may publish to ccm.events.XXX.signed")
	assert.Contains(t, out, "PASS  operator may not subscribe to ccm.events.>")
	assert.Zero(t, mostStored(t, c), "the probes stored nothing")

	// A deployment that differs: the log's bans checked, a role refused.
	code, out, _ = ccmRun(ctx, op, append([]string{"cluster", "check", "--replicas", "5"}, asRole(c, roles.Operator)...)...)
	assert.Equal(t, exitCheck, code, "ccm cluster check --replicas 5 on three nodes: %s", out)
	assert.Contains(t, out, "FAIL  CCM has 5 replicas")
	wrong := filepath.Join(t.TempDir(), "wrong.env")
	require.NoError(t, os.WriteFile(wrong, []byte("CCM_NATS_AUDITOR_PASSWORD='not-the-auditors-password'\n"), 0o600))
	code, out, _ = ccmRun(ctx, op, append([]string{"cluster", "check", "--roles-env", wrong}, asRole(c, roles.Operator)...)...)
	assert.Equal(t, exitCheck, code, "ccm cluster check with a wrong password: %s", out)
	assert.Contains(t, out, "FAIL  auditor connects")
	assert.Contains(t, out, "SKIP  recorder permissions")
}

// ccm passwd hashes a password for the server's configuration, as
// nats-server checks it, and prints the line of the environment file.
func TestPasswd(t *testing.T) {
	code, out, errs := run(t, "a-password-of-24-chars!!\n", "passwd", "--role", "auditor")
	require.Equal(t, exitOK, code, errs)
	env, err := roles.ReadEnvFile(strings.NewReader(out))
	require.NoError(t, err)
	hash := env["CCM_NATS_AUDITOR_PASSWORD"]
	assert.True(t, strings.HasPrefix(hash, "$2a$11$"), "a bcrypt hash of cost 11: %q", hash)
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("a-password-of-24-chars!!")))

	code, _, errs = run(t, "short\n", "passwd")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "fewer than 16")
}

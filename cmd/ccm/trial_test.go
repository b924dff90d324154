package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// The trial as an operator runs it: three nodes of deploy/nats in processes
// of their own, checked; a node killed and started again; the trial
// stopped, reset to empty stores and started again.
func TestClusterTrial(t *testing.T) {
	t.Setenv(runAsCCM, "1")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), slow*120*time.Second)
	defer cancel()
	trial := func(args ...string) string {
		t.Helper()
		code, out, errs := ccmRun(ctx, nil, append([]string{"cluster", "trial"}, args...)...)
		require.Equal(t, exitOK, code, "ccm cluster trial %v: %s%s", args, out, errs)
		return out
	}
	t.Cleanup(func() { ccmRun(context.Background(), nil, "cluster", "trial", "stop", "--dir", dir) })
	out := trial("start", "--dir", dir)
	assert.Equal(t, 5, strings.Count(out, "3 replicas, created"), "the streams and buckets made: %s", out)

	clients, err := readEnvFile(filepath.Join(dir, trialClients))
	require.NoError(t, err)
	// The files as an operator's shell reads them: the hashes' "$" intact.
	for _, f := range []string{trialServers, trialClients} {
		env, err := readEnvFile(filepath.Join(dir, f))
		require.NoError(t, err)
		for k, v := range env {
			out, err := exec.Command("sh", "-c", `set -a; . "$1"; printf '%s' "$(printenv "$2")"`, "sh", filepath.Join(dir, f), k).Output()
			require.NoError(t, err)
			assert.Equal(t, v, string(out), "%s: %s as sh reads it", f, k)
		}
	}
	op := map[string]string{"CCM_NATS_URL": clients["CCM_NATS_URL"], "CCM_NATS_USER": roles.Operator,
		"CCM_NATS_PASSWORD": clients[roles.PasswordEnv(roles.Operator)], roles.PasswordEnv("sys"): clients[roles.PasswordEnv("sys")]}
	ledger := map[string]string{"CCM_NATS_USER": roles.Ledger, "CCM_NATS_PASSWORD": clients[roles.PasswordEnv(roles.Ledger)],
		"XDG_DATA_HOME": t.TempDir()}
	served := serveLedgerWith(t, ledger, clients["CCM_NATS_URL"], "--http", "off")
	check := func() (int, string) {
		code, out, _ := ccmRun(ctx, op, "cluster", "check", "--roles-env", filepath.Join(dir, trialClients))
		return code, out
	}
	code, out := check()
	require.Equal(t, exitOK, code, "ccm cluster check of a new trial: %s", out)
	assert.NotContains(t, out, "SKIP")
	assert.Contains(t, out, "PASS  a ledger (ccm serve) answers commands")

	// Node 2 fails; the others go on; it is started again and catches up.
	pid, ok := trialRunning(trialNodeDir(dir, 1))
	require.True(t, ok, "node 2 runs")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	poll(t, slow*10*time.Second, 20*time.Millisecond, func() bool { return !alive(pid) }, "node 2 killed")
	code, out, errs := ccmRun(ctx, op, "cluster", "status")
	require.Equal(t, exitOK, code, "ccm cluster status with a node down: %s", errs)
	assert.Contains(t, out, "leader")
	trial("start", "--dir", dir, "--node", "2")
	poll(t, slow*30*time.Second, 100*time.Millisecond, func() bool { code, _ := check(); return code == exitOK },
		"the restarted node is current again")
	code, out, errs = ccmRun(ctx, op, "cluster", "status", "--per-node")
	require.Equal(t, exitOK, code, "ccm cluster status --per-node: %s", errs)
	assert.Regexp(t, `(?m)^CCM +3 +ccm-nats-2 +replica +yes +0 +0 +0`, out, "node 2 reports its own copy")

	// A full stop, a reset to empty stores, a new start.
	served.stop()
	trial("stop", "--dir", dir)
	for i := range 3 {
		_, ok := trialRunning(trialNodeDir(dir, i))
		assert.False(t, ok, "node %d stopped", i+1)
	}
	trial("reset", "--dir", dir)
	_, err = os.Stat(filepath.Join(trialNodeDir(dir, 0), "store"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the stores are removed")
	out = trial("start", "--dir", dir)
	assert.Equal(t, 5, strings.Count(out, "3 replicas, created"), "an empty cluster again: %s", out)
	again, err := readEnvFile(filepath.Join(dir, trialClients))
	require.NoError(t, err)
	assert.Equal(t, clients, again, "the same ports and passwords")
}

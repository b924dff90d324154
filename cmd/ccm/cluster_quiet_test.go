package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// A deployment used as deploy/README.md says logs no error: no ordinary
// command creates or updates a stream or bucket or tries anything its
// role may not, before `ccm serve` has run and after. Each role runs the
// commands of its part; the servers' logs are read afterwards.
func TestClusterHealthyDeploymentLogsNoError(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), slow*120*time.Second)
	defer cancel()
	run := func(role string, args ...string) string {
		t.Helper()
		code, out, errs := ccmRun(ctx, roleEnv(role), append(args, asRole(c, role)...)...)
		require.Equal(t, exitOK, code, "ccm %v as %s: %s", args, role, errs)
		return out
	}
	operatorInits(t, c)
	// Before the ledger runs: the views' buckets exist, readers find them.
	run(roles.Auditor, "report", "--as-of", "2012-09-14")
	run(roles.Auditor, "snapshots")
	serveClusterLedger(t, c.URL(), "--http", "off", "--projector-tick", "100ms")
	var res importOutput
	require.NoError(t, json.Unmarshal([]byte(run(roles.Recorder, "import", "--bundled", "--format", "json")), &res))
	require.Positive(t, res.Recorded)
	run(roles.Recorder, "record", "--type", "meeting-held", "--date", "2026-09-04", "--source", "test",
		"--payload", `{"code":"TEST","name":"Test meeting","city":"Geneva","start":"2026-09-01","end":"2026-09-04"}`)
	for _, args := range [][]string{
		{"status", "SWE"}, {"report", "--as-of", "3MSP"}, {"history", "LAO"}, {"diff", "3MSP", "13MSP"},
		{"snapshots"}, {"verify"}, {"export"},
	} {
		run(roles.Auditor, args...)
	}
	run(roles.Recorder, "status", "SWE")
	code, _, errs := ccmRun(ctx, roleEnv(roles.Service), append([]string{"watch", "SWE.>", "--from-start", "--count", "1"},
		append(asRole(c, roles.Service), "--nats-inbox-prefix", natstest.ServiceInbox)...)...)
	require.Equal(t, exitOK, code, "ccm watch as the service: %s", errs)
	run(roles.Operator, "init", "--replicas", "3")

	assert.Empty(t, c.LogLines("ERR"), "the servers log no error")
	for _, l := range c.LogLines("WRN") {
		t.Logf("warning: %s", l)
	}
}

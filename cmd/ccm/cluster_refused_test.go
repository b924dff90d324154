package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// A command the user may not send is refused by the server, which answers
// nothing: the client fails at once with the refusal, as for any other
// permission, and never retries it or waits for the command's timeout.
func TestClusterRefusedCommandsFailAtOnce(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	operatorInits(t, c)
	serveClusterLedger(t, c.URL())
	input := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(input, []byte(`{"type":"signed","state":"SWE","date":"2008-12-03","source":"test"}`+"\n"), 0o600))
	commands := map[string][]string{
		"init":   {"init"},
		"import": {"import", input},
		"record": {"record", "--type", "signed", "--state", "SWE", "--date", "2008-12-03", "--source", "test"},
	}
	for _, role := range []string{roles.Auditor, roles.Service} {
		for name, args := range commands {
			// Far below the command's own timeouts (30 s a part, retried
			// while the ledger is busy): a wait would end here.
			ctx, cancel := context.WithTimeout(context.Background(), slow*15*time.Second)
			code, out, errs := ccmRun(ctx, roleEnv(role), append(args, asRole(c, role)...)...)
			cancel()
			assert.Equal(t, exitFailure, code, "%s as %s: %s%s", name, role, out, errs)
			assert.Contains(t, errs, "permission denied: user "+role+" may not", "%s as %s", name, role)
			assert.NotContains(t, errs, "gave up", "%s as %s: not retried", name, role)
			assert.NotContains(t, errs, "context deadline", "%s as %s: not waited out", name, role)
		}
	}
	assert.Zero(t, mostStored(t, c), "nothing was recorded")
	violations := strings.Join(c.LogLines("ERR"), "\n")
	assert.Contains(t, violations, `"CCM/user:auditor" - Publish Violation - Subject "ccm.cmd.import"`, "the server logs each refusal")
}

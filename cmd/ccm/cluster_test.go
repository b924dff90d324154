package main

// Tests of the ledger on the three-node cluster of deploy/nats
// (natstest.RunDeployCluster), run as it is deployed: the operator runs
// `ccm init --replicas 3`, `ccm serve` is the one writer (the user
// ledger), recorders send it commands with `ccm import` and `ccm record`,
// auditors read. The imports go on while the stream's leader or a
// follower is killed and restarted, or while the importing client is
// killed and then run again; reads go through a replica that is catching
// up; recorders race on one State through two ledgers; `ccm watch` runs as
// the deployed service user. Each import is checked event by event against
// a single-node run of the same input, and the as-of reports of the
// cluster against those of the single-node run.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

const (
	// faultEvents is the size of the generated ledger of the fault tests.
	faultEvents = 20000
	// faultSeed is its seed.
	faultSeed = 2026
	// downFor is how long a killed node stays down.
	downFor = 3 * time.Second
	// partTimeout is how long the ledger of the tests waits for the next
	// part of an import before it drops it (ccm serve --import-part-timeout).
	partTimeout = 3 * time.Second
)

// clusterNow is the clock of every run of the program in these tests, the
// same as that of run (cli_test.go): after synth.End.
func clusterNow() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }

// asOfPoints are the as-of points at which a cluster's reports must equal
// the single-node run's: three meetings of the generated ledger, resolved
// through the meeting-held events of the log, and two dates (the closing
// day of the 3MSP, and the end of the generated timeline). The generated
// ledger holds no real meeting: it is imported with --no-record, since
// its invented signatures and deposits would contradict the bundled record.
var asOfPoints = []string{synth.MeetingCode(2011), synth.MeetingCode(2015), synth.MeetingCode(2020), "2012-09-14", synth.End.String()}

// ccmRun runs the whole program in-process, as `ccm args...`, with env as
// its whole environment and the clock clusterNow, until it returns or ctx
// ends.
func ccmRun(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	m := &Main{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
		Now:    clusterNow,
	}
	code := m.Run(ctx, args)
	return code, out.String(), errb.String()
}

// roleEnv is the environment of a client of the deployed role: its
// password, given in the environment as deploy/README.md says.
func roleEnv(role string) map[string]string {
	return map[string]string{jslog.EnvPassword: natstest.DeployPassword(role), "XDG_DATA_HOME": clusterDataHome}
}

// asRole returns the connection flags of a client of the cluster as role.
func asRole(c *natstest.Cluster, role string) []string {
	return []string{"--nats-url", c.URL(), "--nats-user", role}
}

// settlingCodes are the JetStream errors of a new cluster still settling,
// as a failed `ccm init` prints them: no suitable peers yet (10005), the
// system temporarily unavailable (10008), insufficient resources (10023).
var settlingCodes = regexp.MustCompile(`err_code=(10005|10008|10023)\b`)

// operatorInits runs `ccm init --replicas 3` as the operator, as
// deploy/README.md says, until the cluster has settled, and waits until
// every node holds a current replica of each stream it made.
func operatorInits(t *testing.T, c *natstest.Cluster) {
	t.Helper()
	deadline := time.Now().Add(slow * 30 * time.Second)
	var res []infra.Resource
	for {
		ctx, cancel := context.WithTimeout(context.Background(), slow*30*time.Second)
		code, out, errs := ccmRun(ctx, roleEnv(roles.Operator), append([]string{"init", "--replicas", "3", "--format", "json"}, asRole(c, roles.Operator)...)...)
		cancel()
		if code == exitOK {
			require.NoError(t, json.Unmarshal([]byte(out), &res), "ccm init --format json: %s", out)
			break
		}
		// Just after the meta leader's election it may not know every
		// peer yet: run it again while the cluster says it is settling.
		require.True(t, settlingCodes.MatchString(errs) && time.Now().Before(deadline), "ccm init --replicas 3 as the operator: exit %d: %s", code, errs)
		t.Logf("ccm init: %s; again", strings.TrimSpace(errs))
		time.Sleep(100 * time.Millisecond)
	}
	require.Len(t, res, 5, "ccm init reports the log, its evidence, the compliance stream and the two buckets: %+v", res)
	for _, r := range res {
		assert.Equal(t, 3, r.Replicas, "%s: replicas", r.Name)
		assert.Empty(t, r.Problem, "%s: problem", r.Name)
		require.NoError(t, c.WaitCaughtUp(r.Name, slow*30*time.Second), "every node holds a current replica of %s", r.Name)
	}
}

// clusterLedger is a `ccm serve` run in-process on the cluster as the user
// ledger: the one writer.
type clusterLedger struct {
	stderr  *lockedBuffer
	httpURL string // "" with --http off
	served  chan struct{}
	code    int
	stop    func()
}

// serveClusterLedger runs `ccm serve --nats-url url --nats-user ledger --replicas
// 3 args...` until the test ends, and returns once it answers commands.
func serveClusterLedger(t *testing.T, url string, args ...string) *clusterLedger {
	t.Helper()
	return serveLedgerWith(t, roleEnv(roles.Ledger), url, args...)
}

// serveLedgerWith is serveClusterLedger with env as the environment.
func serveLedgerWith(t *testing.T, env map[string]string, url string, args ...string) *clusterLedger {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &clusterLedger{stderr: &lockedBuffer{}, served: make(chan struct{})}
	ready := make(chan string, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: l.stderr,
		Getenv: func(k string) string { return env[k] }, Now: clusterNow,
		ServeReady: func(_, httpAddr string) { ready <- httpAddr }}
	go func() {
		defer close(l.served)
		l.code = m.Run(ctx, append([]string{"serve", "--nats-url", url, "--nats-user", roles.Ledger, "--replicas", "3"}, args...))
	}()
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-l.served:
			case <-time.After(slow * 30 * time.Second):
				t.Errorf("ccm serve did not stop; stderr:\n%s", l.stderr.String())
			}
		})
	}
	t.Cleanup(l.stop)
	select {
	case addr := <-ready:
		if addr != "" {
			l.httpURL = "http://" + addr
		}
	case <-l.served:
		t.Fatalf("ccm serve ended: exit %d: %s", l.code, l.stderr.String())
	case <-time.After(slow * 30 * time.Second):
		t.Fatalf("ccm serve not ready: %s", l.stderr.String())
	}
	return l
}

// poll calls done every interval until it returns true, and fails the
// test with what (and its arguments) if within passes first. Unlike
// require.Eventually it calls done on the test's goroutine, so that done
// may fail the test itself.
func poll(t *testing.T, within, interval time.Duration, done func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, fmt.Sprintf(what, args...))
		}
		time.Sleep(interval)
	}
}

// waitLog waits until the ledger's log has a line matching re and returns
// its submatches.
func (l *clusterLedger) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	var m []string
	poll(t, within, 20*time.Millisecond, func() bool {
		m = re.FindStringSubmatch(l.stderr.String())
		return m != nil
	}, "the ledger logs %q; its log:\n%s", re, l.stderr)
	return m
}

// nodesOf returns the nodes on which the user has a connection open.
func nodesOf(c *natstest.Cluster, user string) []int {
	var out []int
	for i, s := range c.Servers() {
		if s == nil {
			continue
		}
		cz, err := s.Connz(&server.ConnzOptions{Username: true})
		if err != nil {
			continue
		}
		for _, ci := range cz.Conns {
			if ci.AuthorizedUser == user {
				out = append(out, i)
			}
		}
	}
	return out
}

// nodeNames names nodes for the test's log.
func nodeNames(c *natstest.Cluster, nodes []int) string {
	var names []string
	for _, i := range nodes {
		names = append(names, c.Name(i))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// storedOnLeader returns the stream's leader and the events it holds, or
// -1 and the most any running node holds while no node leads.
func storedOnLeader(c *natstest.Cluster) (int, uint64) {
	states, err := c.StreamStates(jslog.DefaultStream)
	if err != nil {
		return -1, 0
	}
	var most uint64
	for i, s := range states {
		if s.Leader {
			return i, s.State.Msgs
		}
		most = max(most, s.State.Msgs)
	}
	return -1, most
}

// mostStored returns the most events any running node holds.
func mostStored(t *testing.T, c *natstest.Cluster) uint64 {
	t.Helper()
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	var most uint64
	for _, s := range states {
		most = max(most, s.State.Msgs)
	}
	return most
}

// faultRef is the single-node run of the generated ledger: the input file,
// the events in the order the import stored them, and the reports at
// asOfPoints.
type faultRef struct {
	file    string
	input   map[uuid.UUID]events.Envelope
	order   []uuid.UUID
	reports map[string]map[string]any
	took    time.Duration
}

var (
	faultRefOnce sync.Once
	faultRefVal  *faultRef
	faultRefErr  error
	faultRefDir  string
)

// TestMain removes the directory of the single-node run.
func TestMain(m *testing.M) {
	// The test binary runs as ccm itself where a command starts ccm
	// again: the trial's nodes (ccm cluster node).
	if os.Getenv(runAsCCM) == "1" {
		os.Exit(NewMain().Run(context.Background(), os.Args[1:]))
	}
	// The per-user data directory of the processes the tests run (a
	// ccm serve on a cluster keeps its checkpoint key there): never the
	// user's own.
	var err error
	if clusterDataHome, err = os.MkdirTemp("", "ccm-test-data-home-"); err != nil {
		panic(err)
	}
	code := m.Run()
	if faultRefDir != "" {
		os.RemoveAll(faultRefDir)
	}
	os.RemoveAll(clusterDataHome)
	os.Exit(code)
}

// runAsCCM, set to 1 in a test binary's environment, makes it run as ccm.
const runAsCCM = "CCM_TEST_RUN_AS_CCM"

// clusterDataHome is $XDG_DATA_HOME for the cluster tests' commands.
var clusterDataHome string

// faultReference returns the single-node run, made once per test binary
// in a directory removed when the binary exits (TestMain): its input file
// is read by every fault test.
func faultReference(t *testing.T) *faultRef {
	t.Helper()
	faultRefOnce.Do(func() { faultRefVal, faultRefErr = makeFaultReference() })
	require.NoError(t, faultRefErr, "the single-node run of the generated ledger")
	return faultRefVal
}

func makeFaultReference() (*faultRef, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "ccm-cluster-test-")
	if err != nil {
		return nil, err
	}
	faultRefDir = dir
	evs := synth.Generate(faultEvents, faultSeed)
	if len(evs) != faultEvents {
		return nil, fmt.Errorf("synth.Generate(%d, %d) gave %d events", faultEvents, faultSeed, len(evs))
	}
	ref := &faultRef{file: filepath.Join(dir, "ledger.jsonl"), input: make(map[uuid.UUID]events.Envelope, len(evs)), reports: map[string]map[string]any{}}
	var buf bytes.Buffer
	for _, e := range evs {
		buf.Write(e.StoredJSON())
		buf.WriteByte('\n')
		ref.input[e.ID] = e
	}
	if len(ref.input) != faultEvents {
		return nil, fmt.Errorf("the generated ledger has %d distinct ids, want %d", len(ref.input), faultEvents)
	}
	if err := os.WriteFile(ref.file, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()
	store := filepath.Join(dir, "single-node")
	code, out, errs := ccmRun(ctx, nil, "import", ref.file, "--data", store, "--no-record", "--format", "json")
	if code != exitOK {
		return nil, fmt.Errorf("single-node import: exit %d: %s", code, errs)
	}
	var res importOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Recorded != faultEvents {
		return nil, fmt.Errorf("single-node import: %v, output %s", err, out)
	}
	code, out, errs = ccmRun(ctx, nil, "export", "--data", store, "--no-record")
	if code != exitOK {
		return nil, fmt.Errorf("single-node export: exit %d: %s", code, errs)
	}
	for i, line := range eventLines(out) {
		var w struct {
			ID  uuid.UUID `json:"id"`
			Seq uint64    `json:"seq"`
		}
		if err := json.Unmarshal([]byte(line), &w); err != nil || w.Seq != uint64(i+1) {
			return nil, fmt.Errorf("single-node export, line %d: %v (seq %d)", i+1, err, w.Seq)
		}
		ref.order = append(ref.order, w.ID)
	}
	for _, at := range asOfPoints {
		code, out, errs := ccmRun(ctx, nil, "report", "--data", store, "--no-record", "--as-of", at, "--format", "json")
		if code != exitOK {
			return nil, fmt.Errorf("single-node report as of %s: exit %d: %s", at, code, errs)
		}
		r, seq, err := reportWithoutKnownAt(out)
		if err != nil || seq != faultEvents {
			return nil, fmt.Errorf("single-node report as of %s: %v (known at %d)", at, err, seq)
		}
		ref.reports[at] = r
	}
	ref.took = time.Since(start)
	return ref, nil
}

// writePrefix writes the first n events of the single-node run, in its
// order, as an input file.
func (ref *faultRef) writePrefix(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	for _, id := range ref.order[:n] {
		buf.Write(ref.input[id].StoredJSON())
		buf.WriteByte('\n')
	}
	f := filepath.Join(t.TempDir(), fmt.Sprintf("first-%d.jsonl", n))
	require.NoError(t, os.WriteFile(f, buf.Bytes(), 0o600))
	return f
}

// importOutput is the JSON output of `ccm import`.
type importOutput struct {
	Events           int    `json:"events"`
	Recorded         int    `json:"recorded"`
	AlreadyRecorded  int    `json:"already_recorded"`
	LastSeq          uint64 `json:"last_seq"`
	Attempts         int    `json:"attempts"`
	StoredPerAttempt []int  `json:"stored_per_attempt"`
}

// reportWithoutKnownAt decodes the JSON of `ccm report` and removes
// known_at, which differs between ledgers (the record times), returning
// its sequence.
func reportWithoutKnownAt(out string) (map[string]any, uint64, error) {
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, 0, err
	}
	var seq uint64
	if k, ok := r["known_at"].(map[string]any); ok {
		if s, ok := k["seq"].(float64); ok {
			seq = uint64(s)
		}
	}
	delete(r, "known_at")
	return r, seq, nil
}

// readLog returns the events the cluster's log holds, read as the auditor.
func readLog(t *testing.T, c *natstest.Cluster) []events.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow*30*time.Second)
	defer cancel()
	l, err := jslog.Open(ctx, c.DialRole(t, roles.Auditor), jslog.Config{Replicas: 3})
	require.NoError(t, err, "open the log as the auditor")
	got, _, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err, "read the log as the auditor")
	return got
}

// checkPrefix checks that the log holds exactly the first len(got) events
// of the single-node run, in its order, at sequences 1, 2, ..., each stored
// as it was read from the input.
func checkPrefix(t *testing.T, ref *faultRef, got []events.Envelope) {
	t.Helper()
	require.LessOrEqual(t, len(got), len(ref.order), "events stored")
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq, "event %d of the log: sequence", i+1)
		require.Equal(t, ref.order[i], e.ID, "sequence %d: the event the single-node run stored there", e.Seq)
		in, ok := ref.input[e.ID]
		require.True(t, ok, "sequence %d: event %s is one of the input's", e.Seq, e.ID)
		require.Equal(t, string(in.StoredJSON()), string(e.StoredJSON()), "sequence %d: event %s stored as read", e.Seq, e.ID)
	}
}

// checkExactlyOnce checks that every node has caught up and holds
// faultEvents messages at sequences 1..faultEvents with no gap (the same
// bytes on each); that the log, read back, holds every event of the input
// exactly once, in the order of the single-node run; and that the
// cluster's reports at asOfPoints, asked by the auditor, equal the
// single-node run's.
func checkExactlyOnce(t *testing.T, c *natstest.Cluster, ref *faultRef) {
	t.Helper()
	caught := time.Now()
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, slow*30*time.Second), "every replica, a restarted one included, catches up")
	t.Logf("every replica current %v after the import", time.Since(caught).Round(time.Millisecond))
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	for _, s := range states {
		assert.Equal(t, uint64(faultEvents), s.State.Msgs, "messages on %s", s.Name)
		assert.Equal(t, uint64(1), s.State.FirstSeq, "first sequence on %s", s.Name)
		assert.Equal(t, uint64(faultEvents), s.State.LastSeq, "last sequence on %s", s.Name)
		assert.Zero(t, s.State.NumDeleted, "no gap on %s", s.Name)
		assert.Equal(t, states[0].State.Bytes, s.State.Bytes, "bytes on %s equal those on %s", s.Name, states[0].Name)
	}

	got := readLog(t, c)
	require.Len(t, got, faultEvents, "events in the log")
	seen := make(map[uuid.UUID]bool, len(got))
	for _, e := range got {
		require.False(t, seen[e.ID], "event %s stored twice (again at %d)", e.ID, e.Seq)
		seen[e.ID] = true
	}
	for id := range ref.input {
		require.True(t, seen[id], "event %s of the input is stored", id)
	}
	checkPrefix(t, ref, got)

	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()
	for _, at := range asOfPoints {
		code, out, errs := ccmRun(ctx, roleEnv(roles.Auditor), append([]string{"report", "--as-of", at, "--format", "json"}, asRole(c, roles.Auditor)...)...)
		require.Equal(t, exitOK, code, "ccm report --as-of %s on the cluster: %s", at, errs)
		r, seq, err := reportWithoutKnownAt(out)
		require.NoError(t, err, "report as of %s: %s", at, out)
		assert.Equal(t, uint64(faultEvents), seq, "report as of %s: known at", at)
		assert.Equal(t, ref.reports[at], r, "report as of %s: the cluster's equals the single-node run's", at)
	}
}

// waitStored waits until the stream's leader holds at least n events and
// returns the leader and its count; it fails the test if the import (done)
// ends first.
func waitStored(ctx context.Context, t *testing.T, c *natstest.Cluster, n uint64, done <-chan struct{}) (int, uint64) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if leader, stored := storedOnLeader(c); leader >= 0 && stored >= n {
			return leader, stored
		}
		select {
		case <-done:
			_, stored := storedOnLeader(c)
			t.Fatalf("the import ended with %d events stored, before %d were", stored, n)
		case <-ctx.Done():
			t.Fatalf("%d events not stored in time: %v", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// checkImportOutput checks the JSON output of an import into an empty
// stream: every event recorded by this import, none found already
// recorded whatever attempts the ledger needed, and what each attempt
// had acknowledged no more than what was recorded (an attempt whose
// acknowledgement was lost stored more than it was told).
func checkImportOutput(t *testing.T, out string) importOutput {
	t.Helper()
	var res importOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, faultEvents, res.Events, "events read: %s", out)
	assert.Equal(t, faultEvents, res.Recorded, "recorded by this import: %s", out)
	assert.Zero(t, res.AlreadyRecorded, "already recorded, on a stream that was empty: %s", out)
	assert.Equal(t, uint64(faultEvents), res.LastSeq, "last sequence: %s", out)
	assert.GreaterOrEqual(t, res.Attempts, 1, "attempts: %s", out)
	assert.LessOrEqual(t, len(res.StoredPerAttempt), res.Attempts, "one count per attempt that appended: %s", out)
	acked := 0
	for _, n := range res.StoredPerAttempt {
		assert.GreaterOrEqual(t, n, 0, "stored by an attempt: %s", out)
		acked += n
	}
	assert.LessOrEqual(t, acked, res.Recorded, "acknowledged to the attempts, at most what was recorded: %s", out)
	return res
}

// runNodeFault runs `ccm serve` as the ledger and imports the generated
// ledger with `ccm import` run in-process as the recorder; it kills the
// stream's leader (or a follower) when about half of it is stored and
// restarts it downFor later. The import runs inside the ledger, which
// resumes it by itself; the client waits for its answer and exits 0, and
// the ledger must be the single-node run's.
func runNodeFault(t *testing.T, role string) {
	ref := faultReference(t)
	t.Logf("single-node run of %d generated events (seed %d): import, export and %d reports in %v",
		faultEvents, faultSeed, len(asOfPoints), ref.took.Round(time.Millisecond))
	c := natstest.RunDeployCluster(t)
	operatorInits(t, c)
	// The ledger connects to a follower: killed itself in one test, kept
	// in the others.
	ledgerNode := (c.StreamLeader(jslog.DefaultStream) + 1) % 3
	ledger := serveClusterLedger(t, c.URLs()[ledgerNode], "--http", "off", "--projector=false")
	require.Equal(t, []int{ledgerNode}, nodesOf(c, roles.Ledger), "the ledger's connection is on %s", c.Name(ledgerNode))

	ctx, cancel := context.WithTimeout(context.Background(), slow*90*time.Second)
	defer cancel()
	var code int
	var out, errs string
	var ended time.Time
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		code, out, errs = ccmRun(ctx, roleEnv(roles.Recorder), append([]string{"import", ref.file, "--no-record", "--format", "json"}, asRole(c, roles.Recorder)...)...)
		ended = time.Now()
	}()

	leader, atKill := waitStored(ctx, t, c, faultEvents/2, done)
	victim := leader
	switch role {
	case "follower":
		victim = (leader + 1) % 3
		if victim == ledgerNode {
			victim = (leader + 2) % 3
		}
	case "ledger's node":
		victim = ledgerNode
	}
	require.True(t, (victim == ledgerNode) == (role == "ledger's node"), "the %s to kill is %s", role, c.Name(victim))
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	victimHeld := states[victim].State.Msgs
	recorderNodes := nodesOf(c, roles.Recorder)
	killedAfter := time.Since(start)
	c.Kill(victim)
	killed := time.Now()
	select {
	case <-time.After(downFor):
	case <-ctx.Done():
	}
	_, atRestart := storedOnLeader(c)
	newLeader := c.StreamLeader(jslog.DefaultStream)
	c.Restart(victim)
	down := time.Since(killed)
	<-done
	took := ended.Sub(start)
	t.Logf("the ledger connected to %s, the importing client to %s", c.Name(ledgerNode), nodeNames(c, recorderNodes))
	require.Equal(t, exitOK, code, "ccm import completes despite the fault; stderr: %s\nthe ledger's log:\n%s", errs, ledger.stderr.String())
	res := checkImportOutput(t, out)
	newLeaderName := "none"
	if newLeader >= 0 {
		newLeaderName = c.Name(newLeader)
	}
	t.Logf("killed the stream's %s %s %v into the import, when the leader held %d events (the %s %d); "+
		"restarted it %v later, when %d were stored (leader meanwhile: %s); the import ended %v after it started, "+
		"in %d attempts of the ledger (stored by each: %v): %d recorded, %d already recorded, last sequence %d",
		role, c.Name(victim), killedAfter.Round(time.Millisecond), atKill, role, victimHeld,
		down.Round(time.Millisecond), atRestart, newLeaderName, took.Round(time.Millisecond),
		res.Attempts, res.StoredPerAttempt, res.Recorded, res.AlreadyRecorded, res.LastSeq)

	checkExactlyOnce(t, c, ref)
}

func TestClusterImportSurvivesLeaderKill(t *testing.T) { runNodeFault(t, "leader") }

func TestClusterImportSurvivesFollowerKill(t *testing.T) { runNodeFault(t, "follower") }

// The node the ledger is connected to dies while it records the import:
// the ledger reconnects to another node, goes on, and its answer reaches the
// client through that node.
func TestClusterImportSurvivesTheLedgersNodeKill(t *testing.T) { runNodeFault(t, "ledger's node") }

// importParts returns how many parts of imports the ledger's command
// service has taken, refusals left out (its endpoint's statistics, as
// `nats micro stats` shows them).
func importParts(t *testing.T, nc *nats.Conn) int {
	t.Helper()
	subj, err := micro.ControlSubject(micro.StatsVerb, cmdservice.Name, "")
	require.NoError(t, err)
	resp, err := nc.Request(subj, nil, slow*5*time.Second)
	require.NoError(t, err, "the command service's statistics")
	var st micro.Stats
	require.NoError(t, json.Unmarshal(resp.Data, &st), "statistics: %s", resp.Data)
	for _, e := range st.Endpoints {
		if e.Name == "import" {
			return e.NumRequests - e.NumErrors
		}
	}
	t.Fatalf("no import endpoint in the statistics: %s", resp.Data)
	return 0
}

// requireKilled checks that a client process died of SIGKILL, not of
// its own accord.
func requireKilled(t *testing.T, waitErr error, stderr string) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, waitErr, &ee, "the import was killed; stderr: %s", stderr)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the import died of SIGKILL, not %v; stderr: %s", waitErr, stderr)
}

// TestClusterImportClientKilledAndRerun runs the real binary for the
// client, `ccm import` as the recorder, and kills it with SIGKILL twice.
//
// First while it is sending the parts of the generated ledger: it reads
// standard input, of which the test gives it the first half only, so that
// it dies with parts sent and its last part not. The ledger holds the
// unfinished import (it refuses another one meanwhile), stores nothing of
// it, and drops it after its part timeout; nothing of it is ever stored
// (all or nothing).
//
// Then after it has sent the last part of the first half of the ledger
// (as the single-node run stored it): the ledger records that import
// whole although its client is gone, and running it again says that
// every event is already recorded. Running the whole input again records
// the rest, and the ledger is the single-node run's.
func TestClusterImportClientKilledAndRerun(t *testing.T) {
	ref := faultReference(t)
	bin := e2eBinary(t)
	c := natstest.RunDeployCluster(t)
	operatorInits(t, c)
	ledger := serveClusterLedger(t, c.URL(), "--http", "off", "--projector=false", "--import-part-timeout", partTimeout.String())
	auditor := c.DialRole(t, roles.Auditor)
	recorder := c.DialRole(t, roles.Recorder)

	ctx, cancel := context.WithTimeout(context.Background(), slow*90*time.Second+2*partTimeout)
	defer cancel()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), jslog.EnvPassword + "=" + natstest.DeployPassword(roles.Recorder)}
	importCmd := func(input string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"import", input, "--no-record"}, asRole(c, roles.Recorder)...)...)
		cmd.Env = env
		return cmd
	}
	run := func(cmd *exec.Cmd, stderr io.Writer) <-chan error {
		cmd.Stderr = stderr
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return exited
	}

	// 1. Killed between two parts.
	input, err := os.ReadFile(ref.file)
	require.NoError(t, err)
	half := bytes.LastIndexByte(input[:len(input)/2], '\n') + 1
	require.Greater(t, half, 2*cmdservice.PartBytes, "the first half of the input (%d bytes) makes parts enough", half)
	first := importCmd("-")
	stdin, err := first.StdinPipe()
	require.NoError(t, err)
	var firstErr lockedBuffer
	start := time.Now()
	exited := run(first, &firstErr)
	go func() {
		// Fails once the client is dead: what matters is what it sent.
		_, _ = stdin.Write(input[:half])
	}()
	poll(t, slow*30*time.Second, 10*time.Millisecond, func() bool { return importParts(t, auditor) >= 2 },
		"the ledger receives parts of the import; the client's stderr: %s", &firstErr)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	killedAfter := time.Since(start)
	requireKilled(t, <-exited, firstErr.String())
	killed := time.Now()

	// Another import is told to wait while the ledger holds the unfinished
	// one (ccm import waits and tries again).
	probe := nats.NewMsg(cmdservice.ImportSubject)
	probe.Header.Set(cmdservice.HeaderImport, "probe")
	probe.Header.Set(cmdservice.HeaderPart, "1")
	probe.Header.Set(cmdservice.HeaderDryRun, "true")
	resp, err := recorder.RequestMsg(probe, slow*10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "503", resp.Header.Get("Nats-Service-Error-Code"), "another import while the ledger holds the unfinished one: %s", resp.Data)
	assert.Contains(t, string(resp.Data), cmdservice.CodeBusy)

	dropped := regexp.MustCompile(`import ([0-9a-f-]+): no part for \S+ after part (\d+): dropped`)
	var m []string
	poll(t, partTimeout*5/4+slow*30*time.Second, 50*time.Millisecond, func() bool {
		require.Zero(t, mostStored(t, c), "nothing of the unfinished import is stored")
		m = dropped.FindStringSubmatch(ledger.stderr.String())
		return m != nil
	}, "the ledger drops the unfinished import; its log:\n%s", ledger.stderr)
	droppedAfter := time.Since(killed)
	parts := importParts(t, auditor)
	assert.Equal(t, strconv.Itoa(parts), m[2], "the ledger dropped the import after every part it received")
	assert.Zero(t, mostStored(t, c), "nothing of the dropped import is stored")
	t.Logf("SIGKILLed ccm import (pid %d) %v after it started, after %d parts (%d bytes of %d); the ledger dropped import %s %v later, having stored nothing",
		first.Process.Pid, killedAfter.Round(time.Millisecond), parts, half, len(input), m[1], droppedAfter.Round(time.Millisecond))

	// 2. Killed waiting for the answer to its last part.
	prefix := ref.writePrefix(t, faultEvents/2)
	second := importCmd(prefix)
	var secondErr lockedBuffer
	start = time.Now()
	exited2 := run(second, &secondErr)
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = <-exited2
		close(done)
	}()
	// The ledger records nothing before the last part has come.
	_, atKill := waitStored(ctx, t, c, 1, done)
	require.NoError(t, second.Process.Signal(syscall.SIGKILL))
	killedAfter = time.Since(start)
	<-done
	requireKilled(t, waitErr, secondErr.String())
	recorded := regexp.MustCompile(fmt.Sprintf(`import ([0-9a-f-]+): %d events, (\d+) recorded, (\d+) already recorded`, faultEvents/2))
	m = ledger.waitLog(t, recorded, slow*60*time.Second)
	finishedAfter := time.Since(start)
	assert.Equal(t, []string{strconv.Itoa(faultEvents / 2), "0"}, m[2:], "the ledger recorded the whole import of its dead client")
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, slow*30*time.Second))
	partial := readLog(t, c)
	require.Len(t, partial, faultEvents/2, "events stored")
	checkPrefix(t, ref, partial)
	t.Logf("SIGKILLed ccm import of the first %d events %v after it started, when the leader held %d; the ledger finished import %s %v after it started",
		faultEvents/2, killedAfter.Round(time.Millisecond), atKill, m[1], finishedAfter.Round(time.Millisecond))

	var out, rerunErr bytes.Buffer
	again := importCmd(prefix)
	again.Stdout, again.Stderr = &out, &rerunErr
	require.NoError(t, again.Run(), "the rerun completes; stderr: %s", rerunErr.String())
	assert.Contains(t, out.String(), fmt.Sprintf("%d events read, recorded 0, %d already recorded; last sequence %d", faultEvents/2, faultEvents/2, faultEvents/2),
		"the rerun of the import whose client was killed after its last part")
	t.Logf("the rerun: %s", strings.TrimSpace(out.String()))

	out.Reset()
	rerunErr.Reset()
	whole := importCmd(ref.file)
	whole.Stdout, whole.Stderr = &out, &rerunErr
	start = time.Now()
	require.NoError(t, whole.Run(), "the whole input again; stderr: %s", rerunErr.String())
	assert.Contains(t, out.String(), fmt.Sprintf("%d events read, recorded %d, %d already recorded; last sequence %d", faultEvents, faultEvents-faultEvents/2, faultEvents/2, faultEvents),
		"the whole input again records what the dropped import did not")
	t.Logf("the whole input again took %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))

	checkExactlyOnce(t, c, ref)
}

// TestClusterReadsThroughAReplicaCatchingUp: the first events of the
// generated ledger are imported, a follower is killed, the rest is
// imported while it is down, and it is restarted. While it catches up,
// readers on fresh connections read the end of the log, and one State's
// recent events, again and again, and from time to time a new Ledger reads
// it all: a read's consumer may be placed on the restarted replica, whose
// "nothing pending" comes before it holds the events the leader holds.
// Every read must still deliver every event up to the end it reports, or
// the Ledger would skip events, decide on a stale State and record events
// twice.
func TestClusterReadsThroughAReplicaCatchingUp(t *testing.T) {
	ref := faultReference(t)
	c := natstest.RunDeployCluster(t)
	operatorInits(t, c)
	serveClusterLedger(t, c.URL(), "--http", "off", "--projector=false")
	ctx, cancel := context.WithTimeout(context.Background(), slow*120*time.Second)
	defer cancel()
	lastOf := map[string]uint64{} // scope -> its last sequence
	for i, id := range ref.order {
		lastOf[ref.input[id].Scope()] = uint64(i + 1)
	}
	importAs := func(input string) {
		t.Helper()
		code, _, errs := ccmRun(ctx, roleEnv(roles.Recorder), append([]string{"import", input, "--no-record"}, asRole(c, roles.Recorder)...)...)
		require.Equal(t, exitOK, code, "ccm import %s: %s", input, errs)
	}
	const before = 1000
	importAs(ref.writePrefix(t, before))
	leader := c.StreamLeader(jslog.DefaultStream)
	require.GreaterOrEqual(t, leader, 0, "the stream has a leader")
	// A follower the ledger is not connected to: while its connection
	// moves to another node, no command reaches it (see deploy/README.md,
	// "What is tested").
	victim := -1
	for _, i := range []int{(leader + 1) % 3, (leader + 2) % 3} {
		if victim < 0 && !containsInt(nodesOf(c, roles.Ledger), i) {
			victim = i
		}
	}
	require.GreaterOrEqual(t, victim, 0, "a follower without the ledger's connection")
	c.Kill(victim)
	importAs(ref.file)
	_, stored := storedOnLeader(c)
	require.Equal(t, uint64(faultEvents), stored, "imported while %s was down", c.Name(victim))
	tail := ref.input[ref.order[faultEvents-1]].Scope()
	c.Restart(victim)
	restarted := time.Now()

	behind := func() bool {
		states, err := c.StreamStates(jslog.DefaultStream)
		return err != nil || states[victim].State.Msgs < faultEvents
	}
	rounds, roundsBehind, ledgers := 0, 0, 0
	// Rounds go on while the replica is behind, for at most 20 s (a
	// loaded machine can keep it behind longer; the reads are what is
	// checked, and the catching up after).
	for ; rounds < 2000 && (rounds < 20 || behind() && time.Since(restarted) < slow*20*time.Second); rounds++ {
		if behind() {
			roundsBehind++
		}
		r, err := jslog.Open(ctx, c.DialRole(t, roles.Auditor), jslog.Config{Replicas: 3})
		require.NoError(t, err)
		var got uint64
		upTo, err := r.Replay(ctx, faultEvents-5, func(e events.Envelope) error { got = e.Seq; return nil }, nil)
		require.NoError(t, err, "round %d: read the end of the log", rounds)
		require.Equal(t, upTo, got, "round %d: a read from %d that reports %d delivered up to there", rounds, faultEvents-5, upTo)
		var gotScope uint64
		_, err = r.Read(ctx, jslog.ReadOptions{Scope: tail, FromSeq: faultEvents - 500}, func(e events.Envelope) error { gotScope = e.Seq; return nil })
		require.NoError(t, err, "round %d: read %s", rounds, tail)
		require.Equal(t, lastOf[tail], gotScope, "round %d: the last event of %s read", rounds, tail)
		if rounds%10 == 0 {
			ledgers++
			l := aggregates.NewLedger(r, clusterNow)
			seq, err := l.Sync(ctx)
			require.NoError(t, err, "round %d: a new Ledger reads the log", rounds)
			require.Equal(t, uint64(faultEvents), seq, "round %d: the Ledger read up to", rounds)
			for scope, want := range lastOf {
				require.Equal(t, want, l.State(scope).Version, "round %d: the Ledger's version of %s", rounds, scope)
			}
		}
	}
	t.Logf("restarted %s with %d of %d events; %d rounds of reads (%d new Ledgers), %d of them while it was behind, in %v",
		c.Name(victim), before, faultEvents, rounds, ledgers, roundsBehind, time.Since(restarted).Round(time.Millisecond))
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, slow*30*time.Second))
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// historyStore is an in-memory log, to decide a recorded history again.
type historyStore struct{ evs []events.Envelope }

func (h *historyStore) Replay(_ context.Context, from uint64, fn func(events.Envelope) error, _ func(events.Quarantined)) (uint64, error) {
	for _, e := range h.evs[min(max(from, 1)-1, uint64(len(h.evs))):] {
		if err := fn(e); err != nil {
			return 0, err
		}
	}
	return uint64(len(h.evs)), nil
}

func (h *historyStore) Append(_ context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	var version uint64
	for _, e := range h.evs {
		if e.Scope() == scope {
			version = e.Seq
		}
	}
	if expected != jslog.AnyVersion && expected != version {
		return 0, fmt.Errorf("%s at %d, not %d: %w", scope, version, expected, events.ErrConflict)
	}
	for _, e := range evs {
		e.Seq = uint64(len(h.evs) + 1)
		h.evs = append(h.evs, e)
	}
	return uint64(len(h.evs)), nil
}

func (h *historyStore) AppendChain(context.Context, uint64, []events.Envelope, func(int)) (int, uint64, error) {
	return 0, 0, errors.New("history store: no chains")
}

// raceCommand is one event a racing recorder tries to record.
type raceCommand struct {
	typ     events.Type
	date    string
	payload string // the event's data as JSON, "" for none
}

// metric returns the value of an unlabelled metric of a ledger's /metrics.
func metric(t *testing.T, l *clusterLedger, name string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: slow * 10 * time.Second}).Get(l.httpURL + "/metrics")
	require.NoError(t, err, "GET /metrics")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /metrics")
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, "%s", sc.Text())
			return int(n)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no metric %s in %s/metrics", name, l.httpURL)
	return 0
}

// TestClusterRecordersRaceOnOneState: two `ccm serve` run as the ledger,
// in the command service's one queue group, each connected to its own
// node; four recorders run `ccm record` at once (one command per event,
// each on a connection of its own as the user recorder) for the same
// State: a signature, a deposit of ratification and ten annual reports
// each, in different orders. The two ledgers decide commands on their own
// copies of the State and race to append: the log's per-State concurrency
// check refuses the loser, which reads and decides again. One signature
// and one deposit win, the others are refused by the rules, every report
// is stored, and the history, decided again from the start in stream
// order, is one the Convention allows.
func TestClusterRecordersRaceOnOneState(t *testing.T) {
	const recorders, reports, state = 4, 10, "SWE"
	c := natstest.RunDeployCluster(t)
	operatorInits(t, c)
	token := filepath.Join(t.TempDir(), "http.token")
	require.NoError(t, os.WriteFile(token, []byte(strings.Repeat("race-test-token-", 3)+"\n"), 0o600))
	urls := c.URLs()
	var ledgers [2]*clusterLedger
	for i := range ledgers {
		// One node each, as on two hosts; the queue group hands each
		// command to either.
		ledgers[i] = serveClusterLedger(t, urls[i], "--http", "127.0.0.1:0", "--http-token-file", token, "--projector=false")
	}
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()

	// The order in which each recorder tries its commands: s the
	// signature, d the deposit, r the next annual report.
	orders := [recorders]string{"sdrrrrrrrrrr", "rrrrrrrrrrds", "drrrrrsrrrrr", "rsrrrrdrrrrr"}
	type outcome struct {
		recorded, rejected map[events.Type]int
		rules              map[string]int
		err                error
	}
	outcomes := make([]outcome, recorders)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for r := range recorders {
		src := fmt.Sprintf("recorder %d (cluster race test)", r)
		sig := raceCommand{events.Signed, fmt.Sprintf("2008-12-%02d", 3+r), ""}
		dep := raceCommand{events.Deposited, fmt.Sprintf("2012-04-%02d", 20+r), `{"instrument":"ratification"}`}
		var reps []raceCommand
		for k := range reports {
			reps = append(reps, raceCommand{events.ReportSubmitted, events.MustDate("2013-04-01").AddDate(0, 0, r*reports+k).String(), `{"kind":"annual","year":2012}`})
		}
		var cmds []raceCommand
		for _, step := range orders[r] {
			switch step {
			case 's':
				cmds = append(cmds, sig)
			case 'd':
				cmds = append(cmds, dep)
			case 'r':
				cmds, reps = append(cmds, reps[0]), reps[1:]
			}
		}
		require.Len(t, cmds, 2+reports, "recorder %d's commands in the order %s", r, orders[r])

		// record records one command and returns the rule that refused it,
		// if one did.
		record := func(cmd raceCommand) (string, error) {
			args := append([]string{"record", "--type", string(cmd.typ), "--state", state, "--date", cmd.date, "--source", src}, asRole(c, roles.Recorder)...)
			if cmd.payload != "" {
				args = append(args, "--payload", cmd.payload)
			}
			code, _, errs := ccmRun(ctx, roleEnv(roles.Recorder), args...)
			const refused = "ccm: rejected by rule "
			switch {
			case code == exitOK:
				return "", nil
			case code == exitRejected && strings.HasPrefix(errs, refused):
				rule, _, _ := strings.Cut(strings.TrimPrefix(errs, refused), ":")
				return rule, nil
			}
			return "", fmt.Errorf("ccm record: exit %d: %s", code, errs)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := outcome{recorded: map[events.Type]int{}, rejected: map[events.Type]int{}, rules: map[string]int{}}
			defer func() { outcomes[r] = o }()
			<-begin
			for _, cmd := range cmds {
				rule, err := record(cmd)
				switch {
				case err != nil:
					o.err = fmt.Errorf("%s %s: %w", cmd.typ, cmd.date, err)
					return
				case rule != "":
					o.rejected[cmd.typ]++
					o.rules[rule]++
				default:
					o.recorded[cmd.typ]++
				}
			}
		}()
	}
	start := time.Now()
	close(begin)
	wg.Wait()
	took := time.Since(start)

	recorded, rejected, rules := map[events.Type]int{}, map[events.Type]int{}, map[string]int{}
	for r, o := range outcomes {
		require.NoError(t, o.err, "recorder %d", r)
		t.Logf("recorder %d: recorded %v, refused %v %v", r, o.recorded, o.rejected, o.rules)
		for typ, n := range o.recorded {
			recorded[typ] += n
		}
		for typ, n := range o.rejected {
			rejected[typ] += n
		}
		for rule, n := range o.rules {
			rules[rule] += n
		}
	}
	var appends, conflicts [2]int
	for i, l := range ledgers {
		appends[i], conflicts[i] = metric(t, l, "ccm_appends_total"), metric(t, l, "ccm_append_conflicts_total")
	}
	t.Logf("%d recorders in %v: recorded %v, refused %v by %v; the ledgers on %s and %s appended %v events and met %v concurrency conflicts, each decided again",
		recorders, took.Round(time.Millisecond), recorded, rejected, rules, c.Name(0), c.Name(1), appends, conflicts)
	assert.Equal(t, map[events.Type]int{events.Signed: 1, events.Deposited: 1, events.ReportSubmitted: recorders * reports}, recorded,
		"one signature, one deposit and every report recorded")
	assert.Equal(t, map[events.Type]int{events.Signed: recorders - 1, events.Deposited: recorders - 1}, rejected,
		"the other signatures and deposits refused by the rules, after reading the winners'")
	for rule := range rules {
		assert.Contains(t, []string{aggregates.RuleSecondSignature, aggregates.RuleSecondDeposit, aggregates.RuleRatificationUnsigned}, rule,
			"a refusal by a rule a race can break")
	}
	assert.Equal(t, 2+recorders*reports, appends[0]+appends[1], "the events the two ledgers appended")
	for i := range ledgers {
		assert.Positive(t, appends[i], "the ledger on %s appended events: both ledgers wrote", c.Name(i))
	}

	history := readLog(t, c)
	require.Len(t, history, 2+recorders*reports, "the log holds what was recorded, nothing else")
	replay := aggregates.NewLedger(&historyStore{}, clusterNow)
	for _, e := range history {
		_, err := replay.Record(ctx, e)
		require.NoError(t, err, "event %d (%s %s %s) is allowed after the ones before it", e.Seq, e.Type, e.Date, e.Source)
	}
	st := replay.State(state)
	sig, ok := st.Signature(0)
	require.True(t, ok, "%s signed", state)
	ms := st.Memberships()
	require.Len(t, ms, 1, "one membership")
	assert.Less(t, sig.Date, ms[0].Deposit.Date, "the signature precedes the ratification")
}

// TestClusterWatchAsService: `ccm serve` on a cluster the operator has not
// initialised creates nothing and says who must; once `ccm init` has run,
// it runs as the user ledger, a recorder imports the bundled record
// through it, and it publishes the compliance events. `ccm watch` follows
// them as the user service, which may not look at the log: with its inbox
// prefix (--nats-inbox-prefix) it reads, through an ordered and then a
// durable consumer; without it, or with --raw, it is refused with an error
// that says why.
func TestClusterWatchAsService(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()

	code, _, errs := ccmRun(ctx, roleEnv(roles.Ledger), append([]string{"serve", "--replicas", "3", "--http", "off"}, asRole(c, roles.Ledger)...)...)
	assert.Equal(t, exitFailure, code, "ccm serve before ccm init: %s", errs)
	assert.Contains(t, errs, "the operator creates it with `ccm init`", "the error says who creates the stream")
	operatorInits(t, c)
	serveClusterLedger(t, c.URL(), "--http", "off", "--projector-tick", "100ms")
	code, out, errs := ccmRun(ctx, roleEnv(roles.Recorder), append([]string{"import", "--bundled", "--format", "json"}, asRole(c, roles.Recorder)...)...)
	require.Equal(t, exitOK, code, "ccm import --bundled as the recorder: %s", errs)
	var res importOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Positive(t, res.Recorded, "the bundled record recorded: %s", out)

	service := roleEnv(roles.Service)
	asService := append(asRole(c, roles.Service), "--nats-inbox-prefix", natstest.ServiceInbox)
	// Sweden's entry into force and its initial report's approaching
	// deadline: what the record knows (later deadlines fall after the
	// day it is complete through for Articles 3 and 7, coverage.csv).
	code, out, errs = ccmRun(ctx, service, append([]string{"watch", "SWE.>", "--from-start", "--count", "2", "--format", "json"}, asService...)...)
	require.Equal(t, exitOK, code, "ccm watch as the service: %s", errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, "two compliance events: %s", out)
	for _, l := range lines {
		var e struct{ State, Kind string }
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		assert.Equal(t, "SWE", e.State, "an event of the filter SWE.>: %s", l)
	}

	// A durable consumer, as docs/services.md tells a service to use,
	// resumes where it stopped.
	durable := append([]string{"watch", "*.entered-into-force", "--from-start", "--durable", "svc-test", "--count", "2", "--format", "json"}, asService...)
	code, first, errs := ccmRun(ctx, service, durable...)
	require.Equal(t, exitOK, code, "ccm watch --durable as the service: %s", errs)
	code, second, errs := ccmRun(ctx, service, durable...)
	require.Equal(t, exitOK, code, "ccm watch --durable again: %s", errs)
	firstLines, secondLines := strings.Split(strings.TrimSpace(first), "\n"), strings.Split(strings.TrimSpace(second), "\n")
	require.Len(t, firstLines, 2, first)
	require.Len(t, secondLines, 2, second)
	for _, l := range secondLines {
		assert.NotContains(t, firstLines, l, "the durable consumer resumes after what it acknowledged")
	}

	code, _, errs = ccmRun(ctx, service, append([]string{"watch", "--raw", "--count", "1"}, asService...)...)
	assert.Equal(t, exitFailure, code, "ccm watch --raw as the service: %s", errs)
	assert.Contains(t, errs, "permission denied: user service may not publish to $JS.API.STREAM.INFO.CCM", "the log is out of the service's reach")

	start := time.Now()
	code, _, errs = ccmRun(ctx, service, append([]string{"watch", "--count", "1"}, asRole(c, roles.Service)...)...)
	assert.Equal(t, exitFailure, code, "ccm watch as the service without its inbox prefix: %s", errs)
	assert.Contains(t, errs, "needs --nats-inbox-prefix", "the error names the missing flag")
	t.Logf("without --nats-inbox-prefix the service's watch fails after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errs))
}

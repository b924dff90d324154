package main

// Tests of the ledger on the three-node cluster of deploy/nats
// (natstest.RunCluster): `ccm import` of a generated ledger while the
// stream's leader or a follower is killed and restarted, or while the
// importing process itself is killed and then run again; reads through a
// replica that is catching up; recorders racing on one State; `ccm watch`
// as the deployed service user. Each import is checked event by event
// against a single-node run of the same input, and the as-of reports of
// the cluster against those of the single-node run.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
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
	return map[string]string{jslog.EnvPassword: natstest.DeployPassword(role)}
}

// asRole returns the connection flags of a client of the cluster as role.
func asRole(c *natstest.Cluster, role string) []string {
	return []string{"--nats-url", c.URL(), "--nats-user", role}
}

// operatorCreatesLog creates the stream CCM as deploy/README.md tells the
// operator to: the configuration deploy/nats/streams/CCM.json, added by
// the user operator (the equivalent of `nats stream add --config`).
func operatorCreatesLog(t *testing.T, c *natstest.Cluster) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(natstest.DeployDir(t), "streams", "CCM.json"))
	require.NoError(t, err)
	var cfg jetstream.StreamConfig
	require.NoError(t, json.Unmarshal(b, &cfg), "deploy/nats/streams/CCM.json")
	js, err := jetstream.New(c.DialRole(t, "operator"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), slow*20*time.Second)
	defer cancel()
	for {
		_, err = js.CreateStream(ctx, cfg)
		// Just after the meta leader's election it may not know every
		// peer yet: retry what a new cluster answers while it settles.
		var apiErr *jetstream.APIError
		if err == nil || ctx.Err() != nil || !errors.As(err, &apiErr) || !slices.Contains(settlingErrors, apiErr.ErrorCode) {
			break
		}
		t.Logf("creating the stream: %v; again", err)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, "the operator creates the stream of deploy/nats/streams/CCM.json")
	_, err = c.WaitStreamLeader(jslog.DefaultStream, 10*time.Second)
	require.NoError(t, err)
}

// settlingErrors are the JetStream errors of a cluster still settling:
// no suitable peers yet (10005), the system temporarily unavailable
// (10008), insufficient resources (10023).
var settlingErrors = []jetstream.ErrorCode{10005, 10008, 10023}

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
	code := m.Run()
	if faultRefDir != "" {
		os.RemoveAll(faultRefDir)
	}
	os.Exit(code)
}

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
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
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

// importOutput is the JSON output of `ccm import`.
type importOutput struct {
	Events          int    `json:"events"`
	Recorded        int    `json:"recorded"`
	AlreadyRecorded int    `json:"already_recorded"`
	LastSeq         uint64 `json:"last_seq"`
	Attempts        int    `json:"attempts"`
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
	l, err := jslog.Open(ctx, c.DialRole(t, "auditor"), jslog.Config{Replicas: 3})
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
// cluster's reports at asOfPoints equal the single-node run's.
func checkExactlyOnce(t *testing.T, c *natstest.Cluster, ref *faultRef) {
	t.Helper()
	caught := time.Now()
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second), "every replica, a restarted one included, catches up")
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
		code, out, errs := ccmRun(ctx, roleEnv("auditor"), append([]string{"report", "--as-of", at, "--format", "json"}, asRole(c, "auditor")...)...)
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

// runNodeFault imports the generated ledger with `ccm import` run
// in-process as the recorder, kills the stream's leader (or a follower)
// when about half of it is stored and restarts it downFor later; the
// import must complete by itself, and the ledger must be the single-node
// run's.
func runNodeFault(t *testing.T, role string) {
	ref := faultReference(t)
	t.Logf("single-node run of %d generated events (seed %d): import, export and %d reports in %v",
		faultEvents, faultSeed, len(asOfPoints), ref.took.Round(time.Millisecond))
	c := natstest.RunDeployCluster(t)
	operatorCreatesLog(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), slow*90*time.Second)
	defer cancel()
	var code int
	var out, errs string
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		code, out, errs = ccmRun(ctx, roleEnv("recorder"), append([]string{"import", ref.file, "--no-record", "--format", "json"}, asRole(c, "recorder")...)...)
	}()

	leader, atKill := waitStored(ctx, t, c, faultEvents/2, done)
	victim := leader
	if role == "follower" {
		victim = (leader + 1) % 3
	}
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	victimHeld := states[victim].State.Msgs
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
	took := time.Since(start)
	require.Equal(t, exitOK, code, "ccm import completes despite the fault; stderr: %s", errs)
	var res importOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	newLeaderName := "none"
	if newLeader >= 0 {
		newLeaderName = c.Name(newLeader)
	}
	t.Logf("killed the stream's %s %s %v into the import, when the leader held %d events (the %s %d); "+
		"restarted it %v later, when %d were stored (leader meanwhile: %s); the import ended %v after it started, "+
		"in %d chained attempts: %d recorded, %d found already recorded, last sequence %d",
		role, c.Name(victim), killedAfter.Round(time.Millisecond), atKill, role, victimHeld,
		down.Round(time.Millisecond), atRestart, newLeaderName, took.Round(time.Millisecond),
		res.Attempts, res.Recorded, res.AlreadyRecorded, res.LastSeq)
	assert.Equal(t, faultEvents, res.Events, "events read")
	assert.Equal(t, faultEvents, res.Recorded+res.AlreadyRecorded, "every event of the input accounted for: recorded by this import, or found stored after a lost acknowledgement")
	assert.Equal(t, uint64(faultEvents), res.LastSeq, "last sequence")

	checkExactlyOnce(t, c, ref)
}

func TestClusterImportSurvivesLeaderKill(t *testing.T) { runNodeFault(t, "leader") }

func TestClusterImportSurvivesFollowerKill(t *testing.T) { runNodeFault(t, "follower") }

// TestClusterImportClientKilledAndRerun runs the real binary: `ccm import`
// as the recorder, killed with SIGKILL while the cluster holds between 20%
// and 80% of the generated ledger. What is stored must be a prefix of the
// validated order (the chain stores whole batches, each after the last);
// running the same import again records the rest and reports what was
// already there.
func TestClusterImportClientKilledAndRerun(t *testing.T) {
	ref := faultReference(t)
	bin := e2eBinary(t)
	c := natstest.RunDeployCluster(t)
	operatorCreatesLog(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), slow*90*time.Second)
	defer cancel()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), jslog.EnvPassword + "=" + natstest.DeployPassword("recorder")}
	importCmd := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"import", ref.file, "--no-record"}, asRole(c, "recorder")...)...)
		cmd.Env = env
		return cmd
	}
	var stderr lockedBuffer
	first := importCmd()
	first.Stderr = &stderr
	start := time.Now()
	require.NoError(t, first.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		waitErr = first.Wait()
	}()
	_, atKill := waitStored(ctx, t, c, faultEvents/5, exited)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	killedAfter := time.Since(start)
	<-exited
	var ee *exec.ExitError
	require.ErrorAs(t, waitErr, &ee, "the import was killed; stderr: %s", stderr.String())
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the import died of SIGKILL, not %v", waitErr)
	require.LessOrEqual(t, atKill, uint64(faultEvents*4/5), "killed before 80%% of the %d events were stored", faultEvents)

	// What the killed client left: anything it sent whole may still land.
	var settled uint64
	require.Eventually(t, func() bool {
		_, n := storedOnLeader(c)
		if n == settled {
			return true
		}
		settled = n
		return false
	}, 10*time.Second, 500*time.Millisecond, "the stream stops growing once the client is dead")
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second))
	partial := readLog(t, c)
	require.Len(t, partial, int(settled), "events read back")
	checkPrefix(t, ref, partial)
	t.Logf("SIGKILLed ccm import (pid %d) %v after it started, when the leader held %d events; %d stored once it was dead, "+
		"a prefix of the validated order", first.Process.Pid, killedAfter.Round(time.Millisecond), atKill, settled)

	rerun := importCmd()
	var out, rerunErr bytes.Buffer
	rerun.Stdout, rerun.Stderr = &out, &rerunErr
	start = time.Now()
	require.NoError(t, rerun.Run(), "the rerun completes; stderr: %s", rerunErr.String())
	want := fmt.Sprintf("%d events read, recorded %d, %d already recorded; last sequence %d", faultEvents, faultEvents-int(settled), settled, faultEvents)
	assert.Contains(t, out.String(), want, "the rerun says what was already recorded")
	t.Logf("the rerun took %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))

	checkExactlyOnce(t, c, ref)
}

// TestClusterReadsThroughAReplicaCatchingUp: a follower is killed, most of
// the generated ledger is appended while it is down, and it is restarted.
// While it catches up, readers on fresh connections read the end of the
// log, and one State's recent events, again and again, and from time to
// time a new Ledger reads it all: a read's consumer may be placed on the
// restarted replica, whose "nothing pending" comes before it holds the
// events the leader holds. Every read must still deliver every event up to
// the end it reports, or the Ledger would skip events, decide on a stale
// State and record events twice.
func TestClusterReadsThroughAReplicaCatchingUp(t *testing.T) {
	ref := faultReference(t)
	c := natstest.RunDeployCluster(t)
	operatorCreatesLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()
	w, err := jslog.Open(ctx, c.DialRole(t, "recorder"), jslog.Config{Replicas: 3})
	require.NoError(t, err)
	evs := make([]events.Envelope, len(ref.order))
	lastOf := map[string]uint64{} // scope -> its last sequence
	for i, id := range ref.order {
		evs[i] = ref.input[id]
		lastOf[evs[i].Scope()] = uint64(i + 1)
	}
	const before = 1000
	_, last, err := w.AppendChain(ctx, 0, evs[:before], nil)
	require.NoError(t, err)
	leader := c.StreamLeader(jslog.DefaultStream)
	require.GreaterOrEqual(t, leader, 0, "the stream has a leader")
	victim := (leader + 1) % 3
	c.Kill(victim)
	_, last, err = w.AppendChain(ctx, last, evs[before:], nil)
	require.NoError(t, err)
	require.Equal(t, uint64(faultEvents), last, "appended while %s was down", c.Name(victim))
	tail := evs[faultEvents-1].Scope()
	c.Restart(victim)
	restarted := time.Now()

	behind := func() bool {
		states, err := c.StreamStates(jslog.DefaultStream)
		return err != nil || states[victim].State.Msgs < faultEvents
	}
	rounds, roundsBehind, ledgers := 0, 0, 0
	for ; rounds < 2000 && (behind() || rounds < 20); rounds++ {
		if behind() {
			roundsBehind++
		}
		r, err := jslog.Open(ctx, c.DialRole(t, "auditor"), jslog.Config{Replicas: 3})
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
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second))
}

// countingLog counts the appends the log refused for a stale version.
type countingLog struct {
	*jslog.Log
	conflicts *atomic.Int64
}

func (l countingLog) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	seq, err := l.Log.Append(ctx, scope, expected, evs...)
	if errors.Is(err, events.ErrConflict) {
		l.conflicts.Add(1)
	}
	return seq, err
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

// TestClusterRecordersRaceOnOneState: four recorders, each with its own
// connection to the cluster as the user recorder, record at once for the
// same State a signature, a deposit of ratification and ten annual
// reports each, in different orders. Two are Ledgers whose log counts the
// conflicts; two run `ccm record` in-process, one command per event. The
// log detects the conflicts and the recorders decide again: one signature
// and one deposit win, the others are refused by the rules, every report
// is stored, and the history, decided again from the start in stream
// order, is one the Convention allows.
func TestClusterRecordersRaceOnOneState(t *testing.T) {
	const recorders, reports, state = 4, 10, "SWE"
	c := natstest.RunDeployCluster(t)
	operatorCreatesLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()

	// The order in which each recorder tries its commands: s the
	// signature, d the deposit, r the next annual report.
	orders := [recorders]string{"sdrrrrrrrrrr", "rrrrrrrrrrds", "drrrrrsrrrrr", "rsrrrrdrrrrr"}
	var conflicts atomic.Int64
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
		var record func(cmd raceCommand) (string, error)
		if r < 2 {
			l, err := jslog.Open(ctx, c.DialRole(t, "recorder"), jslog.Config{Replicas: 3})
			require.NoError(t, err, "recorder %d opens the log", r)
			ledger := aggregates.NewLedger(countingLog{l, &conflicts}, clusterNow)
			record = func(cmd raceCommand) (string, error) {
				line := fmt.Sprintf(`{"type":%q,"state":%q,"date":%q,"source":%q}`, cmd.typ, state, cmd.date, src)
				if cmd.payload != "" {
					line = fmt.Sprintf(`{"type":%q,"state":%q,"date":%q,"data":%s,"source":%q}`, cmd.typ, state, cmd.date, cmd.payload, src)
				}
				e, err := events.Decode([]byte(line))
				if err != nil {
					return "", err
				}
				_, err = ledger.Record(ctx, e)
				var rj *aggregates.Rejection
				if errors.As(err, &rj) {
					return rj.Rule, nil
				}
				return "", err
			}
		} else {
			record = func(cmd raceCommand) (string, error) {
				args := append([]string{"record", "--no-record", "--type", string(cmd.typ), "--state", state, "--date", cmd.date, "--source", src}, asRole(c, "recorder")...)
				if cmd.payload != "" {
					args = append(args, "--payload", cmd.payload)
				}
				code, _, errs := ccmRun(ctx, roleEnv("recorder"), args...)
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

	recorded, rejected, rules := map[events.Type]int{}, map[events.Type]int{}, map[string]int{}
	for r, o := range outcomes {
		require.NoError(t, o.err, "recorder %d", r)
		t.Logf("recorder %d (%s): recorded %v, refused %v %v", r, map[bool]string{true: "Ledger", false: "ccm record"}[r < 2], o.recorded, o.rejected, o.rules)
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
	t.Logf("%d recorders in %v: recorded %v, refused %v by %v; %d conflicts detected by the log and decided again (Ledger recorders)",
		recorders, time.Since(start).Round(time.Millisecond), recorded, rejected, rules, conflicts.Load())
	assert.Equal(t, map[events.Type]int{events.Signed: 1, events.Deposited: 1, events.ReportSubmitted: recorders * reports}, recorded,
		"one signature, one deposit and every report recorded")
	assert.Equal(t, map[events.Type]int{events.Signed: recorders - 1, events.Deposited: recorders - 1}, rejected,
		"the other signatures and deposits refused by the rules, after reading the winners'")
	for rule := range rules {
		assert.Contains(t, []string{aggregates.RuleSecondSignature, aggregates.RuleSecondDeposit, aggregates.RuleRatificationUnsigned}, rule,
			"a refusal by a rule a race can break")
	}
	assert.Positive(t, conflicts.Load(), "recorders racing on one State meet conflicts")

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

// TestClusterWatchAsService: `ccm serve` runs as the user ledger on the
// cluster and publishes the compliance events of the bundled record;
// `ccm watch` follows them as the user service, which may not look at the
// log: with its inbox prefix (--nats-inbox-prefix) it reads, through an
// ordered and then a durable consumer; without it, or with --raw, it is
// refused with an error that says why.
func TestClusterWatchAsService(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	operatorCreatesLog(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), slow*60*time.Second)
	defer cancel()

	serveCtx, stopServe := context.WithCancel(ctx)
	ready := make(chan struct{})
	served := make(chan struct{})
	var serveCode int
	serveErr := &lockedBuffer{}
	go func() {
		defer close(served)
		m := &Main{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: serveErr,
			Getenv: func(k string) string { return roleEnv("ledger")[k] }, Now: clusterNow,
			ServeReady: func(string, string) { close(ready) }}
		serveCode = m.Run(serveCtx, append([]string{"serve", "--replicas", "3", "--http", "off", "--projector-tick", "100ms"}, asRole(c, "ledger")...))
	}()
	select {
	case <-ready:
	case <-served:
		t.Fatalf("ccm serve ended: exit %d: %s", serveCode, serveErr.String())
	case <-ctx.Done():
		t.Fatalf("ccm serve not ready: %s", serveErr.String())
	}
	defer func() {
		stopServe()
		<-served
	}()

	service := roleEnv("service")
	asService := append(asRole(c, "service"), "--nats-inbox-prefix", natstest.ServiceInbox)
	code, out, errs := ccmRun(ctx, service, append([]string{"watch", "SWE.>", "--from-start", "--count", "3", "--format", "json"}, asService...)...)
	require.Equal(t, exitOK, code, "ccm watch as the service: %s", errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "three compliance events: %s", out)
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
	code, _, errs = ccmRun(ctx, service, append([]string{"watch", "--count", "1"}, asRole(c, "service")...)...)
	assert.Equal(t, exitFailure, code, "ccm watch as the service without its inbox prefix: %s", errs)
	assert.Contains(t, errs, "needs --nats-inbox-prefix", "the error names the missing flag")
	t.Logf("without --nats-inbox-prefix the service's watch fails after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errs))
}

package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/highwayhash"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// The recovery of a damaged replica (docs/recovery.md, "From a replica"):
// a node that does not lead the log is stopped, its copy of CCM damaged on
// disk, and the node started again, with the damaged copy kept (what
// nats-server does by itself) or moved away first (the documented step).
//
// What a node holds is read from that node's own server, never through the
// cluster: the stream state its server reports (Jsz, its own store), and,
// after the recovery, the files it left when stopped, checked against the
// signed checkpoints on a standalone server. A client's read goes to any
// replica (a direct get to any of the three, a read's consumer to one
// placed at random), so that a read passing proves nothing about one node.

// recoveryAccount is the account of the ledger's streams in deploy/nats
// (natstest.ClusterOptions.Account's default); the tamper helpers and
// the stream directories are by account.
const recoveryAccount = "CCM"

var recoveryEvidence = notary.StreamName(jslog.DefaultStream)

// recoveryCluster is a log on the cluster that a notary signed whole.
type recoveryCluster struct {
	c      *natstest.Cluster
	key    notary.Key
	total  uint64 // the log's messages, sequences 1 to total, all signed
	victim int    // a node that does not lead the log
}

// newRecoveryCluster starts the cluster, creates the streams as the
// operator (three replicas), records the bundled record as the ledger,
// then big events (each of bigSize bytes) when big > 0, and signs the log
// with a new key; the log passes its check.
func newRecoveryCluster(t *testing.T, big, bigSize int) *recoveryCluster {
	t.Helper()
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc := c.DialRole(t, roles.Ledger)
	log, err := jslog.Open(ctx, nc, jslog.Config{Replicas: 3})
	require.NoError(t, err)
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	_, err = aggregates.NewLedger(log, time.Now).Import(ctx, evs, nil)
	require.NoError(t, err, "the ledger records the bundled record")
	if big > 0 {
		appendAsLedger(t, log, recoveryBigEvents(t, big, bigSize))
	}
	store, err := notary.OpenStore(ctx, nc, log.JetStream(), jslog.DefaultStream)
	require.NoError(t, err)
	key, err := notary.EnsureKey(filepath.Join(t.TempDir(), notary.KeyFile), evidence.Origin(jslog.DefaultStream))
	require.NoError(t, err)
	n, err := notary.Start(ctx, log, store, key, nil, notary.Options{})
	require.NoError(t, err)
	defer n.Stop()
	require.NoError(t, n.Damaged())
	cp, err := n.Checkpoint(ctx, false)
	require.NoError(t, err, "the notary signs the log")
	head, err := log.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(len(evs)+big), head.LastSeq)
	require.Equal(t, head.LastSeq, cp.Size, "the checkpoint covers the whole log")
	for _, s := range []string{jslog.DefaultStream, recoveryEvidence} {
		require.NoError(t, c.WaitCaughtUp(s, 30*time.Second), "every node holds %s", s)
	}
	rc := &recoveryCluster{c: c, key: key, total: head.LastSeq}
	r := rc.check(t, c.URL())
	require.NoError(t, r.Err(), "the signed log passes its check")
	require.Equal(t, rc.total, r.Messages)
	leader, err := c.WaitStreamLeader(jslog.DefaultStream, 10*time.Second)
	require.NoError(t, err)
	rc.victim = (leader + 1) % 3
	t.Logf("%d messages recorded and signed (blocks %v); %s leads %s; the victim is %s", rc.total,
		rc.blocks(t), c.Name(leader), jslog.DefaultStream, c.Name(rc.victim))
	return rc
}

// recoveryBigEvents returns n events of about size bytes each (a long source): a
// log of more than 8 MiB spans two block files.
func recoveryBigEvents(t *testing.T, n, size int) []events.Envelope {
	t.Helper()
	const phrase = "a long source text for a cluster recovery test "
	filler := strings.Repeat(phrase, size/len(phrase)+1)[:size]
	states := events.States()
	out := make([]events.Envelope, n)
	for i := range n {
		e, err := events.New(uuid.Nil, events.ReportSubmitted, states[i%len(states)].ISO3, events.MustDate("2030-01-01").AddDate(0, 0, i),
			&events.Report{Kind: events.AnnualReport, Year: 2029}, fmt.Sprintf("big event %d: %s", i, filler))
		require.NoError(t, err)
		out[i] = e
	}
	return out
}

// check runs notary.Check as the auditor over a connection to the
// servers of url only.
func (rc *recoveryCluster) check(t *testing.T, url string) evidence.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := recoveryDial(t, url, roles.Auditor)
	defer nc.Close()
	log, err := jslog.Open(ctx, nc, jslog.Config{Replicas: 3, Inspect: true})
	require.NoError(t, err)
	store, err := notary.OpenStore(ctx, nc, log.JetStream(), jslog.DefaultStream)
	require.NoError(t, err)
	r, err := notary.Check(ctx, log, store, rc.key.Public)
	require.NoError(t, err)
	return r.Report
}

// recoveryDial connects as role to the servers of url and no other: the
// servers the cluster gossips are ignored.
func recoveryDial(t *testing.T, url, role string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(role, natstest.DeployPassword(role)), nats.IgnoreDiscoveredServers(),
		nats.Timeout(10*time.Second))
	require.NoError(t, err, "connect to %s as %s", url, role)
	return nc
}

// storeDir is node i's JetStream store directory.
func (rc *recoveryCluster) storeDir(t *testing.T, i int) string {
	t.Helper()
	o, err := rc.c.Options(i)
	require.NoError(t, err)
	return o.StoreDir
}

// streamDir is the directory of the victim's copy of stream, the one the
// documentation says to move away.
func (rc *recoveryCluster) streamDir(t *testing.T, stream string) string {
	return natstest.StreamDir(rc.storeDir(t, rc.victim), recoveryAccount, stream)
}

// blocks lists the victim's block files of the log, with their sizes.
func (rc *recoveryCluster) blocks(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(rc.streamDir(t, jslog.DefaultStream), "msgs", "*.blk"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s %d B", filepath.Base(f), fi.Size()))
	}
	return out
}

// states returns the victim's own state of the log (what its server
// reports of its own store) and the leader's (with its report of the
// replicas); leader.Name is empty when no running node leads.
func (rc *recoveryCluster) states(t *testing.T) (own, leader natstest.NodeStream) {
	t.Helper()
	states, err := rc.c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	own = states[rc.victim]
	for _, s := range states {
		if s.Leader {
			leader = s
		}
	}
	return own, leader
}

// victimReplica describes the leader's report of the victim's replica.
func (rc *recoveryCluster) victimReplica(leader natstest.NodeStream) string {
	for _, r := range leader.Replicas {
		if r.Name == rc.c.Name(rc.victim) {
			return fmt.Sprintf("current %v, lag %d", r.Current, r.Lag)
		}
	}
	return "not reported"
}

// recoveryDescribe tells what a node holds of the log.
func recoveryDescribe(s natstest.NodeStream) string {
	return fmt.Sprintf("%s: %d messages (%d..%d), %d deleted, %d bytes", s.Name, s.State.Msgs, s.State.FirstSeq, s.State.LastSeq, s.State.NumDeleted, s.State.Bytes)
}

// directMissing asks, over a connection to node i only, for every
// sequence of the log by direct get, and returns those answered as not
// found. Any replica that takes direct gets may answer one.
func (rc *recoveryCluster) directMissing(t *testing.T, i int) []uint64 {
	t.Helper()
	nc := recoveryDial(t, rc.c.URLs()[i], roles.Auditor)
	defer nc.Close()
	var missing []uint64
	for seq := uint64(1); seq <= rc.total; seq++ {
		req, err := json.Marshal(map[string]uint64{"seq": seq})
		require.NoError(t, err)
		m, err := nc.Request("$JS.API.DIRECT.GET."+jslog.DefaultStream, req, 10*time.Second)
		require.NoError(t, err, "direct get %d", seq)
		if status := m.Header.Get("Status"); status != "" {
			require.Equal(t, "404", status, "direct get %d: %s", seq, m.Header.Get("Description"))
			missing = append(missing, seq)
			continue
		}
		require.Equal(t, strconv.FormatUint(seq, 10), m.Header.Get("Nats-Sequence"))
	}
	return missing
}

// recoverByDoc follows docs/recovery.md on the stopped victim: its copy of
// CCM is moved away and it is started. It then checks that the victim
// holds the whole log, from its own server's state and from its own
// files, and that the log passes its check. It returns where the damaged
// copy was moved; the victim is left stopped.
func (rc *recoveryCluster) recoverByDoc(t *testing.T) (kept string) {
	t.Helper()
	c := rc.c
	kept = filepath.Join(t.TempDir(), jslog.DefaultStream)
	require.NoError(t, os.Rename(rc.streamDir(t, jslog.DefaultStream), kept), "move the damaged copy away")
	c.Restart(rc.victim)
	start := time.Now()
	own, leader := rc.states(t)
	t.Logf("restarted without its copy: victim %s; the leader reports it %s", recoveryDescribe(own), rc.victimReplica(leader))
	early := rc.directMissing(t, rc.victim)
	own, leader = rc.states(t)
	t.Logf("%v after the restart: %d direct gets not found; victim %s; the leader reports it %s", time.Since(start).Round(time.Millisecond),
		len(early), recoveryDescribe(own), rc.victimReplica(leader))
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 60*time.Second), "the victim catches up from the leader")
	took := time.Since(start)

	own, leader = rc.states(t)
	t.Logf("after the documented recovery (caught up in %v): victim %s; leader %s; the leader reports the victim %s; victim blocks %v",
		took.Round(time.Millisecond), recoveryDescribe(own), recoveryDescribe(leader), rc.victimReplica(leader), rc.blocks(t))
	assert.Equal(t, rc.total, own.State.Msgs, "messages the victim holds")
	assert.Equal(t, uint64(1), own.State.FirstSeq)
	assert.Equal(t, rc.total, own.State.LastSeq)
	assert.Zero(t, own.State.NumDeleted, "no hole in the victim's copy")
	assert.Equal(t, leader.State.Bytes, own.State.Bytes, "the victim holds as many bytes as the leader")
	blks, err := filepath.Glob(filepath.Join(kept, "msgs", "*.blk"))
	require.NoError(t, err)
	assert.NotEmpty(t, blks, "the damaged copy is kept, as evidence")

	for _, url := range []string{c.URLs()[rc.victim], c.URL()} {
		r := rc.check(t, url)
		require.NoError(t, r.Err(), "the log passes its check (client of %s)", url)
		assert.Equal(t, rc.total, r.Messages)
		assert.Zero(t, r.Unsigned)
	}
	assert.Empty(t, rc.directMissing(t, rc.victim), "direct gets find every message")

	r, head := rc.checkOwnCopy(t)
	require.NoError(t, r.Err(), "the victim's own copy of the log is the one the checkpoint signed")
	assert.Equal(t, rc.total, r.Messages, "messages in the victim's own copy")
	assert.Equal(t, rc.total, head.Msgs)
	assert.Zero(t, head.Deleted)
	require.NotNil(t, r.Latest)
	assert.Equal(t, rc.total, r.Latest.Size)
	return kept
}

// checkOwnCopy stops the victim and checks its own copy of the log and of
// the evidence, as its server left them (see checkCopy). The victim stays
// stopped.
func (rc *recoveryCluster) checkOwnCopy(t *testing.T) (evidence.Report, jslog.Head) {
	t.Helper()
	rc.c.Kill(rc.victim)
	return rc.checkCopy(t, rc.streamDir(t, jslog.DefaultStream), rc.streamDir(t, recoveryEvidence))
}

// checkCopy checks a copy of the log (the stream directory logDir) against
// the evidence in evidenceDir: the two directories are copied into the
// store of a standalone server (global account), which holds nothing
// else, and the log is checked there against the signed checkpoints.
func (rc *recoveryCluster) checkCopy(t *testing.T, logDir, evidenceDir string) (evidence.Report, jslog.Head) {
	t.Helper()
	dir := t.TempDir()
	for stream, from := range map[string]string{jslog.DefaultStream: logDir, recoveryEvidence: evidenceDir} {
		to := natstest.StreamDir(dir, "$G", stream)
		require.NoError(t, os.CopyFS(to, os.DirFS(from)))
		recoveryStandalone(t, to, stream)
	}
	srv := natstest.RunServer(t, natstest.StoreDir(dir))
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := srv.Conn(t)
	log, err := jslog.Open(ctx, nc, jslog.Config{Inspect: true})
	require.NoError(t, err)
	store, err := notary.OpenStore(ctx, nc, log.JetStream(), jslog.DefaultStream)
	require.NoError(t, err)
	res, err := notary.Check(ctx, log, store, rc.key.Public)
	require.NoError(t, err)
	t.Logf("the copy %s, on a standalone server: %d messages (%d..%d), %d deleted; check: %v", logDir,
		res.Head.Msgs, res.Head.FirstSeq, res.Head.LastSeq, res.Head.Deleted, res.Report.Err())
	return res.Report, res.Head
}

// recoveryStandalone rewrites the configuration of the stream copied to dir for a
// server without a cluster, which refuses a stream of three replicas: one
// replica, the configuration's checksum (meta.sum: HighwayHash-64 keyed
// with SHA-256 of the stream name, in hex) made again. The messages are
// left as they are.
func recoveryStandalone(t *testing.T, dir, stream string) {
	t.Helper()
	meta := filepath.Join(dir, server.JetStreamMetaFile)
	b, err := os.ReadFile(meta)
	require.NoError(t, err)
	var info server.FileStreamInfo
	require.NoError(t, json.Unmarshal(b, &info))
	require.Equal(t, stream, info.Name)
	require.Equal(t, 3, info.Replicas)
	info.Replicas = 1
	b, err = json.Marshal(info)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(meta, b, 0o600))
	key := sha256.Sum256([]byte(stream))
	h, err := highwayhash.New64(key[:])
	require.NoError(t, err)
	h.Write(b)
	require.NoError(t, os.WriteFile(filepath.Join(dir, server.JetStreamMetaFileSum), []byte(hex.EncodeToString(h.Sum(nil))), 0o600))
}

// A copy damaged in its first block keeps a hole when the node starts on
// it: nats-server drops the bad record and the rest of the block, and
// never fetches them again, while the leader reports the replica current.
// Clients are then served the hole by that replica: some direct gets find
// no message, and some checks of the log find messages missing while
// others pass. Moved away, as the documentation says, the copy is
// replaced by the leader's, whole.
func TestRecoveryOfReplicaWithHole(t *testing.T) {
	// 451 events (217 KB), then 120 of 80 KB: the first 8 MiB block ends
	// within the big events.
	rc := newRecoveryCluster(t, 120, 80_000)
	c := rc.c
	const flipped = 225 // the middle of the bundled record, in the first block
	c.Kill(rc.victim)
	require.NoError(t, natstest.FlipByte(rc.storeDir(t, rc.victim), recoveryAccount, jslog.DefaultStream, flipped, 10))

	// Without the documented step.
	c.Restart(rc.victim)
	restarted := time.Now()
	own, _ := rc.states(t)
	t.Logf("restarted on the damaged copy: victim %s", recoveryDescribe(own))
	require.Less(t, own.State.Msgs, rc.total, "the server dropped records of the damaged block")
	require.Equal(t, rc.total, own.State.LastSeq, "the later block is kept: the records are dropped in the middle")
	require.Equal(t, rc.total-own.State.Msgs, uint64(own.State.NumDeleted), "the dropped records count as deleted")
	hole := own.State.NumDeleted

	var leader natstest.NodeStream
	require.NoError(t, natstest.WaitFor(30*time.Second, func() error {
		own, leader = rc.states(t)
		if leader.Name == "" {
			return fmt.Errorf("no leader")
		}
		for _, r := range leader.Replicas {
			if r.Name == c.Name(rc.victim) && r.Current && !r.Offline && r.Lag == 0 {
				return nil
			}
		}
		return fmt.Errorf("the leader reports the victim %s", rc.victimReplica(leader))
	}), "the leader reports the victim current")
	t.Logf("the leader (%s) reports the victim current with lag 0 while the victim holds %d of %d messages", leader.Name, own.State.Msgs, rc.total)
	assert.Less(t, own.State.Msgs, rc.total, "a replica reported current holds less than the leader")
	rc.requireOthersWhole(t)

	// Some direct gets reach the damaged replica, which answers that the
	// message does not exist.
	var missing []uint64
	require.NoError(t, natstest.WaitFor(30*time.Second, func() error {
		if missing = rc.directMissing(t, rc.victim); len(missing) == 0 {
			return fmt.Errorf("every direct get found its message")
		}
		return nil
	}), "the damaged replica answers direct gets")
	for _, seq := range missing {
		require.True(t, seq >= flipped && seq < flipped+uint64(hole), "direct get %d not found, outside the hole", seq)
	}
	t.Logf("direct gets over a connection to the victim: %d of the %d messages in the hole not found", len(missing), hole)

	// A check reads through a consumer placed on any replica: through the
	// damaged one it finds the hole; through another it passes.
	passed, failed := 0, 0
	for i := 0; i < 40 && (passed == 0 || failed == 0); i++ {
		r := rc.check(t, c.URLs()[rc.victim])
		if r.Err() == nil {
			passed++
			continue
		}
		failed++
		require.ErrorIs(t, r.Err(), evidence.ErrTampered)
		assert.Equal(t, uint64(flipped), r.Problems[0].Seq, "the first missing sequence")
		assert.Contains(t, r.Err().Error(), "missing")
	}
	t.Logf("checks of the log: %d passed, %d found messages missing", passed, failed)
	assert.NotZero(t, passed, "a check passes when its consumer is on a healthy replica")
	assert.NotZero(t, failed, "a check finds the hole when its consumer is on the damaged replica")

	// nats-server does not repair the hole: the replica's last sequence is
	// the leader's, so it asks for nothing (its catchup asks only for what
	// follows its last sequence). Watched well past its catchup's start
	// (5 seconds after start-up).
	for time.Since(restarted) < 15*time.Second {
		own, _ = rc.states(t)
		require.Less(t, own.State.Msgs, rc.total, "the server repaired the hole by itself after %v", time.Since(restarted))
		time.Sleep(250 * time.Millisecond)
	}
	require.Error(t, c.WaitCaughtUp(jslog.DefaultStream, time.Second), "the replicas differ")
	t.Logf("%v after the restart the victim still holds %s", time.Since(restarted).Round(time.Millisecond), recoveryDescribe(own))

	// The victim's own files, checked against the checkpoint, show the
	// hole (this stops the victim, as the documented step begins).
	r, head := rc.checkOwnCopy(t)
	require.ErrorIs(t, r.Err(), evidence.ErrTampered, "the victim's own copy is damaged")
	assert.Contains(t, r.Err().Error(), fmt.Sprintf("sequences %d to %d are missing", flipped, flipped+uint64(hole)-1))
	assert.Equal(t, own.State.Msgs, head.Msgs)
	assert.Equal(t, hole, head.Deleted)

	// The documented step.
	rc.recoverByDoc(t)
}

// requireOthersWhole checks that the two nodes other than the victim hold
// the whole log: a message the cluster does not find then comes from the
// victim.
func (rc *recoveryCluster) requireOthersWhole(t *testing.T) {
	t.Helper()
	states, err := rc.c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	for i, s := range states {
		if i == rc.victim {
			continue
		}
		require.Equal(t, rc.total, s.State.Msgs, "%s holds the whole log", recoveryDescribe(s))
		require.Zero(t, s.State.NumDeleted, "%s holds the whole log", recoveryDescribe(s))
	}
}

// A copy that lost its last records (here by a truncated last block) is
// repaired by nats-server itself: the node's last sequence is short of the
// leader's, and it fetches the rest from the leader a few seconds after it
// starts.
func TestReplicaRefetchesItsLostTail(t *testing.T) {
	rc := newRecoveryCluster(t, 0, 0)
	c := rc.c
	c.Kill(rc.victim)
	require.NoError(t, natstest.TruncateLastBlock(rc.storeDir(t, rc.victim), recoveryAccount, jslog.DefaultStream, 100_000))
	c.Restart(rc.victim)
	restarted := time.Now()
	own, leader := rc.states(t)
	t.Logf("restarted on the truncated copy: victim %s; the leader reports it %s", recoveryDescribe(own), rc.victimReplica(leader))
	require.Less(t, own.State.LastSeq, rc.total, "the server dropped the records cut off")
	require.Zero(t, own.State.NumDeleted)
	short := own.State.Msgs

	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 60*time.Second), "the victim fetches what it lost")
	own, leader = rc.states(t)
	t.Logf("%v after the restart, without moving anything: victim %s (it held %d); leader %s",
		time.Since(restarted).Round(time.Millisecond), recoveryDescribe(own), short, recoveryDescribe(leader))
	assert.Equal(t, leader.State.Bytes, own.State.Bytes)
	assert.Zero(t, own.State.NumDeleted)
	r := rc.check(t, c.URL())
	require.NoError(t, r.Err())
	assert.Equal(t, rc.total, r.Messages)
}

// The documented recovery on the bundled record alone (one block): a byte
// flipped in the middle, the copy moved away, the node started. The copy
// moved away, opened with the victim's evidence, is damaged indeed.
func TestRecoveryOfReplicaByTheDoc(t *testing.T) {
	rc := newRecoveryCluster(t, 0, 0)
	rc.c.Kill(rc.victim)
	flipped := rc.total / 2
	require.NoError(t, natstest.FlipByte(rc.storeDir(t, rc.victim), recoveryAccount, jslog.DefaultStream, flipped, 10))
	kept := rc.recoverByDoc(t)
	r, head := rc.checkCopy(t, kept, rc.streamDir(t, recoveryEvidence))
	require.ErrorIs(t, r.Err(), evidence.ErrTampered, "the copy moved away is damaged")
	assert.Equal(t, flipped-1, head.LastSeq, "the damaged copy ends before the flipped message")
}

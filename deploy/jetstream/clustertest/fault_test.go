package clustertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// importer is the import step of the fault tests: it stores every event of
// evs in the log once, in order, over nc (the ledger's connection: the
// ledger is the only writer), resuming after whatever failure the cluster
// throws at it, and calls progress with the number of events of evs stored
// so far (at least every 1,000). It runs outside the test's goroutine: it
// reports failure by its error, not through t.
//
// chainImport works on the log alone; the import through the ledger's
// command service and its rules is tested in cmd/ccm.
type importer func(ctx context.Context, nc *nats.Conn, evs []events.Envelope, progress func(stored int)) (importStats, error)

// importStats tell how an import went.
type importStats struct {
	Chains   int      // chains started
	Failures []string // why chains stopped early
	Resumed  int      // events found stored, acknowledged or not, when resuming
}

// maxChains bounds the resume loop of chainImport, and readTimeout each of
// its reads of the log: a request sent while the stream elects a leader
// may never be answered.
const (
	maxChains   = 50
	readTimeout = 10 * time.Second
)

// chainImport appends evs with jslog.AppendChain. When a chain stops (a
// lost connection, a leader election, an acknowledgement that never came)
// it re-reads the log from the last sequence it knows to be its own,
// drops from the input what is stored, by event id, and starts a new chain
// after the log's new last sequence. The log exists (the operator made
// it): opening it creates nothing.
func chainImport(ctx context.Context, nc *nats.Conn, evs []events.Envelope, progress func(stored int)) (importStats, error) {
	var st importStats
	l, err := jslog.Open(ctx, nc, jslog.Config{Replicas: 3})
	if err != nil {
		return st, err
	}
	pending := evs
	stored := 0
	var known uint64 // every event up to this sequence is accounted for
	for {
		if len(pending) == 0 {
			return st, nil
		}
		if st.Chains == maxChains {
			return st, fmt.Errorf("%d events left after %d chains: %s", len(pending), st.Chains, strings.Join(st.Failures, "; "))
		}
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("%d events left: %w", len(pending), err)
		}
		hctx, cancel := context.WithTimeout(ctx, readTimeout)
		head, err := l.Head(hctx)
		cancel()
		if err != nil {
			st.Failures = append(st.Failures, "head: "+err.Error())
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if head.LastSeq > known {
			// Stored but not acknowledged to us: find them by id.
			index := make(map[uuid.UUID]bool, len(pending))
			for _, e := range pending {
				index[e.ID] = true
			}
			found := map[uuid.UUID]bool{}
			rctx, cancel := context.WithTimeout(ctx, readTimeout)
			_, err := l.Read(rctx, jslog.ReadOptions{FromSeq: known + 1, UpToSeq: head.LastSeq}, func(e events.Envelope) error {
				if !index[e.ID] {
					return fmt.Errorf("event %s at %d is not one of the import's", e.ID, e.Seq)
				}
				found[e.ID] = true
				return nil
			})
			cancel()
			if err != nil {
				st.Failures = append(st.Failures, "re-read: "+err.Error())
				time.Sleep(100 * time.Millisecond)
				continue
			}
			rest := pending[:0:0]
			for _, e := range pending {
				if !found[e.ID] {
					rest = append(rest, e)
				}
			}
			st.Resumed += len(found)
			stored += len(found)
			pending = rest
			known = head.LastSeq
			progress(stored)
			continue
		}
		st.Chains++
		base := stored
		n, last, err := l.AppendChain(ctx, head.LastSeq, pending, func(done int) { progress(base + done) })
		stored += n
		pending = pending[n:]
		known = last
		if err != nil {
			st.Failures = append(st.Failures, fmt.Sprintf("chain %d after %d of its events: %v", st.Chains, n, err))
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// faultReport tells what a fault test did, for the log of the test.
type faultReport struct {
	victim, role            string
	killedAt, restartedAt   int // events stored by then
	victimMsgs              uint64
	down                    time.Duration
	importTook, catchUpTook time.Duration
	stats                   importStats
}

func (r faultReport) String() string {
	return fmt.Sprintf("killed the %s %s when %d events were stored (it held %d messages), restarted it %v later with %d stored; "+
		"the import took %v in %d chains, %d events found stored on resume, failures: [%s]; every replica caught up %v after the import",
		r.role, r.victim, r.killedAt, r.victimMsgs, r.down.Round(time.Millisecond), r.restartedAt,
		r.importTook.Round(time.Millisecond), r.stats.Chains, r.stats.Resumed, strings.Join(r.stats.Failures, "; "), r.catchUpTook.Round(time.Millisecond))
}

const (
	faultEvents = 20000
	faultAt     = 10000
	downFor     = time.Second
)

// runFault imports faultEvents generated events with imp, as the ledger,
// into the log the operator created (infra.Ensure, three replicas), while
// the stream's leader (or a follower) is killed when faultAt events are
// stored and restarted downFor later; then checks that the log holds every
// event exactly once with contiguous sequences on every replica.
func runFault(t *testing.T, role string, imp importer) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	evs := generate(t, faultEvents)
	ledger := c.DialRole(t, roles.Ledger)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stored atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	progress := func(n int) {
		stored.Store(int64(n))
		if n >= faultAt {
			once.Do(func() { close(reached) })
		}
	}
	type result struct {
		stats importStats
		err   error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		st, err := imp(ctx, ledger, evs, progress)
		done <- result{st, err}
	}()

	var rep faultReport
	rep.role = role
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("the import ended before %d events were stored: %v", faultAt, r.err)
	}
	leader, err := c.WaitStreamLeader(jslog.DefaultStream, 10*time.Second)
	require.NoError(t, err, "the stream has a leader")
	victim := leader
	if role == "follower" {
		victim = (leader + 1) % 3
	}
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	rep.victim, rep.victimMsgs = c.Name(victim), states[victim].State.Msgs
	rep.killedAt = int(stored.Load())
	killed := time.Now()
	c.Kill(victim)
	var r result
	select {
	case <-time.After(downFor):
	case r = <-done:
		done <- r
	}
	c.Restart(victim)
	rep.down, rep.restartedAt = time.Since(killed), int(stored.Load())

	r = <-done
	rep.importTook, rep.stats = time.Since(start), r.stats
	if r.err != nil {
		logStates(t, c)
		t.Log(rep)
		t.Fatalf("the import completes despite the fault: %v; %+v", r.err, r.stats)
	}

	caught := time.Now()
	if err := c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second); err != nil {
		logStates(t, c)
		t.Log(rep)
		t.Fatalf("every replica, the restarted one included, catches up: %v", err)
	}
	rep.catchUpTook = time.Since(caught)
	t.Log(rep)

	checkExactlyOnce(t, c, evs)
}

// logStates logs every node's view of the log, to tell why a fault test
// failed.
func logStates(t *testing.T, c *natstest.Cluster) {
	t.Helper()
	states, err := c.StreamStates(jslog.DefaultStream)
	if err != nil {
		t.Logf("stream states: %v", err)
		return
	}
	for _, s := range states {
		t.Logf("%s: running %v, leader %v, state %+v", s.Name, s.Running, s.Leader, s.State)
		for _, r := range s.Replicas {
			t.Logf("  replica %+v", *r)
		}
	}
}

// checkExactlyOnce checks that the log holds evs exactly once each, in
// order, at sequences 1..len(evs), and that every node holds the same.
func checkExactlyOnce(t *testing.T, c *natstest.Cluster, evs []events.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := openLog(t, c, roles.Auditor)
	var quarantined []events.Quarantined
	got, last, err := l.ReadAll(ctx, jslog.ReadOptions{Quarantine: func(q events.Quarantined) { quarantined = append(quarantined, q) }})
	require.NoError(t, err)
	assert.Empty(t, quarantined, "every stored message is an event of its subject")
	assert.Equal(t, uint64(len(evs)), last, "last sequence")
	require.Len(t, got, len(evs), "every event stored, none twice")
	seen := make(map[uuid.UUID]int, len(got))
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq, "sequences are contiguous from 1")
		seen[e.ID]++
	}
	for i, e := range evs {
		require.Equal(t, 1, seen[e.ID], "event %d (%s) stored exactly once", i, e.ID)
		require.Equal(t, e.ID, got[i].ID, "event %d in input order", i)
		require.Equal(t, string(e.StoredJSON()), string(got[i].StoredJSON()), "event %d stored as sent", i)
	}
	// A write is acknowledged once two of three replicas hold it.
	require.NoError(t, c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second), "every replica holds what the leader holds")
	states, err := c.StreamStates(jslog.DefaultStream)
	require.NoError(t, err)
	for _, s := range states {
		assert.Equal(t, uint64(len(evs)), s.State.Msgs, "messages on %s", s.Name)
		assert.Equal(t, uint64(1), s.State.FirstSeq, "first sequence on %s", s.Name)
		assert.Equal(t, uint64(len(evs)), s.State.LastSeq, "last sequence on %s", s.Name)
		assert.Zero(t, s.State.NumDeleted, "no gap on %s", s.Name)
		assert.Equal(t, states[0].State.Bytes, s.State.Bytes, "bytes on %s equal those on %s", s.Name, states[0].Name)
	}
}

func TestImportSurvivesLeaderKill(t *testing.T) { runFault(t, "leader", chainImport) }

func TestImportSurvivesFollowerKill(t *testing.T) { runFault(t, "follower", chainImport) }

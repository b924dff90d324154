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
	"github.com/ccm-ledger/ccm-ledger/events"
)

// importer is the import step of the fault tests: it stores every event of
// evs in the log once, in order, over nc (a recorder's connection),
// resuming after whatever failure the cluster throws at it, and calls
// progress with the number of events of evs stored so far (at least every
// 1,000). It runs outside the test's goroutine: it reports failure by its
// error, not through t.
//
// chainImport works on the log alone. The ledger-level import (validation
// by the aggregates, `ccm log import`) replaces it in a later phase, which
// also adds the client killed mid-import and the comparison of as-of
// reports with a single-node run.
type importer func(ctx context.Context, nc *nats.Conn, evs []events.Envelope, progress func(stored int)) (importStats, error)

// importStats tell how an import went.
type importStats struct {
	Chains   int      // chains started
	Failures []string // why chains stopped early
	Resumed  int      // events found stored, acknowledged or not, when resuming
}

// maxChains bounds the resume loop of chainImport.
const maxChains = 50

// chainImport appends evs with jslog.AppendChain. When a chain stops (a
// lost connection, a leader election, an acknowledgement that never came)
// it re-reads the log from the last sequence it knows to be its own,
// drops from the input what is stored, by event id, and starts a new chain
// after the log's new last sequence.
func chainImport(ctx context.Context, nc *nats.Conn, evs []events.Envelope, progress func(stored int)) (importStats, error) {
	var st importStats
	l, err := jslog.Create(ctx, nc, jslog.Config{Replicas: 3})
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
		head, err := l.Head(ctx)
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
			_, err := l.Read(ctx, jslog.ReadOptions{FromSeq: known + 1, UpToSeq: head.LastSeq}, func(e events.Envelope) error {
				if !index[e.ID] {
					return fmt.Errorf("event %s at %d is not one of the import's", e.ID, e.Seq)
				}
				found[e.ID] = true
				return nil
			})
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

// runFault imports faultEvents generated events with imp while the
// stream's leader (or a follower) is killed when faultAt events are stored
// and restarted downFor later; then checks that the log holds every event
// exactly once with contiguous sequences on every replica.
func runFault(t *testing.T, role string, imp importer) {
	c := natstest.RunDeployCluster(t)
	createLog(t, c)
	evs := generate(t, faultEvents)
	recorder := c.DialRole(t, "recorder")

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
		st, err := imp(ctx, recorder, evs, progress)
		done <- result{st, err}
	}()

	var rep faultReport
	rep.role = role
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("the import ended before %d events were stored: %v", faultAt, r.err)
	}
	leader := c.StreamLeader(jslog.DefaultStream)
	require.GreaterOrEqual(t, leader, 0, "the stream has a leader")
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
	require.NoError(t, r.err, "the import completes despite the fault; %+v", r.stats)

	caught := time.Now()
	if err := c.WaitCaughtUp(jslog.DefaultStream, 30*time.Second); err != nil {
		states, _ := c.StreamStates(jslog.DefaultStream)
		for _, s := range states {
			t.Logf("%s: running %v, leader %v, state %+v", s.Name, s.Running, s.Leader, s.State)
			for _, r := range s.Replicas {
				t.Logf("  replica %+v", *r)
			}
		}
		t.Log(rep)
		t.Fatalf("every replica, the restarted one included, catches up: %v", err)
	}
	rep.catchUpTook = time.Since(caught)
	t.Log(rep)

	checkExactlyOnce(t, c, evs)
}

// checkExactlyOnce checks that the log holds evs exactly once each, in
// order, at sequences 1..len(evs), and that every node holds the same.
func checkExactlyOnce(t *testing.T, c *natstest.Cluster, evs []events.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := openLog(t, c, "auditor")
	got, last, err := l.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
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

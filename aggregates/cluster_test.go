package aggregates_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/jslog"
	"github.com/ccm-ledger/ccm-ledger/events/natstest"
)

// clusterConflicts counts the appends the log refused for a stale version.
type clusterConflicts struct {
	*jslog.Log
	n *atomic.Int64
}

func (s clusterConflicts) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	seq, err := s.Log.Append(ctx, scope, expected, evs...)
	if errors.Is(err, events.ErrConflict) {
		s.n.Add(1)
	}
	return seq, err
}

// historyStore is an in-memory log, to decide a recorded history again.
type historyStore struct{ evs []events.Envelope }

func (h *historyStore) Replay(_ context.Context, from uint64, fn func(events.Envelope) error) (uint64, error) {
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

// TestRecordersRaceOnOneStateInACluster: four recorders, each with its own
// connection to the three-node cluster of deploy/nats and its own Ledger,
// record at once for the same State: each a signature, a deposit and ten
// annual reports. The log detects the conflicts and the Ledgers decide
// again; in the end the log holds one signature, one deposit and every
// report, and the history, decided again from the start in stream order,
// is one the Convention's rules allow.
func TestRecordersRaceOnOneStateInACluster(t *testing.T) {
	const recorders, reports = 4, 10
	c := natstest.RunCluster(t, natstest.ClusterOptions{ConfigDir: natstest.DeployDir(t), Env: natstest.DeployEnv()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(role string) *jslog.Log {
		nc, err := jslog.Dial(ctx, jslog.ConnectOptions{URL: c.URL(), Name: role, User: role, Password: natstest.DeployPassword(role)})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		l, err := jslog.Open(ctx, nc, jslog.Config{Replicas: 3, ReadOnly: role != "operator"})
		require.NoError(t, err, "open the log as %s", role)
		return l
	}
	dial("operator") // creates the R3 stream
	clock := func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
	ev := func(typ events.Type, date string, p events.Payload, source string) events.Envelope {
		e, err := events.New(uuid.Nil, typ, "SWE", events.MustDate(date), p, source)
		require.NoError(t, err)
		return e
	}

	var conflicts atomic.Int64
	type outcome struct {
		recorded, rejected map[events.Type]int
		err                error
	}
	outcomes := make([]outcome, recorders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r := range recorders {
		ledger := aggregates.NewLedger(clusterConflicts{dial("recorder"), &conflicts}, clock)
		src := fmt.Sprintf("recorder %d", r)
		cmds := []events.Envelope{
			ev(events.Signed, fmt.Sprintf("2008-12-%02d", 3+r), nil, src),
			ev(events.Deposited, fmt.Sprintf("2012-04-%02d", 20+r), &events.Deposit{Instrument: events.Ratification}, src),
		}
		for k := range reports {
			cmds = append(cmds, ev(events.ReportSubmitted, events.MustDate("2013-04-01").AddDate(0, 0, r*reports+k).String(),
				&events.Report{Kind: events.AnnualReport, Year: 2012}, src))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := outcome{recorded: map[events.Type]int{}, rejected: map[events.Type]int{}}
			<-start
			for _, e := range cmds {
				_, err := ledger.Record(ctx, e)
				switch {
				case err == nil:
					o.recorded[e.Type]++
				case errors.Is(err, events.ErrRejected):
					o.rejected[e.Type]++
				default:
					o.err = fmt.Errorf("%s: %w", e.Type, err)
					outcomes[r] = o
					return
				}
			}
			outcomes[r] = o
		}()
	}
	close(start)
	wg.Wait()

	recorded, rejected := map[events.Type]int{}, map[events.Type]int{}
	for r, o := range outcomes {
		require.NoError(t, o.err, "recorder %d", r)
		for typ, n := range o.recorded {
			recorded[typ] += n
		}
		for typ, n := range o.rejected {
			rejected[typ] += n
		}
	}
	t.Logf("recorded %v, rejected %v, %d conflicts detected and decided again", recorded, rejected, conflicts.Load())
	assert.Equal(t, map[events.Type]int{events.Signed: 1, events.Deposited: 1, events.ReportSubmitted: recorders * reports}, recorded)
	assert.Equal(t, map[events.Type]int{events.Signed: recorders - 1, events.Deposited: recorders - 1}, rejected,
		"the other signatures and deposits are refused by the rules, after reading the winner's")
	assert.Positive(t, conflicts.Load(), "recorders racing on one State meet conflicts")

	history, _, err := dial("auditor").ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	require.Len(t, history, 2+recorders*reports, "the log holds what was recorded, nothing else")
	replay := aggregates.NewLedger(&historyStore{}, clock)
	for _, e := range history {
		_, err := replay.Record(ctx, e)
		require.NoError(t, err, "event %d (%s %s) is allowed after the ones before it", e.Seq, e.Type, e.Date)
	}
}

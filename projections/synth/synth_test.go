package synth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

func TestGenerateGivesTheSizeAskedInDateOrder(t *testing.T) {
	for _, n := range []int{0, 1, 10, 500, 3000} {
		evs := synth.Generate(n, 1)
		require.Len(t, evs, n, "Generate(%d, 1)", n)
		for i := 1; i < len(evs); i++ {
			require.LessOrEqual(t, evs[i-1].Date, evs[i].Date, "Generate(%d, 1): event %d (%s) dated after event %d (%s)", n, i-1, evs[i-1].Date, i, evs[i].Date)
		}
		for i, e := range evs {
			require.LessOrEqual(t, e.Date, synth.End, "Generate(%d, 1): event %d (%s %s) after synth.End", n, i, e.Type, e.Date)
			require.Contains(t, e.Source, "synthetic", "Generate(%d, 1): event %d source", n, i)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := synth.Generate(800, 42), synth.Generate(800, 42)
	require.Equal(t, a, b, "Generate(800, 42) twice")
	c := synth.Generate(800, 43)
	assert.NotEqual(t, a, c, "Generate(800, 42) and Generate(800, 43)")
}

func TestGenerateCoversTheEventTypes(t *testing.T) {
	evs := synth.Generate(20000, 3)
	seen := map[events.Type]int{}
	ids := map[[16]byte]bool{}
	for _, e := range evs {
		seen[e.Type]++
		require.False(t, ids[e.ID], "id %s appears twice", e.ID)
		ids[e.ID] = true
	}
	for _, typ := range events.Types() {
		if typ == events.CoverageDeclared {
			// A synthetic ledger declares no coverage: it is taken as
			// complete, as a user's own ledger is (the tests of the
			// views add coverage to their histories themselves).
			assert.Zero(t, seen[typ])
			continue
		}
		assert.Positive(t, seen[typ], "Generate(20000, 3) has no %s event (counts %v)", typ, seen)
	}
}

// The generated events must pass the Convention's rules when imported in
// order into a real ledger.
func TestGenerateIsAcceptedByTheLedger(t *testing.T) {
	for _, tc := range []struct {
		n    int
		seed int64
	}{{600, 1}, {5000, 2}, {5000, 9}} {
		ctx := context.Background()
		srv := natstest.RunServer(t)
		log, err := jslog.Create(ctx, srv.Conn(t), jslog.Config{})
		require.NoError(t, err)
		clock := func() time.Time { return synth.End.AddDate(0, 0, 1).Time() }
		l := aggregates.NewLedger(log, clock)
		evs := synth.Generate(tc.n, tc.seed)
		res, err := l.Import(ctx, evs, nil)
		require.NoError(t, err, "import Generate(%d, %d)", tc.n, tc.seed)
		assert.Equal(t, tc.n, res.Appended, "import Generate(%d, %d): events recorded", tc.n, tc.seed)
		assert.Equal(t, 1, res.Attempts, "import Generate(%d, %d): attempts", tc.n, tc.seed)
	}
}

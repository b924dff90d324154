package aggregates_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// withID returns e under another id, as a client that gives ids does.
func withID(t *testing.T, e events.Envelope, id uuid.UUID) events.Envelope {
	t.Helper()
	out, err := events.New(id, e.Type, e.State, e.Date, e.Payload, e.Source)
	require.NoError(t, err)
	return out
}

// An id names one fact forever: the same id with other content is refused,
// in any State, within the stream's duplicate window and beyond it; the
// very same event again is "already recorded".
func TestIDsAreForever(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	const window = time.Second
	log, err := jslog.Create(ctx, srv.Conn(t), jslog.Config{Duplicates: window})
	require.NoError(t, err)
	l := aggregates.NewLedger(log, today)
	l.Freshness = window / 2
	id := uuid.New()
	swe := withID(t, signed(t, "SWE", "2008-12-03"), id)
	seq, err := l.Record(ctx, swe)
	require.NoError(t, err)

	refused := func(what string, e events.Envelope, ledger *aggregates.Ledger) {
		t.Helper()
		_, err := ledger.Record(ctx, e)
		var ic *aggregates.IDConflictError
		require.ErrorAs(t, err, &ic, what)
		assert.ErrorIs(t, err, events.ErrIDConflict, what)
		assert.Equal(t, "SWE", ic.Scope, what)
		assert.Equal(t, seq, ic.Seq, what)
		assert.LessOrEqual(t, msgs(t, log), uint64(2), "%s: nothing stored", what)
	}
	nor := withID(t, signed(t, "NOR", "2008-12-03"), id)
	refused("the id for another State, within the window", nor, l)
	refused("the id for other content of the same State", withID(t, ev(t, events.LegislationStatus, "SWE", "2012-04-04", &events.Legislation{Status: "adopted"}), id), l)

	again, err := l.Record(ctx, swe)
	require.ErrorIs(t, err, events.ErrDuplicate, "the same event")
	assert.Equal(t, seq, again)

	// Beyond the window the server no longer knows the id: the ledger does,
	// also a new one that reads the log first.
	time.Sleep(window + 500*time.Millisecond)
	refused("the id for another State, beyond the window", nor, l)
	refused("the same, from a ledger that had not read the log", nor, aggregates.NewLedger(log, today))

	// A ledger whose last read is older than the window reads again.
	stale := aggregates.NewLedger(log, today)
	stale.Freshness = window / 2
	_, err = stale.Sync(ctx)
	require.NoError(t, err)
	other := withID(t, signed(t, "AUT", "2008-12-03"), uuid.New())
	_, err = l.Record(ctx, other)
	require.NoError(t, err)
	time.Sleep(window)
	_, err = stale.Record(ctx, withID(t, signed(t, "BEL", "2008-12-03"), other.ID))
	assert.ErrorIs(t, err, events.ErrIDConflict, "an id recorded by another writer after the stale ledger read the log")

	// An import that reuses the id is refused whole, naming the event.
	_, err = aggregates.NewLedger(log, today).Import(ctx, []events.Envelope{signed(t, "FIN", "2008-12-03"), nor}, nil)
	var ie *aggregates.ImportError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 1)
	assert.Equal(t, 1, ie.Problems[0].Index)
	assert.ErrorIs(t, ie.Problems[0].Err, events.ErrIDConflict)
	assert.Equal(t, uint64(2), msgs(t, log), "nothing of the import stored (the signatures of SWE and AUT)")
}

// A command mixing an event the ledger holds and a new one records the new
// one and says the other was there.
func TestRecordCommandSaysWhatWasThere(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := aggregates.NewLedger(openLog(t, srv), today)
	sig := signed(t, "SWE", "2008-12-03")
	first, err := l.Record(ctx, sig)
	require.NoError(t, err)
	dep := deposited(t, "SWE", "2012-04-23", events.Ratification)
	out, err := l.RecordCommand(ctx, sig, dep)
	require.NoError(t, err)
	assert.Equal(t, []aggregates.Outcome{{Seq: first, Existing: true}, {Seq: first + 1}}, out)
}

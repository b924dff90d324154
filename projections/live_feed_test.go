package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// replayCounter is a ledger's store that counts the reads of the log.
type replayCounter struct {
	aggregates.Store
	reads atomic.Int32
}

func (c *replayCounter) Replay(ctx context.Context, from uint64, fn func(events.Envelope) error, skipped func(events.Quarantined)) (uint64, error) {
	c.reads.Add(1)
	return c.Store.Replay(ctx, from, fn, skipped)
}

// A ledger fed by the live fold (how `ccm serve` starts: one read of the
// log) holds what a ledger that read the log itself holds: the same
// aggregates, the same quarantined messages, the same versions to append
// with; it records without reading the log, and the fold's later reads of
// what it recorded count nothing twice.
func TestLiveFeedsTheWriter(t *testing.T) {
	ctx := context.Background()
	j := newJetStreamLedger(t, 2000, 17)
	js, err := jetstream.New(j.srv.Conn(t))
	require.NoError(t, err)
	// Messages no rule admits, the last ones on a State's subjects: the
	// next append about it must expect them.
	evs, _, err := j.log.ReadAll(ctx, jslog.ReadOptions{})
	require.NoError(t, err)
	scopes := map[string]bool{}
	var copied events.Envelope // a copy of a stored event: a duplicate id
	for _, e := range evs {
		scopes[e.Scope()] = true
		if copied.State == "" && e.Type == events.Signed {
			copied = e
		}
	}
	x := copied.State
	require.NotEmpty(t, x)
	for _, body := range []string{"this is not json", string(copied.StoredJSON())} {
		_, err = js.Publish(ctx, events.Subject(x, events.Signed), []byte(body))
		require.NoError(t, err)
	}

	clock := func() time.Time { return synth.End.AddDate(0, 0, 1).Time() }
	store := &replayCounter{Store: j.log}
	fed := aggregates.NewLedger(store, clock)
	live := projections.NewLive(logsource.New(j.log), projections.LiveEvery(time.Hour), projections.LiveFeed(fed.Follower()))
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- live.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.NoError(t, live.Sync(ctx))

	self := aggregates.NewLedger(j.log, clock)
	_, err = self.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, self.Seq(), fed.Seq())
	assert.Equal(t, self.Quarantined(), fed.Quarantined())
	require.Len(t, fed.Quarantined(), 2)
	assert.Equal(t, self.Convention(), fed.Convention())
	for scope := range scopes {
		assert.Equal(t, self.State(scope), fed.State(scope), scope)
	}

	leg, err := events.New(uuid.Nil, events.LegislationStatus, x, synth.End,
		&events.Legislation{Status: events.LegislationAdopted}, "test: after the raw messages")
	require.NoError(t, err)
	_, err = fed.Record(ctx, leg)
	require.NoError(t, err, "the version to append with counts the quarantined messages")
	assert.Zero(t, store.reads.Load(), "the fed ledger decided without reading the log")

	require.NoError(t, live.Sync(ctx))
	assert.Len(t, fed.Quarantined(), 2, "its own event, read again by the fold, is no duplicate")
	_, err = self.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, self.State(x), fed.State(x))
	assert.Equal(t, self.Seq(), fed.Seq())

	// A busy ledger does not hold up the fold: an import through it while
	// the fold reads what another writer stores. What the feed could not
	// give it, it reads itself, and it ends where a read of the log ends.
	var more []events.Envelope
	for i := range 500 {
		a, err := events.New(uuid.Nil, events.AssistanceProvided, x, events.MustDate("2015-01-01").AddDate(0, 0, i),
			&events.Assistance{Areas: []string{"clearance"}}, fmt.Sprintf("test: assistance %d", i))
		require.NoError(t, err)
		more = append(more, a)
	}
	other := aggregates.NewLedger(j.log, clock)
	imported := make(chan error, 1)
	go func() {
		_, err := fed.Import(ctx, more[:300], nil)
		imported <- err
	}()
	for _, e := range more[300:] {
		_, err := other.Record(ctx, e)
		require.NoError(t, err)
		require.NoError(t, live.Sync(ctx), "the fold answers while the ledger imports")
	}
	require.NoError(t, <-imported)
	require.NoError(t, live.Sync(ctx))
	_, err = fed.Sync(ctx)
	require.NoError(t, err)
	_, err = self.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, self.Seq(), fed.Seq())
	assert.Equal(t, self.Quarantined(), fed.Quarantined())
	for scope := range scopes {
		assert.Equal(t, self.State(scope), fed.State(scope), scope)
	}
}

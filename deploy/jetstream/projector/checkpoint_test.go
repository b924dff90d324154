package projector_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
)

// storedCheckpoints records every value of the checkpoint key, in the
// order stored: a checkpoint moved back and then forward again is seen,
// which the last value alone does not show.
type storedCheckpoints struct {
	kv   jetstream.KeyValue
	mu   sync.Mutex
	ents []jetstream.KeyValueEntry
}

// watchCheckpoints creates the bucket (the operator's part) and watches
// its checkpoint key until the test ends.
func (e *env) watchCheckpoints(t *testing.T) *storedCheckpoints {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, projector.Create(ctx, e.js, projector.Config{}))
	kv, err := e.js.KeyValue(ctx, projector.DefaultBucket)
	require.NoError(t, err)
	w, err := kv.Watch(ctx, "checkpoint")
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Stop() })
	s := &storedCheckpoints{kv: kv}
	go func() {
		for ent := range w.Updates() {
			if ent == nil {
				continue // the end of what was stored before the watch
			}
			s.mu.Lock()
			s.ents = append(s.ents, ent)
			s.mu.Unlock()
		}
	}()
	return s
}

// all returns the checkpoints stored so far, once the watch has seen the
// key's current revision.
func (s *storedCheckpoints) all(t *testing.T) []projector.Checkpoint {
	t.Helper()
	cur, err := s.kv.Get(context.Background(), "checkpoint")
	require.NoError(t, err)
	var ents []jetstream.KeyValueEntry
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		ents = append(ents[:0], s.ents...)
		return len(ents) > 0 && ents[len(ents)-1].Revision() >= cur.Revision()
	}, 10*time.Second, 10*time.Millisecond, "the watch sees revision %d", cur.Revision())
	out := make([]projector.Checkpoint, len(ents))
	for i, ent := range ents {
		require.NoError(t, json.Unmarshal(ent.Value(), &out[i]), "checkpoint at revision %d", ent.Revision())
	}
	return out
}

// checkNeverBack checks that each stored checkpoint is at or after the one
// before it on both clocks.
func checkNeverBack(t *testing.T, cks []projector.Checkpoint) {
	t.Helper()
	for i := 1; i < len(cks); i++ {
		prev, ck := cks[i-1], cks[i]
		assert.True(t, ck.Seq >= prev.Seq && ck.Date >= prev.Date,
			"stored checkpoint %d (log sequence %d, %s) moves back from (log sequence %d, %s)", i+1, ck.Seq, ck.Date, prev.Seq, prev.Date)
	}
}

// An old projector still running whose clock is behind the new one's (two
// hosts either side of midnight UTC, or one whose clock drifted): when its
// date moves, it stores no checkpoint dated before the stored one.
func TestCheckpointNeverMovesBackToAnEarlierDate(t *testing.T) {
	e := setup(t, history(t))
	stored := e.watchCheckpoints(t)
	behind, ahead := newClock("2014-01-01"), newClock("2021-01-01")
	old, _ := e.start(t, behind, projector.Config{})
	e.waitCaughtUp(t, old, behind)
	p, _ := e.start(t, ahead, projector.Config{})
	e.waitCaughtUp(t, p, ahead)
	head, err := e.log.Head(context.Background())
	require.NoError(t, err)

	// A day passes for the old one, still years behind: it publishes
	// what it finds due and then goes to store its checkpoint.
	behind.Set("2015-01-01")
	e.waitCaughtUp(t, old, behind)
	cks := stored.all(t)
	checkNeverBack(t, cks)
	last := cks[len(cks)-1]
	assert.Equal(t, head.LastSeq, last.Seq)
	assert.Equal(t, ahead.Date().String(), last.Date.String(), "the stored checkpoint keeps the date of the projector ahead")
	assert.Equal(t, ahead.Date().String(), old.Stats().Checkpoint.Date.String(), "the old projector takes the stored checkpoint as its own")
	e.checkExactlyOnce(t, ahead)
}

// An old projector that stalled (a long pause of its process or host)
// while a new one went further resumes at its older fold point: the first
// event it folds was recorded on a later day than its clock, so it first
// publishes that day and stores its checkpoint at the log sequence before
// the event, behind the one the new projector stored.
func TestCheckpointNeverMovesBackToAnEarlierSequence(t *testing.T) {
	e := setup(t, history(t)[:40])
	stored := e.watchCheckpoints(t)
	c := newClock("2013-01-01")
	old, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, old, c)
	release := projector.HoldState(old)
	defer release()

	for _, ev := range history(t)[40:] {
		_, err := e.ledger.Record(context.Background(), ev)
		require.NoError(t, err)
	}
	c.Set("2014-01-01")
	p, _ := e.start(t, c, projector.Config{})
	e.waitCaughtUp(t, p, c)
	head, err := e.log.Head(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(40), old.Stats().Seq, "the old projector is still at its older fold point")

	release()
	e.waitCaughtUp(t, old, c)
	cks := stored.all(t)
	checkNeverBack(t, cks)
	last := cks[len(cks)-1]
	assert.Equal(t, head.LastSeq, last.Seq, "the stored checkpoint keeps the log sequence of the projector ahead")
	assert.Equal(t, c.Date().String(), last.Date.String())
	e.checkExactlyOnce(t, c)
}

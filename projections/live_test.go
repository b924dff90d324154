package projections_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// copy returns a source holding what s holds now, for reading while s is
// written.
func (s *sliceSource) copy() *sliceSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &sliceSource{evs: append([]events.Envelope(nil), s.evs...), start: s.start}
}

// runLive starts the live fold of src for the test's lifetime.
func runLive(t *testing.T, src projections.Source) *projections.Live {
	t.Helper()
	l := projections.NewLive(src, projections.LiveEvery(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
	require.NoError(t, l.Sync(ctx))
	return l
}

// recordRejected stores what no rule admits where it stands: a copy of a
// recorded event (same id) and a retraction of an event the ledger never
// held. Folds quarantine them; the live fold must count them the same.
func recordRejected(t *testing.T, h *history) {
	t.Helper()
	dup := h.src.evs[len(h.src.evs)/2]
	ghost, err := events.New([16]byte{}, events.Retracted, "SWE", events.MustDate("2012-01-01"),
		&events.Retraction{Event: [16]byte{1, 2, 3}, Reason: "a retraction of nothing"}, "test: ghost")
	require.NoError(t, err)
	h.src.record(dup, ghost)
}

// The property of the live fold: at every as-of date and known-at point, a
// query answered from memory equals a fold of the log, as events keep
// arriving (backdated facts, retractions, a moved entry into force,
// messages the rules reject) and without reading the log again.
func TestLiveQueriesMatchTheFold(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			h := newHistory(t, 1200, seed)
			live := runLive(t, h.src)
			eng := projections.NewEngine(h.src, nil, projections.Options{}, projections.WithLive(live))
			plain := projections.NewEngine(h.src, nil, projections.Options{})
			// s is a point before the events recorded last: known-at
			// bounds around it see the log without them.
			check := func(s uint64) {
				t.Helper()
				checkAgainstFold(t, h, eng, s, projections.Options{})
				checkDiffAndMeetings(t, h, eng, plain)
				checkEveryStatus(t, h, eng, s)
				before := h.src.readCount()
				_, err := eng.Report(ctx, projections.Bounds{AsOf: synth.End})
				require.NoError(t, err)
				require.Equal(t, before, h.src.readCount(), "a query with nothing new stored read the log")
			}
			s := uint64(len(h.src.evs))
			check(s)
			h.recordLate(t, len(h.held)/2, 4)
			recordRejected(t, h)
			check(s)
			s = uint64(len(h.src.evs))
			h.recordLate(t, len(h.held), 3)
			check(s)
			other := projections.Options{AnnualRule: aggregates.FirstFullYear}
			checkAgainstFold(t, h, projections.NewEngine(h.src, nil, other, projections.WithLive(live)), uint64(len(h.src.evs)), other)
		})
	}
}

// checkEveryStatus compares the status of every State, one at a time (the
// entry into force then comes from the deposits alone), with a fold.
func checkEveryStatus(t *testing.T, h *history, eng *projections.Engine, s uint64) {
	t.Helper()
	for _, b := range []projections.Bounds{{AsOf: synth.End, KnownAtSeq: s}, {AsOf: h.meetings[2], KnownAtSeq: s / 2}, {AsOf: synth.End}} {
		ref := referenceFold(t, h.src, b)
		for _, c := range events.States() {
			st, err := eng.Status(context.Background(), c.ISO3, b)
			require.NoError(t, err)
			require.Equal(t, projections.StatusOf(ref, c.ISO3, b.AsOf, projections.Options{}), st, "Status(%s) at %+v", c.ISO3, b)
		}
	}
}

// checkDiffAndMeetings compares the views built on whole folds (diff,
// meetings, the resolution of a meeting code) with those of the engine
// that reads the log.
func checkDiffAndMeetings(t *testing.T, h *history, eng, plain *projections.Engine) {
	t.Helper()
	ctx := context.Background()
	head := uint64(len(h.src.evs))
	for _, k := range []projections.Bounds{{}, {KnownAtSeq: head / 2}, {KnownAtTime: h.src.recordedAt(head / 3)}} {
		from, to := k, k
		from.AsOf, to.AsOf = h.meetings[0], h.meetings[len(h.meetings)-1]
		want, err := plain.Diff(ctx, from, to)
		require.NoError(t, err)
		got, err := eng.Diff(ctx, from, to)
		require.NoError(t, err)
		require.Equal(t, want, got, "Diff known at %+v", k)
		wm, err := plain.Meetings(ctx, k)
		require.NoError(t, err)
		gm, err := eng.Meetings(ctx, k)
		require.NoError(t, err)
		require.Equal(t, wm, gm, "Meetings known at %+v", k)
	}
	older := projections.Bounds{KnownAtSeq: head / 2, AsOf: h.meetings[1]}
	want, err := plain.Diff(ctx, older, projections.Bounds{AsOf: synth.End})
	require.NoError(t, err)
	got, err := eng.Diff(ctx, older, projections.Bounds{AsOf: synth.End})
	require.NoError(t, err)
	require.Equal(t, want, got, "Diff across known-at points")
}

// Queries share the live fold while it follows the log: answers stay what a
// fold gives at their own point (checked under the race detector in CI's
// race runs), and an answer given earlier is not changed by later events.
func TestLiveConcurrentQueriesWhileRecording(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 800, 7)
	live := runLive(t, h.src)
	eng := projections.NewEngine(h.src, nil, projections.Options{}, projections.WithLive(live))
	first, err := eng.Status(ctx, touchedState(h), projections.Bounds{AsOf: synth.End})
	require.NoError(t, err)
	kept := fmt.Sprintf("%+v", first)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := projections.Bounds{AsOf: synth.End}
				r, err := eng.Report(ctx, b)
				if err != nil {
					errs <- err
					return
				}
				ref := referenceFold(t, h.src.copy(), projections.Bounds{AsOf: synth.End, KnownAtSeq: r.KnownAt.Seq})
				if want := projections.ReportOf(ref, synth.End, projections.Options{}); fmt.Sprint(want) != fmt.Sprint(r) {
					errs <- fmt.Errorf("report known at %d differs from the fold", r.KnownAt.Seq)
					return
				}
			}
		}()
	}
	for len(h.held) > 0 {
		h.recordLate(t, 10, 1)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, kept, fmt.Sprintf("%+v", first), "an answer changed after it was given")
	r, err := eng.Report(ctx, projections.Bounds{AsOf: synth.End})
	require.NoError(t, err)
	require.Equal(t, uint64(len(h.src.evs)), r.KnownAt.Seq, "a query after the last write sees it")
}

// A query waits for the fold to read what was stored before it; when the
// live fold stops, queries fail instead of answering from an old view.
func TestLiveStopsAnswering(t *testing.T) {
	h := newHistory(t, 200, 3)
	l := projections.NewLive(h.src, projections.LiveEvery(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	eng := projections.NewEngine(h.src, nil, projections.Options{}, projections.WithLive(l))
	_, err := eng.Report(context.Background(), projections.Bounds{AsOf: synth.End})
	require.NoError(t, err)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	h.recordLate(t, 1, 0)
	_, err = eng.Report(context.Background(), projections.Bounds{AsOf: synth.End})
	require.ErrorIs(t, err, projections.ErrLiveStopped)
}

// The entry into force of a State's status, asked alone, comes from every
// State's deposits as known at the bound: a backdated deposit recorded
// later and a retracted deposit move it, and only from their sequence on.
func TestLiveStatusEntryIntoForceFollowsDeposits(t *testing.T) {
	ctx := context.Background()
	src := newSliceSource()
	states := events.States()
	var deps []events.Envelope
	for i := range 30 {
		deps = append(deps, mustEvent(t, events.Deposited, states[i].ISO3, events.MakeDate(2009+i/12, time.Month(1+i%12), 15).String(),
			&events.Deposit{Instrument: events.Accession}))
	}
	src.record(deps...)
	before := src.record(mustEvent(t, events.Deposited, states[30].ISO3, "2008-12-10", &events.Deposit{Instrument: events.Accession}))
	retracted := src.record(mustRetraction(t, deps[0], events.MustDate("2012-01-01")))
	live := runLive(t, src)
	eng := projections.NewEngine(src, nil, projections.Options{}, projections.WithLive(live))
	var eifs []events.Date
	for _, k := range []uint64{before - 1, before, retracted} {
		b := projections.Bounds{AsOf: events.MustDate("2012-01-01"), KnownAtSeq: k}
		ref := referenceFold(t, src, b)
		for _, iso3 := range []string{states[5].ISO3, states[30].ISO3, states[0].ISO3} {
			st, err := eng.Status(ctx, iso3, b)
			require.NoError(t, err)
			require.Equal(t, projections.StatusOf(ref, iso3, b.AsOf, projections.Options{}), st, "Status(%s) known at %d", iso3, k)
		}
		eifs = append(eifs, ref.Convention(b.AsOf).EntryIntoForce)
	}
	require.NotEqual(t, eifs[0], eifs[1], "the backdated deposit does not move the entry into force: the test shows nothing")
	require.NotEqual(t, eifs[1], eifs[2], "the retraction does not move the entry into force: the test shows nothing")
}

// headCounter counts the reads of the log's head.
type headCounter struct {
	*sliceSource
	mu    sync.Mutex
	heads int
}

func (h *headCounter) Head(ctx context.Context) (uint64, time.Time, error) {
	h.mu.Lock()
	h.heads++
	h.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a round trip to the server
	return h.sliceSource.Head(ctx)
}

// Concurrent queries share reads of the log's head instead of each asking
// the server, and each still sees what was stored before it began.
func TestLiveQueriesShareHeadReads(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 300, 5)
	src := &headCounter{sliceSource: h.src}
	live := runLive(t, src)
	eng := projections.NewEngine(src, nil, projections.Options{}, projections.WithLive(live))
	src.mu.Lock()
	src.heads = 0
	src.mu.Unlock()
	const queries = 64
	var wg sync.WaitGroup
	for range queries {
		wg.Go(func() {
			seq := h.src.record(h.held[0]) // each query follows a write of its own
			st, err := eng.Status(ctx, "SWE", projections.Bounds{AsOf: synth.End})
			assert.NoError(t, err)
			assert.GreaterOrEqual(t, st.KnownAt.Seq, seq, "a query did not see the write made before it")
		})
	}
	wg.Wait()
	src.mu.Lock()
	defer src.mu.Unlock()
	assert.Less(t, src.heads, queries/2, "%d reads of the head for %d concurrent queries", src.heads, queries)
}

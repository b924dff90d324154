package projections_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// history is a synthetic ledger recorded out of order: most events in date
// order, then, after the snapshots were taken, backdated events and
// retractions.
type history struct {
	src      *sliceSource
	rng      *rand.Rand
	held     []events.Envelope // not yet recorded
	meetings []events.Date
}

func newHistory(t *testing.T, n int, seed int64) *history {
	t.Helper()
	h := &history{src: newSliceSource(), rng: rand.New(rand.NewPCG(uint64(seed), 11))}
	all := h.imprecise(t, synth.Generate(n, seed))
	heldIDs := map[uuid.UUID]bool{}
	var first []events.Envelope
	for _, e := range all {
		switch {
		case e.Type == events.MeetingHeld:
			h.meetings = append(h.meetings, e.Date)
			first = append(first, e)
		case e.Type == events.Retracted && heldIDs[e.Payload.(*events.Retraction).Event]:
			// A retraction is recorded after its target.
			h.held = append(h.held, e)
		case e.Type != events.Retracted && h.rng.Float64() < 0.2:
			heldIDs[e.ID] = true
			h.held = append(h.held, e)
		default:
			first = append(first, e)
		}
	}
	// Coverage of a few classes, one recorded at once, the others later:
	// statuses resting on facts missing after their through day become
	// unknown, and every view must follow.
	for i, c := range events.FactClasses() {
		if h.rng.Float64() < 0.4 {
			continue
		}
		from := events.Adoption.AddDate(0, 0, h.rng.IntN(900))
		through := events.MakeDate(2012+h.rng.IntN(13), time.Month(1+h.rng.IntN(12)), 1+h.rng.IntN(28))
		e, err := events.New(uuid.Nil, events.CoverageDeclared, "", from, &events.Coverage{Facts: c, Through: through}, "test: coverage")
		require.NoError(t, err)
		if i == 0 {
			first = append(first, e)
		} else {
			h.held = append(h.held, e)
		}
	}
	h.src.record(first...)
	return h
}

// imprecise re-dates a third of the completions and reports that no
// retraction names to the end of their month or year, or to a bound up to
// a year later ("on or before"): views as of a day in such a range hold
// them, and say uncertain where the fold does.
func (h *history) imprecise(t *testing.T, all []events.Envelope) []events.Envelope {
	t.Helper()
	named := map[uuid.UUID]bool{}
	for _, e := range all {
		if e.Type == events.Retracted {
			named[e.Payload.(*events.Retraction).Event] = true
		}
	}
	for i, e := range all {
		switch e.Type {
		case events.StockpileDestructionCompleted, events.ClearanceCompleted, events.ReportSubmitted:
		default:
			continue
		}
		if named[e.ID] || h.rng.Float64() >= 0.33 {
			continue
		}
		prec, d := events.OnOrBefore, e.Date.AddDate(0, 0, h.rng.IntN(365))
		switch h.rng.IntN(3) {
		case 0:
			prec, d = events.Month, e.Date.FirstOfMonth().AddDate(0, 1, -1)
		case 1:
			prec, d = events.Year, events.MakeDate(e.Date.Year(), time.December, 31)
		}
		x, err := events.NewAt(uuid.Nil, e.Type, e.State, d, prec, e.Payload, e.Source)
		require.NoError(t, err)
		all[i] = x
	}
	return all
}

// recordLate records k of the held events in random order (a retraction
// always after its target) and r retractions of events already recorded,
// the first of them of the earliest deposit, which moves the Convention's
// entry into force.
func (h *history) recordLate(t *testing.T, k, r int) {
	t.Helper()
	var targets []events.Envelope
	for i := 0; i < k && len(h.held) > 0; i++ {
		j := h.rng.IntN(len(h.held))
		e := h.held[j]
		if e.Type == events.Retracted {
			j = 0 // the earliest held: its target is recorded, or held before it
			e = h.held[0]
		}
		h.held = append(h.held[:j], h.held[j+1:]...)
		h.src.record(e)
	}
	live := map[uuid.UUID]bool{}
	for _, e := range h.src.evs {
		if e.Type == events.Retracted {
			delete(live, e.Payload.(*events.Retraction).Event)
			continue
		}
		if e.Type != events.MeetingHeld {
			live[e.ID] = true
			targets = append(targets, e)
		}
	}
	sort.SliceStable(targets, func(i, j int) bool {
		return targets[i].Type == events.Deposited && (targets[j].Type != events.Deposited || targets[i].Date < targets[j].Date)
	})
	for i := 0; i < r; i++ {
		x := targets[0]
		if i > 0 {
			x = targets[h.rng.IntN(len(targets))]
		}
		if !live[x.ID] {
			continue
		}
		live[x.ID] = false
		d := events.MakeDate(2010+h.rng.IntN(16), 1, 1+h.rng.IntN(28))
		h.src.record(mustRetraction(t, x, d))
	}
}

func mustRetraction(t testing.TB, target events.Envelope, d events.Date) events.Envelope {
	t.Helper()
	e, err := events.New(uuid.Nil, events.Retracted, target.State, d,
		&events.Retraction{Event: target.ID, Reason: "test correction of " + target.ID.String()}, "test: retraction")
	require.NoError(t, err)
	return e
}

// checkAgainstFold compares the engine's Report and Statuses with a fold of
// the log, for as-of dates around the meetings and known-at points around
// the snapshots' sequence s, and checks that the queries a snapshot covers
// read less than the whole log.
func checkAgainstFold(t *testing.T, h *history, eng *projections.Engine, s uint64, opt projections.Options) {
	t.Helper()
	ctx := context.Background()
	head := uint64(len(h.src.evs))
	var asOf []events.Date
	for _, i := range h.rng.Perm(len(h.meetings))[:2] {
		m := h.meetings[i]
		asOf = append(asOf, m, m.AddDate(0, 0, -1), m.AddDate(0, -5, 0))
	}
	asOf = append(asOf, h.meetings[0].AddDate(-1, 0, 0), synth.End)
	known := []projections.Bounds{{}, {KnownAtSeq: s}, {KnownAtSeq: s - 1}, {KnownAtSeq: (s + head) / 2}, {KnownAtSeq: head},
		{KnownAtTime: h.src.recordedAt(s)}, {KnownAtTime: h.src.recordedAt(head).Add(1)}}
	lastMeeting := h.meetings[len(h.meetings)-1]
	var states []string
	for _, c := range events.States() {
		states = append(states, c.ISO3)
	}
	for _, k := range known {
		for _, d := range asOf {
			b := k
			b.AsOf = d
			ref := referenceFold(t, h.src, b)
			want := projections.ReportOf(ref, d, opt)
			before := h.src.readCount()
			got, err := eng.Report(ctx, b)
			require.NoError(t, err, "Report(%+v)", b)
			read := h.src.readCount() - before
			require.Equal(t, want, got, "Report as of %s known at %+v: snapshot view differs from the fold", d, k)
			covered := d <= lastMeeting && ((k.KnownAtSeq == 0 && k.KnownAtTime.IsZero()) || k.KnownAtSeq >= s ||
				(!k.KnownAtTime.IsZero() && !k.KnownAtTime.Before(h.src.recordedAt(s))))
			if covered {
				assert.Less(t, read, int(head), "Report as of %s known at %+v read the whole log (%d events): no snapshot used", d, k, read)
			}
			gotAll, err := eng.Statuses(ctx, b)
			require.NoError(t, err)
			require.Equal(t, statusesWithFacts(ref, d, opt), gotAll, "Statuses as of %s known at %+v", d, k)
			for _, iso3 := range []string{states[h.rng.IntN(len(states))], states[h.rng.IntN(len(states))], touchedState(h)} {
				st, err := eng.Status(ctx, iso3, b)
				require.NoError(t, err)
				require.Equal(t, projections.StatusOf(ref, iso3, d, opt), st, "Status(%s) as of %s known at %+v", iso3, d, k)
			}
		}
	}
}

// statusesWithFacts returns the statuses of the States of f with a live
// fact dated on or before asOf.
func statusesWithFacts(f *projections.Fold, asOf events.Date, opt projections.Options) []projections.Status {
	out := []projections.Status{}
	for _, st := range projections.Statuses(f, asOf, opt) {
		s := f.State(st.State)
		for _, typ := range events.Types() {
			if fs := s.Facts(typ); len(fs) > 0 && fs[0].Date <= asOf {
				out = append(out, st)
				break
			}
		}
	}
	return out
}

// touchedState returns the State of the last event recorded.
func touchedState(h *history) string {
	for i := len(h.src.evs) - 1; i >= 0; i-- {
		if s := h.src.evs[i].State; s != "" {
			return s
		}
	}
	return "SWE"
}

// The important property: whatever is recorded after a snapshot (backdated
// facts, retractions, a moved entry into force), a query through the
// snapshots gives what a fold of the whole log gives, before and after the
// snapshots are refreshed.
func TestSnapshotQueriesMatchTheFold(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			h := newHistory(t, 1200, seed)
			store := newMemStore()
			eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
			st, err := eng.RefreshSnapshots(ctx)
			require.NoError(t, err)
			require.Equal(t, len(h.meetings)+1, st.Created, "first refresh: snapshots created, the meetings' and the latest (%+v)", st)
			s := uint64(len(h.src.evs))
			checkAgainstFold(t, h, eng, s, projections.Options{})

			// Recorded after the snapshots, not yet refreshed.
			h.recordLate(t, len(h.held)/2, 4)
			checkAgainstFold(t, h, eng, s, projections.Options{})

			// Refreshed: the snapshots now cover them.
			st, err = eng.RefreshSnapshots(ctx)
			require.NoError(t, err)
			assert.Zero(t, st.Created, "incremental refresh created snapshots (%+v)", st)
			assert.Equal(t, len(h.meetings)+1, st.Updated+st.Bumped, "incremental refresh: updated or bumped (%+v)", st)
			s = uint64(len(h.src.evs))
			checkAgainstFold(t, h, eng, s, projections.Options{})

			h.recordLate(t, len(h.held), 3)
			_, err = eng.RefreshSnapshots(ctx)
			require.NoError(t, err)
			checkAgainstFold(t, h, eng, uint64(len(h.src.evs)), projections.Options{})

			// Another annual-report rule derives from the stored facts.
			other := projections.Options{AnnualRule: aggregates.FirstFullYear}
			checkAgainstFold(t, h, projections.NewEngine(h.src, store, other), uint64(len(h.src.evs)), other)
		})
	}
}

// An event dated after a meeting touches nothing of that meeting's
// snapshot but its sequence. It rewrites one State key, the State's in the
// interval of its date (after the 2014 meeting, up to the 2015 one), which
// the snapshots of 2015 and later read: of those only the statuses and the
// meta move.
func TestBackdatedEventAfterAMeetingLeavesItsKeysUntouched(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 800, 21)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	m2014, m2015 := synth.MeetingCode(2014), synth.MeetingCode(2015)
	before2014, before2015 := store.revisions(m2014+"."), store.revisions(m2015+".")
	before := store.revisions("")

	// Dated after the 2014 meeting, before the 2015 one.
	e := mustEvent(t, events.AssistanceProvided, "SWE", "2015-01-15", &events.Assistance{Areas: []string{"clearance"}})
	h.src.record(e)
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	after2014, after2015 := store.revisions(m2014+"."), store.revisions(m2015+".")
	for k, rev := range before2014 {
		if k == m2014+"._meta" {
			assert.Greater(t, after2014[k], rev, "%s: the meta moves to the new sequence", k)
			continue
		}
		assert.Equal(t, rev, after2014[k], "%s rewritten by an event dated after the meeting", k)
	}
	assert.Greater(t, after2015[m2015+".SWE"], before2015[m2015+".SWE"], "%s.SWE not rewritten", m2015)
	assert.Greater(t, after2015[m2015+"._status"], before2015[m2015+"._status"], "%s._status not rewritten", m2015)
	for k, rev := range before2015 {
		if k != m2015+".SWE" && k != m2015+"._meta" && k != m2015+"._status" {
			assert.Equal(t, rev, after2015[k], "%s rewritten by an event about SWE", k)
		}
	}
	var after int
	for _, m := range h.meetings {
		if m >= events.MustDate("2015-01-15") {
			after++
		}
	}
	// The latest snapshot holds every date: it is updated too.
	assert.Equal(t, projections.RefreshStats{Head: uint64(len(h.src.evs)), Updated: after + 1, Bumped: len(h.meetings) - after, States: 1, Events: 1}, st,
		"refresh after one event about SWE dated 2015-01-15")
	// Exactly these keys are written: the State's key of the interval, the
	// statuses of the meetings on or after the event, every meta, the index.
	want := []string{"_index", m2015 + ".SWE", "_latest._meta"}
	for _, m := range h.meetings {
		code := synth.MeetingCode(m.Time().Year())
		want = append(want, code+"._meta")
		if m >= events.MustDate("2015-01-15") {
			want = append(want, code+"._status")
		}
	}
	var written []string
	for k, rev := range store.revisions("") {
		if rev != before[k] {
			written = append(written, k)
		}
	}
	assert.ElementsMatch(t, want, written, "keys written by the refresh after one event about SWE dated 2015-01-15")
}

func TestRefreshSnapshots(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 600, 4)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	n := len(h.meetings) + 1 // and the latest snapshot, of every date

	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, n, st.Created, "created (%+v)", st)
	assert.Equal(t, len(h.src.evs), st.Events, "events read (%+v)", st)

	puts := store.puts
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, projections.RefreshStats{Head: uint64(len(h.src.evs)), Unchanged: n}, st, "refresh with nothing new")
	assert.Equal(t, puts, store.puts, "refresh with nothing new wrote %d keys", store.puts-puts)

	h.src.record(mustEvent(t, events.AssistanceRequested, "NOR", "2025-12-30", nil))
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, projections.RefreshStats{Head: uint64(len(h.src.evs)), Updated: 1, Bumped: n - 1, States: 1, Events: 1}, st,
		"event dated after every meeting: only the latest snapshot holds it")

	h.src.record(mustEvent(t, events.AssistanceRequested, "NOR", "2009-01-02", nil))
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, projections.RefreshStats{Head: uint64(len(h.src.evs)), Updated: n, States: 1, Events: 1}, st,
		"event dated before every meeting: one key (the State's in the first interval), read by every snapshot")

	infos, err := eng.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, infos, n, "snapshots listed")
	assert.Equal(t, "_latest", infos[n-1].Meeting, "the snapshot of every date comes last")
	assert.Zero(t, infos[n-1].AsOf, "the snapshot of every date has no as-of date")
	for i, info := range infos {
		assert.Equal(t, uint64(len(h.src.evs)), info.Seq, "snapshot %s sequence", info.Meeting)
		assert.Zero(t, info.Behind, "snapshot %s behind", info.Meeting)
		if i < n-1 {
			assert.Equal(t, h.meetings[i], info.AsOf, "snapshot %d as-of", i)
		}
		assert.Positive(t, info.States, "snapshot %s States", info.Meeting)
		assert.Equal(t, fixedClock(), info.Created, "snapshot %s created", info.Meeting)
	}
	h.src.record(mustEvent(t, events.AssistanceRequested, "NOR", "2009-01-03", nil))
	infos, err = eng.Snapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), infos[0].Behind, "a snapshot one event behind the head")
}

// A meeting retracted loses its snapshot; recorded again with another
// date, it gets a new one. Either way only the State keys of the intervals
// whose dates change are written, and the later snapshots are updated, not
// built anew.
func TestRefreshFollowsMeetings(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 600, 6)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	code := synth.MeetingCode(2016)
	var meeting events.Envelope
	for _, e := range h.src.evs {
		if e.Type == events.MeetingHeld && e.Payload.(*events.Meeting).Code == code {
			meeting = e
		}
	}
	before := store.revisions("")
	h.src.record(mustRetraction(t, meeting, events.MustDate("2016-12-01")))
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Deleted, "snapshots deleted (%+v)", st)
	assert.Zero(t, st.Created, "snapshots created after a meeting's retraction (%+v)", st)
	next := synth.MeetingCode(2017)
	assert.Equal(t, map[string]bool{next: true}, stateKeysWritten(store, before),
		"State keys written after a meeting's retraction: those of the next meeting's interval, which now starts after the previous meeting")
	checkAgainstFold(t, h, eng, uint64(len(h.src.evs)), projections.Options{})
	keys, err := store.Keys(ctx)
	require.NoError(t, err)
	for _, k := range keys {
		assert.False(t, strings.HasPrefix(k, code+"."), "key %s of the retracted meeting left", k)
	}
	moved := mustEvent(t, events.MeetingHeld, "", "2016-10-07", &events.Meeting{Code: code, Name: "Synthetic meeting 2016, moved",
		Start: events.MustDate("2016-10-04"), End: events.MustDate("2016-10-07")})
	before = store.revisions("")
	h.src.record(moved)
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Created, "snapshots created (%+v)", st)
	assert.Equal(t, map[string]bool{code: true, next: true}, stateKeysWritten(store, before),
		"State keys written after a meeting was recorded between two others: those of the two intervals it splits")
	checkAgainstFold(t, h, eng, uint64(len(h.src.evs)), projections.Options{})
	b := projections.Bounds{AsOf: events.MustDate("2016-10-07")}
	r, err := eng.Report(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, projections.ReportOf(referenceFold(t, h.src, b), b.AsOf, projections.Options{}), r, "report as of the moved meeting")
	assert.Equal(t, code, r.Meeting, "report as of the moved meeting names it")
}

// A snapshot that changes under a query (a refresh in another process) or
// cannot be read is not used: the query folds the log.
func TestQueriesSurviveInconsistentSnapshots(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 800, 8)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	old := maps.Clone(store.vals)
	h.recordLate(t, 40, 2)
	_, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	code := synth.MeetingCode(2018)
	// The meta as it was before the refresh, with the keys after it.
	store.vals[code+"._meta"] = old[code+"._meta"]
	b := projections.Bounds{AsOf: h.meetings[2018-2010]}
	want := projections.ReportOf(referenceFold(t, h.src, b), b.AsOf, projections.Options{})
	got, err := eng.Report(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, want, got, "report with a meta older than its keys")
	// A value that is not a snapshot.
	for k := range store.vals {
		if strings.HasPrefix(k, code+".") && !strings.Contains(k, "._") {
			store.vals[k] = []byte("zgarbage")
		}
	}
	got, err = eng.Report(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, want, got, "report with unreadable keys")
	// A refresh that cannot read a key it must update rebuilds the
	// snapshot.
	var someone string
	for k := range store.vals {
		if strings.HasPrefix(k, code+".") && !strings.Contains(k, "._") {
			someone = strings.TrimPrefix(k, code+".")
			break
		}
	}
	h.src.record(mustEvent(t, events.AssistanceRequested, someone, "2009-01-02", nil))
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Created, "refresh over unreadable keys (%+v)", st)
	b.KnownAtSeq = 0
	want = projections.ReportOf(referenceFold(t, h.src, b), b.AsOf, projections.Options{})
	got, err = eng.Report(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, want, got, "report after the snapshot was rebuilt")
	// The next refresh rebuilds a meta it cannot read.
	for k := range store.vals {
		if strings.HasPrefix(k, code+"._meta") {
			store.vals[k] = []byte("zgarbage")
		}
	}
	h.src.record(mustEvent(t, events.AssistanceRequested, "NOR", "2009-01-03", nil))
	st, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Created, "refresh over an unreadable meta (%+v)", st)
}

// Values larger than a KV message are split into parts.
func TestLargeSnapshotValuesAreSplit(t *testing.T) {
	defer projections.SetPartSize(256)()
	ctx := context.Background()
	h := newHistory(t, 600, 12)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	keys, err := store.Keys(ctx)
	require.NoError(t, err)
	parts := 0
	for _, k := range keys {
		if strings.Contains(k, ".p1") {
			parts++
		}
	}
	assert.Positive(t, parts, "no value was split at 256 bytes")
	h.recordLate(t, 50, 2)
	_, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	checkAgainstFold(t, h, eng, uint64(len(h.src.evs)), projections.Options{})
}

func TestDropSnapshots(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 400, 2)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	n, err := eng.DropSnapshots(ctx)
	require.NoError(t, err)
	assert.Positive(t, n, "keys dropped")
	keys, _ := store.Keys(ctx)
	assert.Empty(t, keys, "keys left after DropSnapshots")
	infos, err := eng.Snapshots(ctx)
	require.NoError(t, err)
	assert.Empty(t, infos, "snapshots listed after DropSnapshots")
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(h.meetings)+1, st.Created, "refresh after DropSnapshots")
}

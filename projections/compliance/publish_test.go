package compliance_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// publishAll plans every scope and observes the plan, as a projector does
// once the stream acknowledged each event. It returns what was published.
func publishAll(tr *compliance.Tracker, correctBefore events.Date) []compliance.Event {
	var out []compliance.Event
	for _, sc := range tr.Scopes() {
		for _, e := range tr.Plan(sc, correctBefore, now) {
			tr.Published.Observe(e)
			out = append(out, e)
		}
	}
	return out
}

// trackerOf returns a tracker that read the whole history.
func trackerOf(h *history) *compliance.Tracker {
	tr := compliance.NewTracker(compliance.Options{})
	for _, e := range h.evs {
		tr.Apply(e)
	}
	return tr
}

func only(evs []compliance.Event, scope string) []compliance.Event {
	var out []compliance.Event
	for _, e := range evs {
		if e.State == scope {
			out = append(out, e)
		}
	}
	return out
}

func TestTrackerPublishesEachTransitionOnce(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	tr := trackerOf(h)
	tr.Clock = events.MustDate("2014-06-01")
	first := publishAll(tr, 0)
	require.NotEmpty(t, first, "a first run publishes the history up to the clock")
	for _, e := range first {
		assert.False(t, e.Correction, "a first run corrects nothing: %s", e.Summary())
		assert.LessOrEqual(t, e.Date, tr.Clock, "nothing after the clock: %s", e.Summary())
	}
	assert.Empty(t, publishAll(tr, tr.Clock), "planning again publishes nothing")

	// A restarted projector reads the stream back and plans nothing.
	again := trackerOf(h)
	again.Clock = tr.Clock
	for _, e := range first {
		again.Published.Observe(e)
	}
	assert.Empty(t, publishAll(again, 0), "a restart on the same log and stream publishes nothing")

	// Two projectors derive the same ids: the stream's dedup drops one.
	twin := trackerOf(h)
	twin.Clock = tr.Clock
	assert.Equal(t, ids(first), ids(publishAll(twin, 0)), "a second projector plans the same event ids")

	// The clock passes the 2014 annual report's due date.
	tr.Clock = events.MustDate("2015-06-01")
	next := only(publishAll(tr, 0), "SWE")
	require.Len(t, next, 1, "one transition between the two dates: %v", summaries(next))
	assert.Equal(t, "2015-05-01", next[0].Date.String(), "the annual report for 2014 is overdue on 1 May 2015")
	assert.False(t, next[0].Correction, "a date passing is no correction")
}

func TestTrackerCorrectsAfterLateBackdatedEvents(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	tr := trackerOf(h)
	tr.Clock = events.MustDate("2016-01-01")
	first := publishAll(tr, 0)
	var overdue2013 compliance.Event
	for _, e := range first {
		if e.State == "SWE" && e.Kind == compliance.ReportOverdue && e.Year == 2013 {
			overdue2013 = e
		}
	}
	require.NotEqual(t, uuid.Nil, overdue2013.ID, "the 2013 annual report was overdue: %v", summaries(first))

	// The report for 2013 is recorded today, dated before it was due.
	report := h.add(events.ReportSubmitted, "SWE", "2014-04-01", &events.Report{Kind: events.AnnualReport, Year: 2013})
	tr.Apply(report)
	got := publishAll(tr, tr.Clock)
	require.Len(t, got, 1, "one correction: %v", summaries(got))
	rev := got[0]
	assert.True(t, rev.Revoked && rev.Correction, "the overdue report is revoked, as a correction: %s", rev.Summary())
	require.NotNil(t, rev.Corrects)
	assert.Equal(t, overdue2013.ID, *rev.Corrects, "the revocation names the event it corrects")
	assert.Equal(t, compliance.RevocationID(overdue2013.Key, 0), rev.ID, "the revocation's id is derived from the key")
	assert.Equal(t, compliance.ReportOverdue, rev.Kind, "a revocation goes out on the subject of what it revokes")

	// Stocks declared and destroyed in 2012-2013, recorded today.
	h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{})
	done := h.add(events.StockpileDestructionCompleted, "SWE", "2013-01-05", nil)
	tr.Apply(h.evs[len(h.evs)-2])
	tr.Apply(done)
	got = only(publishAll(tr, tr.Clock), "SWE")
	require.Len(t, got, 1, "one late transition: %v", summaries(got))
	assert.Equal(t, compliance.ObligationFulfilled, got[0].Kind)
	assert.Equal(t, "2013-01-05", got[0].Date.String(), "dated when it happened, not when it was learned")
	assert.True(t, got[0].Correction, "learned after its date had passed: a correction")
	assert.Equal(t, done.ID, got[0].Causes[0].ID, "caused by the completion")

	// The report is retracted: the overdue report stands again, with a
	// new generation and so a new id.
	h.add(events.Retracted, "SWE", "2016-01-01", &events.Retraction{Event: report.ID, Reason: "wrong year"})
	tr.Apply(h.evs[len(h.evs)-1])
	got = only(publishAll(tr, tr.Clock), "SWE")
	require.Len(t, got, 1, "the overdue report again: %v", summaries(got))
	assert.Equal(t, overdue2013.Key, got[0].Key)
	assert.Equal(t, 1, got[0].Generation, "second generation")
	assert.Equal(t, compliance.EventID(overdue2013.Key, 1), got[0].ID)
	assert.NotEqual(t, overdue2013.ID, got[0].ID, "a new id, so that the stream does not drop it as a duplicate")
	assert.True(t, got[0].Correction)
}

func TestPublishedObserveIsIdempotent(t *testing.T) {
	p := compliance.NewPublished()
	e := compliance.Event{ID: compliance.EventID("SWE|k|r|x", 0), Key: "SWE|k|r|x", State: "SWE", Kind: compliance.EnteredIntoForce}
	p.Observe(e)
	p.Observe(e)
	assert.Equal(t, 1, p.Len(), "an event observed twice counts once")
	assert.Len(t, p.Standing("SWE"), 1)
	rev := compliance.Event{ID: compliance.RevocationID(e.Key, 0), Key: e.Key, State: "SWE", Revoked: true}
	p.Observe(rev)
	assert.Empty(t, p.Standing("SWE"), "revoked")
	p.Observe(e)
	assert.Empty(t, p.Standing("SWE"), "observing the revoked assertion again does not bring it back")
}

func ids(evs []compliance.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func summaries(evs []compliance.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Summary()
	}
	return out
}

// TestTrackerBehindTheStreamUndoesNothing: a projector restarted from an
// older checkpoint, or behind another projector on the log, neither revokes
// nor repeats what was derived from a later point of the log.
func TestTrackerBehindTheStreamUndoesNothing(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	ahead := trackerOf(h)
	ahead.Clock = events.MustDate("2021-01-01")
	published := publishAll(ahead, 0)

	behind := compliance.NewTracker(compliance.Options{})
	for _, e := range h.evs[:len(h.evs)-1] { // without Sweden's deposit
		behind.Apply(e)
	}
	behind.Clock = events.MustDate("2013-01-01")
	for _, e := range published {
		behind.Published.Observe(e)
	}
	assert.Empty(t, publishAll(behind, 0), "behind the stream: no revocation, no repeat")
	behind.Apply(h.evs[len(h.evs)-1])
	behind.Clock = ahead.Clock
	assert.Empty(t, publishAll(behind, 0), "caught up: nothing to publish")
}

// A coverage recorded later says the record does not reach the reports
// after 2012: the overdue reports published for them are revoked, as
// corrections, and none is published again until the record reaches them.
func TestTrackerRevokesWhatCoverageMakesUnknown(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	tr := trackerOf(h)
	tr.Clock = events.MustDate("2016-01-01")
	var overdue []compliance.Event
	for _, e := range publishAll(tr, 0) {
		if e.State == "SWE" && e.Kind == compliance.ReportOverdue && e.Year >= 2013 {
			overdue = append(overdue, e)
		}
	}
	require.NotEmpty(t, overdue, "annual reports overdue from 2013, as a ledger without coverage says")

	cov := h.add(events.CoverageDeclared, "", "2008-05-30", &events.Coverage{Facts: events.AnnualReports, Through: events.MustDate("2013-12-31")})
	scopes := tr.Apply(cov)
	assert.Contains(t, scopes, "SWE", "a coverage may change every State's transitions")
	var revoked []string
	for _, e := range publishAll(tr, tr.Clock) {
		require.True(t, e.Revoked && e.Correction, "only revocations, as corrections: %s", e.Summary())
		revoked = append(revoked, e.Key)
	}
	require.NotEmpty(t, revoked)
	for _, e := range overdue {
		if e.Date > events.MustDate("2013-12-31") {
			assert.Contains(t, revoked, e.Key, "%s rests on a report missing after the coverage ends", e.Summary())
		}
	}
	assert.Empty(t, publishAll(tr, tr.Clock), "nothing more to publish")
}

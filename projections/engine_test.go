package projections_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// sampleSource is a log holding the sample of the record, in the order an
// import stores it.
func sampleSource(t *testing.T) *sliceSource {
	t.Helper()
	f, err := os.Open("testdata/sample.jsonl")
	require.NoError(t, err)
	defer f.Close()
	evs, err := events.ReadAll(f)
	require.NoError(t, err, "read testdata/sample.jsonl")
	src := newSliceSource()
	for _, i := range aggregates.DecisionOrder(evs) {
		src.record(evs[i])
	}
	return src
}

var today = events.MustDate("2026-06-01")

func TestResolve(t *testing.T) {
	ctx := context.Background()
	src := sampleSource(t)
	head := uint64(len(src.evs))
	var meetingSeq uint64
	for _, e := range src.evs {
		if e.Type == events.MeetingHeld && e.Payload.(*events.Meeting).Code == "3MSP" {
			meetingSeq = e.Seq
		}
	}
	require.NotZero(t, meetingSeq, "the sample records 3MSP")
	eng := projections.NewEngine(src, nil, projections.Options{})
	for _, tc := range []struct {
		name          string
		asOf, knownAt string
		want          projections.Bounds
		wantErr       string
		unknown       bool
	}{
		{name: "empty is today and everything", want: projections.Bounds{AsOf: today}},
		{name: "a date", asOf: "2012-09-14", want: projections.Bounds{AsOf: events.MustDate("2012-09-14")}},
		{name: "a meeting code is its last day", asOf: "3MSP", want: projections.Bounds{AsOf: events.MustDate("2012-09-14"), Meeting: "3MSP"}},
		{name: "meeting codes ignore case", asOf: " 2msp ", want: projections.Bounds{AsOf: events.MustDate("2011-09-16"), Meeting: "2MSP"}},
		{name: "an unknown meeting", asOf: "9MSP", wantErr: `as-of "9MSP": unknown meeting: the ledger records 1MSP, 2MSP, 3MSP`, unknown: true},
		{name: "a meeting not yet recorded at the known-at bound", asOf: "3MSP", knownAt: seqText(meetingSeq - 1),
			wantErr: `as-of "3MSP": unknown meeting`, unknown: true},
		{name: "a meeting recorded at the bound", asOf: "3MSP", knownAt: seqText(meetingSeq),
			want: projections.Bounds{AsOf: events.MustDate("2012-09-14"), Meeting: "3MSP", KnownAtSeq: meetingSeq}},
		{name: "an impossible date", asOf: "2012-02-30", wantErr: `as-of "2012-02-30" is not a valid date`},
		{name: "neither date nor code", asOf: "last week", wantErr: `as-of "last week" is neither a date (YYYY-MM-DD) nor a meeting code (such as 3MSP)`},
		{name: "a stream sequence", knownAt: "12", want: projections.Bounds{AsOf: today, KnownAtSeq: 12}},
		{name: "a sequence past the head is everything", knownAt: seqText(head + 10), want: projections.Bounds{AsOf: today, KnownAtSeq: head + 10}},
		{name: "sequence zero", knownAt: "0", wantErr: `known-at "0": a stream sequence is a whole number from 1`},
		{name: "an RFC 3339 time", knownAt: "2026-01-01T00:00:10+01:00",
			want: projections.Bounds{AsOf: today, KnownAtTime: time.Date(2025, 12, 31, 23, 0, 10, 0, time.UTC)}},
		{name: "a date is the end of that day", knownAt: "2025-12-31",
			want: projections.Bounds{AsOf: today, KnownAtTime: time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{name: "not a known-at", knownAt: "soon", wantErr: `known-at "soon" is not a stream sequence, an RFC 3339 time or a date (YYYY-MM-DD)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eng.Resolve(ctx, tc.asOf, tc.knownAt, today)
			if tc.wantErr != "" {
				require.Error(t, err, "Resolve(%q, %q)", tc.asOf, tc.knownAt)
				assert.Contains(t, err.Error(), tc.wantErr, "Resolve(%q, %q)", tc.asOf, tc.knownAt)
				assert.Equal(t, tc.unknown, errors.Is(err, projections.ErrUnknownMeeting), "Resolve(%q, %q): errors.Is ErrUnknownMeeting", tc.asOf, tc.knownAt)
				return
			}
			require.NoError(t, err, "Resolve(%q, %q)", tc.asOf, tc.knownAt)
			assert.Equal(t, tc.want, got, "Resolve(%q, %q)", tc.asOf, tc.knownAt)
		})
	}
}

// The as-of bound counts a fact from its own date on: the day before it,
// it is not there.
func TestAsOfBoundaries(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	for _, tc := range []struct {
		name  string
		asOf  string
		state string
		check func(projections.Status) (got, want any)
	}{
		{"the day before Sweden's deposit", "2012-04-22", "SWE", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatySignatory }},
		{"the day of Sweden's deposit", "2012-04-23", "SWE", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyDeposited }},
		{"the day after Sweden's deposit", "2012-04-24", "SWE", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyDeposited }},
		{"the day before entry into force for Sweden", "2012-09-30", "SWE", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyDeposited }},
		{"the day of entry into force for Sweden", "2012-10-01", "SWE", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyParty }},
		{"the day before the Convention's entry into force", "2010-07-31", "LAO", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyDeposited }},
		{"the day of the Convention's entry into force", "2010-08-01", "LAO", func(s projections.Status) (any, any) { return s.TreatyStatus, projections.TreatyParty }},
		{"Grenada's clearance, the day before", "2012-09-13", "GRD", func(s projections.Status) (any, any) { return s.Article4.Status, projections.ObligationPending }},
		{"Grenada's clearance, the day of", "2012-09-14", "GRD", func(s projections.Status) (any, any) { return s.Article4.Status, projections.ObligationCompleted }},
		// Grenada's initial report fell due 180 days after 1 Dec 2011.
		{"Grenada's initial report, on the due date", "2012-05-29", "GRD", func(s projections.Status) (any, any) { return s.Article7.Initial.Status, projections.ReportSubmitted }},
		{"Sweden's initial report not yet due", "2013-03-30", "SWE", func(s projections.Status) (any, any) { return s.Article7.Initial.Status, projections.ReportNotDue }},
		{"Sweden's initial report late the day after", "2013-03-31", "SWE", func(s projections.Status) (any, any) { return s.Article7.Initial.Status, projections.ReportLate }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := eng.Resolve(ctx, tc.asOf, "", today)
			require.NoError(t, err)
			st, err := eng.Status(ctx, tc.state, b)
			require.NoError(t, err)
			got, want := tc.check(st)
			assert.Equal(t, want, got, "status of %s as of %s", tc.state, tc.asOf)
		})
	}
}

// A retraction removes its target from its record time on, whatever the
// as-of date; known at a point before it, the fact still counts.
func TestKnownAtAroundARetraction(t *testing.T) {
	ctx := context.Background()
	src := sampleSource(t)
	var target events.Envelope
	for _, e := range src.evs {
		if e.State == "GRD" && e.Type == events.ClearanceCompleted {
			target = e
		}
	}
	require.NotZero(t, target.Seq, "the sample records Grenada's clearance")
	ret := mustEvent(t, events.Retracted, "GRD", "2013-01-10", &events.Retraction{Event: target.ID, Reason: "wrong date"})
	at := src.record(ret)
	eng := projections.NewEngine(src, nil, projections.Options{})
	for _, tc := range []struct {
		name    string
		knownAt projections.Bounds
		want    string
	}{
		{"known at the sequence before the retraction", projections.Bounds{KnownAtSeq: at - 1}, projections.ObligationCompleted},
		{"known at the retraction's sequence", projections.Bounds{KnownAtSeq: at}, projections.ObligationPending},
		{"known at everything", projections.Bounds{}, projections.ObligationPending},
		{"known at a nanosecond before its record time", projections.Bounds{KnownAtTime: src.recordedAt(at).Add(-time.Nanosecond)}, projections.ObligationCompleted},
		{"known at its record time", projections.Bounds{KnownAtTime: src.recordedAt(at)}, projections.ObligationPending},
	} {
		for _, asOf := range []string{"2012-09-14", "2012-12-31", "2020-01-01"} {
			b := tc.knownAt
			b.AsOf = events.MustDate(asOf)
			st, err := eng.Status(ctx, "GRD", b)
			require.NoError(t, err)
			assert.Equal(t, tc.want, st.Article4.Status, "%s, as of %s: Grenada's Article 4 status", tc.name, asOf)
			r, err := eng.Report(ctx, b)
			require.NoError(t, err)
			assert.Equal(t, tc.want == projections.ObligationCompleted, contains(r.Article4.Completed, "GRD"),
				"%s, as of %s: Grenada in article4.completed %v", tc.name, asOf, r.Article4.Completed)
		}
	}
}

func TestStatusOfUnknownCode(t *testing.T) {
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	_, err := eng.Status(context.Background(), "XYZ", projections.Bounds{AsOf: today})
	require.ErrorIs(t, err, projections.ErrUnknownState, "Status(XYZ)")
	_, err = eng.Report(context.Background(), projections.Bounds{})
	require.Error(t, err, "Report without an as-of date")
}

// Without snapshots, the engine is a plain fold of what is known at the
// bound.
func TestEngineWithoutSnapshotsIsTheFold(t *testing.T) {
	ctx := context.Background()
	src := newSliceSource()
	src.record(synth.Generate(1500, 5)...)
	eng := projections.NewEngine(src, nil, projections.Options{})
	head := uint64(len(src.evs))
	for _, b := range []projections.Bounds{
		{AsOf: events.MustDate("2009-12-31")},
		{AsOf: events.MustDate("2014-06-30"), KnownAtSeq: head / 2},
		{AsOf: events.MustDate("2025-12-31"), KnownAtTime: src.recordedAt(head / 3)},
	} {
		want := projections.ReportOf(referenceFold(t, src, b), b.AsOf, projections.Options{})
		got, err := eng.Report(ctx, b)
		require.NoError(t, err)
		assert.Equal(t, want, got, "Report(%+v)", b)
		f, err := eng.Fold(ctx, b)
		require.NoError(t, err)
		assert.Equal(t, want.KnownAt.Seq, f.Seq, "Fold(%+v).Seq", b)
		for _, iso3 := range f.Scopes() {
			for _, t2 := range events.Types() {
				for _, x := range f.State(iso3).Facts(t2) {
					require.LessOrEqual(t, x.Date, b.AsOf, "Fold(%+v) holds a %s fact of %s dated %s", b, t2, iso3, x.Date)
				}
			}
		}
	}
}

func TestMeetingsAreBoundedByBothClocks(t *testing.T) {
	ctx := context.Background()
	src := sampleSource(t)
	eng := projections.NewEngine(src, nil, projections.Options{})
	ms, err := eng.Meetings(ctx, projections.Bounds{})
	require.NoError(t, err)
	assert.Equal(t, []string{"1MSP", "2MSP", "3MSP"}, codes(ms), "every meeting")
	ms, err = eng.Meetings(ctx, projections.Bounds{AsOf: events.MustDate("2012-09-13")})
	require.NoError(t, err)
	assert.Equal(t, []string{"1MSP", "2MSP"}, codes(ms), "meetings as of 2012-09-13")
	ms, err = eng.Meetings(ctx, projections.Bounds{KnownAtSeq: 1})
	require.NoError(t, err)
	assert.Empty(t, codes(ms), "meetings known at sequence 1")
}

func codes(ms []projections.Meeting) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Code)
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

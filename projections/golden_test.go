package projections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// The golden files are rewritten with go test -update. Another test file
// of the package may define the flag first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares v, as indented JSON, with testdata/golden/name.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name)
	if updating() {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read %s (go test -update writes it)", path)
	if !bytes.Equal(want, got) {
		assert.Equal(t, string(want), string(got), "%s differs from the golden file (go test -update rewrites it)", path)
	}
}

func TestGoldenDiff2MSPTo3MSP(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	from, err := eng.Resolve(ctx, "2MSP", "", today)
	require.NoError(t, err)
	to, err := eng.Resolve(ctx, "3MSP", "", today)
	require.NoError(t, err)
	d, err := eng.Diff(ctx, from, to)
	require.NoError(t, err)
	golden(t, "diff-2MSP-3MSP.json", d)

	// What the seed says "since the 2MSP", on the sample: Sweden became a
	// State Party on its deposit, Grenada declared compliance with
	// Article 4 at the 3MSP.
	added := func(list, iso3 string) projections.DiffEntry {
		for _, tc := range d.Tables {
			if tc.List != list {
				continue
			}
			for _, a := range tc.Added {
				if a.State == iso3 {
					return a
				}
			}
		}
		t.Fatalf("%s not added to %s", iso3, list)
		return projections.DiffEntry{}
	}
	swe := added("states_parties", "SWE")
	assert.Equal(t, events.MustDate("2012-04-23"), swe.Date, "Sweden joins the States Parties on its deposit")
	require.Len(t, swe.Events, 1, "Sweden's deposit is the cause")
	assert.Equal(t, events.Deposited, swe.Events[0].Type, "Sweden's deposit is the cause")
	grd := added("article4.completed", "GRD")
	assert.Equal(t, events.MustDate("2012-09-14"), grd.Date, "Grenada's declaration of compliance")
	assert.Equal(t, events.ClearanceCompleted, grd.Events[0].Type, "Grenada's declaration of compliance")
	inForce := added("in_force", "GRD")
	assert.Equal(t, projections.DerivedEntryIntoForce, inForce.Rule, "Grenada enters into force by Art. 17(2), with no event that day")
	assert.Equal(t, events.MustDate("2011-12-01"), inForce.Date, "Grenada's entry into force")
}

func TestGoldenHistory(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	b, err := eng.Resolve(ctx, "3MSP", "", today)
	require.NoError(t, err)
	for _, iso3 := range []string{"SWE", "LAO", "GRD"} {
		h, err := eng.History(ctx, iso3, b)
		require.NoError(t, err)
		golden(t, "history-"+iso3+".json", h)
	}
}

func TestGoldenReplay(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	b, err := eng.Resolve(ctx, "3MSP", "", today)
	require.NoError(t, err)
	steps, err := eng.Replay(ctx, b, "")
	require.NoError(t, err)
	golden(t, "replay-3MSP.json", steps)
	grd, err := eng.Replay(ctx, b, "GRD")
	require.NoError(t, err)
	var want []projections.Step
	for _, s := range steps {
		if s.State == "GRD" {
			want = append(want, s)
		}
	}
	assert.Equal(t, want, grd, "replay of Grenada alone is the Grenada steps of the whole replay")
}

// A retraction recorded later changes the past as known: a diff between
// two known-at points at one as-of date names it.
func TestDiffBetweenTwoKnownAtPoints(t *testing.T) {
	ctx := context.Background()
	src := sampleSource(t)
	var target events.Envelope
	for _, e := range src.evs {
		if e.State == "SWE" && e.Type == events.Deposited {
			target = e
		}
	}
	before := src.record(mustEvent(t, events.AssistanceRequested, "LAO", "2012-09-14", &events.Assistance{Areas: []string{"clearance"}}))
	after := src.record(mustRetraction(t, target, events.MustDate("2013-01-01")))
	eng := projections.NewEngine(src, nil, projections.Options{})
	asOf := events.MustDate("2012-09-14")
	d, err := eng.Diff(ctx, projections.Bounds{AsOf: asOf, KnownAtSeq: before}, projections.Bounds{AsOf: asOf, KnownAtSeq: after})
	require.NoError(t, err)
	assert.Equal(t, before, d.From.KnownAt.Seq, "from known at")
	assert.Equal(t, after, d.To.KnownAt.Seq, "to known at")
	var removed *projections.DiffEntry
	for _, tc := range d.Tables {
		if tc.List == "states_parties" {
			assert.Equal(t, tc.Before-1, tc.After, "states_parties count")
			require.Len(t, tc.Removed, 1, "states_parties removed")
			removed = &tc.Removed[0]
		}
	}
	require.NotNil(t, removed)
	assert.Equal(t, "SWE", removed.State, "the State removed")
	assert.Equal(t, projections.RuleRecordedLater, removed.Rule, "the cause is a change of knowledge")
	require.Len(t, removed.Events, 1, "the retracted deposit")
	assert.Equal(t, target.ID.String(), removed.Events[0].ID, "the retracted deposit")
	assert.True(t, removed.Events[0].Retracted, "marked retracted")

	_, err = eng.Diff(ctx, projections.Bounds{AsOf: asOf}, projections.Bounds{AsOf: asOf.AddDate(0, 0, -1)})
	require.Error(t, err, "a diff backwards in valid time")
}

// History marks a retracted event with its retraction, and Replay walks
// past it without a change.
func TestRetractedEventsInHistoryAndReplay(t *testing.T) {
	ctx := context.Background()
	src := sampleSource(t)
	var target events.Envelope
	for _, e := range src.evs {
		if e.State == "GRD" && e.Type == events.ClearanceCompleted {
			target = e
		}
	}
	ret := mustRetraction(t, target, events.MustDate("2013-01-01"))
	seq := src.record(ret)
	eng := projections.NewEngine(src, nil, projections.Options{})
	b := projections.Bounds{AsOf: events.MustDate("2012-12-31")}
	h, err := eng.History(ctx, "GRD", b)
	require.NoError(t, err)
	var found bool
	for _, en := range h.Entries {
		if en.ID == target.ID.String() {
			found = true
			require.NotNil(t, en.Retracted, "the retracted clearance is marked")
			assert.Equal(t, ret.ID.String(), en.Retracted.ID, "marked with its retraction")
			assert.Equal(t, seq, en.Retracted.Seq, "retraction sequence")
		}
	}
	assert.True(t, found, "the retracted clearance is in the history")
	assert.Equal(t, projections.ObligationPending, h.Status.Article4.Status, "Grenada's Article 4 status once the clearance is retracted")

	hb, err := eng.History(ctx, "GRD", projections.Bounds{AsOf: b.AsOf, KnownAtSeq: seq - 1})
	require.NoError(t, err)
	for _, en := range hb.Entries {
		assert.Nil(t, en.Retracted, "known before the retraction, %s %s is not retracted", en.Type, en.Date)
	}

	steps, err := eng.Replay(ctx, b, "GRD")
	require.NoError(t, err)
	for _, s := range steps {
		if s.Event != nil && s.Event.ID == target.ID.String() {
			require.NotNil(t, s.Retracted, "the retracted clearance in the replay")
			assert.Empty(t, s.Changes, "a retracted event changes nothing")
		}
	}
}

func TestReplayDerivedSteps(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	steps, err := eng.Replay(ctx, projections.Bounds{AsOf: events.MustDate("2013-12-31")}, "SWE")
	require.NoError(t, err)
	var eif, late bool
	for _, s := range steps {
		if !s.Derived {
			continue
		}
		if s.Date == events.MustDate("2012-10-01") && s.Rule == projections.DerivedEntryIntoForce {
			eif = true
			assert.Contains(t, s.Changes, projections.Change{Field: "treaty_status", From: "deposited", To: "party"}, "Sweden's entry into force")
		}
		if s.Date == events.MustDate("2013-03-31") && s.Rule == projections.DerivedInitialReportDue {
			late = true
			assert.Contains(t, s.Changes, projections.Change{Field: "article7.initial", From: "not-due", To: "late"}, "Sweden's initial report late")
		}
	}
	assert.True(t, eif, "a derived step for Sweden's entry into force on 2012-10-01 (steps %+v)", steps)
	assert.True(t, late, "a derived step for Sweden's initial report late from 2013-03-31")
}

package compliance_test

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// history builds a log in memory: events in stream order with sequences and
// record times.
type history struct {
	tb  testing.TB
	evs []events.Envelope
}

func (h *history) add(t events.Type, state, date string, p events.Payload) events.Envelope {
	h.tb.Helper()
	e, err := events.New(uuid.Nil, t, state, events.MustDate(date), p, "test fixture "+fmt.Sprint(len(h.evs)+1))
	require.NoError(h.tb, err, "build %s %s %s", t, state, date)
	e.Seq = uint64(len(h.evs) + 1)
	e.Recorded = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(e.Seq) * time.Second)
	h.evs = append(h.evs, e)
	return e
}

func (h *history) fold() *projections.Fold {
	f := projections.NewFold()
	for _, e := range h.evs {
		f.Apply(e)
	}
	return f
}

// others are the thirty States whose instruments bring the Convention into
// force on 2010-08-01 in these tests (the thirtieth deposited 2010-02-16).
var others = func() []string {
	skip := map[string]bool{"SWE": true, "LAO": true, "GRD": true, "DEU": true}
	var out []string
	for _, c := range events.States() {
		if !skip[c.ISO3] && len(out) < 30 {
			out = append(out, c.ISO3)
		}
	}
	return out
}()

// newHistory returns a history in which the Convention enters into force on
// 2010-08-01.
func newHistory(tb testing.TB) *history {
	h := &history{tb: tb}
	for i, iso := range others {
		h.add(events.Signed, iso, "2008-12-03", nil)
		d := events.MustDate("2009-03-01").AddDate(0, 0, i*10)
		if i == len(others)-1 {
			d = events.MustDate("2010-02-16")
		}
		h.add(events.Deposited, iso, d.String(), &events.Deposit{Instrument: events.Ratification})
	}
	return h
}

func i64(v int64) *int64 { return &v }

// brief is a transition as the tests compare it.
type brief struct {
	Kind     compliance.Kind
	Date     string
	Rule     string
	Deadline string
	Year     int
}

func briefs(ts []compliance.Transition, kinds ...compliance.Kind) []brief {
	want := map[compliance.Kind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	out := []brief{}
	for _, t := range ts {
		if len(kinds) > 0 && !want[t.Kind] {
			continue
		}
		out = append(out, brief{t.Kind, t.Date.String(), t.Rule, t.Deadline.String(), t.Year})
	}
	return out
}

// sweden is a State that signed at Oslo and ratified on 2012-04-23: the
// Convention enters into force for it on 2012-10-01, its initial report is
// due 2013-03-30 and its Art. 3 deadline is 2020-10-01.
func sweden(h *history) {
	h.add(events.Signed, "SWE", "2008-12-03", nil)
	h.add(events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification})
}

func TestDerive(t *testing.T) {
	type tc struct {
		name  string
		given func(h *history)
		upTo  string
		kinds []compliance.Kind
		want  []brief
	}
	all := []compliance.Kind{}
	cases := []tc{
		{
			name:  "entry into force on the first day of the sixth month after the deposit",
			given: sweden, upTo: "2012-10-01", kinds: []compliance.Kind{compliance.EnteredIntoForce},
			want: []brief{{compliance.EnteredIntoForce, "2012-10-01", compliance.RuleEntryIntoForce, "", 0}},
		},
		{
			name:  "nothing the day before entry into force",
			given: sweden, upTo: "2012-09-30", kinds: all,
			want: []brief{},
		},
		{
			name:  "initial report: approaching from entry into force (lead 180 days), overdue the day after it was due",
			given: sweden, upTo: "2013-04-01", kinds: []compliance.Kind{compliance.DeadlineApproaching, compliance.ReportOverdue},
			want: []brief{
				{compliance.DeadlineApproaching, "2012-10-01", compliance.RuleInitialReport, "2013-03-30", 0},
				{compliance.ReportOverdue, "2013-03-31", compliance.RuleInitialReport, "2013-03-30", 0},
			},
		},
		{
			name: "initial report submitted on its due date: approaching, never overdue",
			given: func(h *history) {
				sweden(h)
				h.add(events.ReportSubmitted, "SWE", "2013-03-30", &events.Report{Kind: events.InitialReport})
			},
			upTo: "2013-12-31", kinds: []compliance.Kind{compliance.DeadlineApproaching, compliance.ReportOverdue},
			want: []brief{{compliance.DeadlineApproaching, "2012-10-01", compliance.RuleInitialReport, "2013-03-30", 0}},
		},
		{
			name: "annual report: the first one owed (after-initial-due-year) is overdue on 1 May",
			given: func(h *history) {
				sweden(h)
				h.add(events.ReportSubmitted, "SWE", "2013-03-01", &events.Report{Kind: events.InitialReport})
			},
			upTo: "2014-05-01", kinds: []compliance.Kind{compliance.ReportOverdue},
			want: []brief{{compliance.ReportOverdue, "2014-05-01", compliance.RuleAnnualReport, "2014-04-30", 2013}},
		},
		{
			name: "Art. 3: approaching 180 days before the deadline, missed the day after it",
			given: func(h *history) {
				sweden(h)
				h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{Munitions: i64(10), Submunitions: i64(100)})
			},
			upTo: "2021-01-01", kinds: []compliance.Kind{compliance.DeadlineApproaching, compliance.DeadlineMissed, compliance.ObligationFulfilled},
			want: []brief{
				{compliance.DeadlineApproaching, "2012-10-01", compliance.RuleInitialReport, "2013-03-30", 0},
				{compliance.DeadlineApproaching, "2020-04-04", compliance.RuleArticle3, "2020-10-01", 0},
				{compliance.DeadlineMissed, "2020-10-02", compliance.RuleArticle3, "2020-10-01", 0},
			},
		},
		{
			name: "Art. 3: completion is an obligation fulfilled; no deadline approaching or missed after it",
			given: func(h *history) {
				sweden(h)
				h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{})
				h.add(events.StockpileDestructionCompleted, "SWE", "2015-06-01", nil)
			},
			upTo: "2021-01-01", kinds: []compliance.Kind{compliance.DeadlineMissed, compliance.ObligationFulfilled},
			want: []brief{{compliance.ObligationFulfilled, "2015-06-01", compliance.RuleArticle3, "", 0}},
		},
		{
			name: "Art. 3: newly found stocks after completion open the obligation again; fulfilled twice",
			given: func(h *history) {
				sweden(h)
				h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{})
				h.add(events.StockpileDestructionCompleted, "SWE", "2015-06-01", nil)
				h.add(events.StockpileDeclared, "SWE", "2016-01-10", &events.Quantities{})
				h.add(events.StockpileDestructionCompleted, "SWE", "2016-03-01", nil)
			},
			upTo: "2021-01-01", kinds: []compliance.Kind{compliance.DeadlineMissed, compliance.ObligationFulfilled},
			want: []brief{
				{compliance.ObligationFulfilled, "2015-06-01", compliance.RuleArticle3, "", 0},
				{compliance.ObligationFulfilled, "2016-03-01", compliance.RuleArticle3, "", 0},
			},
		},
		{
			name: "Art. 4 with an extension: each deadline approaches once; the extended one is missed",
			given: func(h *history) {
				sweden(h)
				h.add(events.ContaminationDeclared, "SWE", "2012-11-01", &events.Contamination{})
				h.add(events.ExtensionGranted, "SWE", "2022-06-01", &events.Extension{Article: 4, Until: events.MustDate("2025-10-01")})
			},
			upTo: "2026-01-01", kinds: []compliance.Kind{compliance.DeadlineApproaching, compliance.DeadlineMissed},
			want: []brief{
				{compliance.DeadlineApproaching, "2012-10-01", compliance.RuleInitialReport, "2013-03-30", 0},
				{compliance.DeadlineApproaching, "2022-04-04", compliance.RuleArticle4, "2022-10-01", 0},
				{compliance.DeadlineApproaching, "2025-04-04", compliance.RuleArticle4, "2025-10-01", 0},
				{compliance.DeadlineMissed, "2025-10-02", compliance.RuleArticle4, "2025-10-01", 0},
			},
		},
		{
			name: "Art. 4: clearance completed is an obligation fulfilled",
			given: func(h *history) {
				sweden(h)
				h.add(events.ContaminationDeclared, "SWE", "2012-11-01", &events.Contamination{})
				h.add(events.ClearanceCompleted, "SWE", "2014-02-02", nil)
			},
			upTo: "2026-01-01", kinds: []compliance.Kind{compliance.DeadlineMissed, compliance.ObligationFulfilled},
			want: []brief{{compliance.ObligationFulfilled, "2014-02-02", compliance.RuleArticle4, "", 0}},
		},
		{
			name: "withdrawal takes effect six months after notification (31 January gives 31 July)",
			given: func(h *history) {
				sweden(h)
				h.add(events.WithdrawalNotified, "SWE", "2014-01-31", nil)
			},
			upTo: "2014-12-31", kinds: []compliance.Kind{compliance.EnteredIntoForce, compliance.WithdrawalEffective},
			want: []brief{
				{compliance.EnteredIntoForce, "2012-10-01", compliance.RuleEntryIntoForce, "", 0},
				{compliance.WithdrawalEffective, "2014-07-31", compliance.RuleWithdrawal, "", 0},
			},
		},
		{
			name: "a signatory that never deposits has no transition",
			given: func(h *history) {
				h.add(events.Signed, "SWE", "2008-12-03", nil)
			},
			upTo: "2026-01-01", kinds: all,
			want: []brief{},
		},
		{
			name: "a retracted deposit takes back every transition",
			given: func(h *history) {
				sweden(h)
				dep := h.evs[len(h.evs)-1]
				h.add(events.Retracted, "SWE", "2013-01-01", &events.Retraction{Event: dep.ID, Reason: "wrong State"})
			},
			upTo: "2026-01-01", kinds: all,
			want: []brief{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory(t)
			c.given(h)
			got := compliance.Derive(h.fold(), "SWE", events.MustDate(c.upTo), compliance.Options{})
			assert.Equal(t, c.want, briefs(got, c.kinds...), "given %s, transitions of SWE up to %s", c.name, c.upTo)
		})
	}
}

func TestDeriveNamesItsCauses(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	dep := h.evs[len(h.evs)-1]
	decl := h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{})
	ext := h.add(events.ExtensionGranted, "SWE", "2020-09-01", &events.Extension{Article: 3, Until: events.MustDate("2022-10-01")})
	done := h.add(events.StockpileDestructionCompleted, "SWE", "2022-06-01", nil)
	got := compliance.Derive(h.fold(), "SWE", events.MustDate("2023-01-01"), compliance.Options{})
	byKind := map[string][]uuid.UUID{}
	for _, tr := range got {
		var ids []uuid.UUID
		for _, c := range tr.Causes {
			ids = append(ids, c.ID)
		}
		byKind[string(tr.Kind)+" "+tr.Rule+" "+tr.Deadline.String()] = ids
	}
	assert.Equal(t, []uuid.UUID{dep.ID}, byKind["entered-into-force art17-entry-into-force "], "entry into force rests on the deposit")
	assert.Equal(t, []uuid.UUID{dep.ID, decl.ID}, byKind["deadline-approaching art3-stockpile-destruction 2020-10-01"],
		"the original deadline rests on the deposit and the declaration; got %v", byKind)
	assert.Equal(t, []uuid.UUID{dep.ID, decl.ID, ext.ID}, byKind["deadline-approaching art3-stockpile-destruction 2022-10-01"],
		"the extended deadline rests on the extension too; got %v", byKind)
	assert.Equal(t, []uuid.UUID{done.ID}, byKind["obligation-fulfilled art3-stockpile-destruction "], "fulfilment rests on the completion")
}

func TestDeriveConvention(t *testing.T) {
	h := newHistory(t)
	f := h.fold()
	got := compliance.Derive(f, events.ConventionScope, events.MustDate("2012-01-01"), compliance.Options{})
	require.Len(t, got, 1, "the Convention enters into force once; got %v", got)
	assert.Equal(t, "2010-08-01", got[0].Date.String(), "first day of the sixth month after the thirtieth instrument (2010-02-16)")
	require.Len(t, got[0].Causes, 1)
	assert.Equal(t, "2010-02-16", got[0].Causes[0].Date.String(), "the cause is the thirtieth instrument")
	assert.Equal(t, others[29], got[0].Causes[0].State, "the cause names the State of the thirtieth instrument")
	assert.Empty(t, compliance.Derive(f, events.ConventionScope, events.MustDate("2010-07-31"), compliance.Options{}), "not before it")
}

// TestDeriveIsMonotone checks what exactly-once rests on: the transitions up
// to a date never change when the clock moves on, and the same facts always
// give the same keys.
func TestDeriveIsMonotone(t *testing.T) {
	h := newHistory(t)
	sweden(h)
	h.add(events.StockpileDeclared, "SWE", "2012-10-01", &events.Quantities{})
	h.add(events.ContaminationDeclared, "SWE", "2013-02-01", &events.Contamination{})
	h.add(events.ReportSubmitted, "SWE", "2014-05-10", &events.Report{Kind: events.AnnualReport, Year: 2013})
	f := h.fold()
	var prev []compliance.Transition
	for _, d := range []string{"2010-01-01", "2010-08-01", "2012-10-01", "2013-04-01", "2016-01-01", "2020-10-02", "2024-01-01", "2030-12-31"} {
		got := compliance.DeriveAll(f, events.MustDate(d), compliance.Options{})
		keys := map[string]compliance.Transition{}
		for _, tr := range got {
			_, dup := keys[tr.Key]
			require.False(t, dup, "key %s twice up to %s", tr.Key, d)
			keys[tr.Key] = tr
		}
		for _, p := range prev {
			assert.Equal(t, p, keys[p.Key], "transition %s derived before %s must stay the same", p.Key, d)
		}
		prev = got
	}
	again := compliance.DeriveAll(h.fold(), events.MustDate("2030-12-31"), compliance.Options{})
	assert.Equal(t, prev, again, "the same facts give the same transitions")
}

// TestDeriveAgreesWithReport checks the transitions of the bundled record
// against the Convention-wide tables as of the 3MSP's last day.
func TestDeriveAgreesWithReport(t *testing.T) {
	evs, err := events.ReadAll(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	f := projections.NewFold()
	for i, e := range evs {
		e.Seq = uint64(i + 1)
		f.Apply(e)
	}
	asOf := events.MustDate("2012-09-14")
	r := projections.ReportOf(f, asOf, projections.Options{})
	ts := compliance.DeriveAll(f, asOf, compliance.Options{})
	var inForce, initialLate []string
	for _, tr := range ts {
		switch {
		case tr.Kind == compliance.EnteredIntoForce && tr.Scope != events.ConventionScope:
			inForce = append(inForce, tr.Scope)
		case tr.Kind == compliance.ReportOverdue && tr.Rule == compliance.RuleInitialReport:
			initialLate = append(initialLate, tr.Scope)
		}
	}
	sort.Strings(inForce)
	sort.Strings(initialLate)
	assert.Equal(t, r.InForce, inForce, "every State Party in force as of the 3MSP entered into force once")
	for _, iso := range r.Article7.InitialLate {
		assert.Contains(t, initialLate, iso, "a State late with its initial report at the 3MSP had a report-overdue")
	}
	assert.NotEmpty(t, r.InForce, "the record has States Parties in force")
	t.Logf("bundled record up to %s: %d transitions (%s)", asOf, len(ts), countKinds(ts))
}

func countKinds(ts []compliance.Transition) string {
	n := map[compliance.Kind]int{}
	for _, t := range ts {
		n[t.Kind]++
	}
	var parts []string
	for _, k := range compliance.Kinds() {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// A deadline passed with a completion known to a range that holds it is
// not known to be missed: no deadline-missed, and the fulfilment on the
// last day of the range. A range after the deadline is a deadline missed.
func TestDeadlineMissedOnlyWhenEveryDayOfTheRangeIsLate(t *testing.T) {
	derive := func(completed string, p events.Precision) []brief {
		h := newHistory(t)
		sweden(h)
		h.add(events.StockpileDeclared, "SWE", "2012-04-23", &events.Quantities{})
		e, err := events.NewAt(uuid.Nil, events.StockpileDestructionCompleted, "SWE", events.MustDate(completed), p,
			&events.Quantities{}, "test fixture: completion")
		require.NoError(t, err)
		e.Seq = uint64(len(h.evs) + 1)
		h.evs = append(h.evs, e)
		return briefs(compliance.Derive(h.fold(), "SWE", events.MustDate("2025-01-01"), compliance.Options{}),
			compliance.DeadlineMissed, compliance.ObligationFulfilled)
	}
	assert.Equal(t, []brief{{compliance.ObligationFulfilled, "2020-12-31", compliance.RuleArticle3, "", 0}},
		derive("2020-12-31", events.Year), "in 2020: may have come by the deadline of 1 Oct 2020")
	assert.Equal(t, []brief{
		{compliance.DeadlineMissed, "2020-10-02", compliance.RuleArticle3, "2020-10-01", 0},
		{compliance.ObligationFulfilled, "2021-12-31", compliance.RuleArticle3, "", 0},
	}, derive("2021-12-31", events.Year), "in 2021: late on every day of the range")
}

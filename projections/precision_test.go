package projections_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Sweden's Article 3 deadline in swedenFold is 2020-10-01 (in force
// 2012-10-01, a stockpile declared at the deposit).
const swedenArticle3Deadline = "2020-10-01"

// A completion known to less than the day: past the deadline, the
// obligation is overdue only on the days before the range starts, then
// uncertain until its last day, then completed; the range is shown.
func TestObligationUncertainWhileACompletionMayHaveCome(t *testing.T) {
	done := func(date string, p events.Precision) events.Envelope {
		return at(t, events.StockpileDestructionCompleted, "SWE", date, p, &events.Quantities{})
	}
	status := func(f *projections.Fold, d string) projections.Obligation {
		return projections.StatusOf(f, "SWE", events.MustDate(d), projections.Options{}).Article3
	}
	year := swedenFold(t, done("2021-12-31", events.Year))
	for d, want := range map[string]string{
		"2020-10-01": projections.ObligationPending,
		"2020-10-02": projections.ObligationOverdue,
		"2020-12-31": projections.ObligationOverdue,
		"2021-01-01": projections.ObligationUncertain,
		"2021-12-30": projections.ObligationUncertain,
		"2021-12-31": projections.ObligationCompleted,
	} {
		assert.Equal(t, want, status(year, d).Status, "as of %s, a completion known as in 2021", d)
	}
	u := status(year, "2021-06-01")
	assert.Equal(t, events.MustDate(swedenArticle3Deadline), u.Deadline)
	assert.Equal(t, events.MustDate("2021-01-01"), u.CompletedEarliest, "the range is shown")
	assert.Equal(t, events.MustDate("2021-12-31"), u.Completed)
	assert.Equal(t, events.MustDate("2021-01-01"), status(year, "2022-01-01").CompletedEarliest, "a completed obligation keeps its range")

	bound := swedenFold(t, done("2022-03-31", events.OnOrBefore))
	assert.Equal(t, projections.ObligationUncertain, status(bound, "2020-10-02").Status, "by 31 Mar 2022: may have come before the deadline")
	assert.Equal(t, projections.ObligationPending, status(bound, "2020-09-01").Status, "before the deadline, nothing is compared")

	day := swedenFold(t, done("2021-12-31", events.Day))
	assert.Equal(t, projections.ObligationOverdue, status(day, "2021-06-01").Status, "a day known: overdue until it")
	assert.Zero(t, status(day, "2022-01-01").CompletedEarliest)
}

// Coverage cuts a range: a completion not in the record through the day it
// is complete through came after that day.
func TestCoverageCutsTheRangeOfACompletion(t *testing.T) {
	f := swedenFold(t, at(t, events.StockpileDestructionCompleted, "SWE", "2021-12-31", events.Year, &events.Quantities{}),
		coverage(t, events.Article3Facts, "2021-06-30"), coverage(t, events.ExtensionFacts, "2026-01-01"))
	st := func(d string) projections.Obligation {
		return projections.StatusOf(f, "SWE", events.MustDate(d), projections.Options{}).Article3
	}
	assert.Equal(t, projections.ObligationOverdue, st("2021-03-01").Status, "complete through 30 Jun 2021 and no completion by then: overdue")
	assert.Zero(t, st("2021-03-01").Completed, "a completion that cannot have come is not shown")
	later := st("2021-09-01")
	assert.Equal(t, projections.Unknown, later.Status, "after the coverage, unknown")
	assert.Equal(t, projections.ObligationUncertain, later.LastKnown)
	assert.Equal(t, events.MustDate("2021-07-01"), later.CompletedEarliest, "the range starts after the coverage")
}

// A report known to a range that holds the date asked, past its due date,
// is uncertain, not late; reports list it apart, neither submitted nor late.
func TestReportUncertainWhileItMayHaveCome(t *testing.T) {
	// The 2013 annual report of swedenFold is known only as by 14 Sep 2014
	// (due 30 Apr 2014).
	f := swedenFold(t)
	asOf := events.MustDate("2014-06-01")
	st := projections.StatusOf(f, "SWE", asOf, projections.Options{})
	a := st.Article7.Annual[0]
	assert.Equal(t, 2013, a.Year)
	assert.Equal(t, projections.ReportUncertain, a.Status, "may have come by 1 Jun 2014: not late")
	assert.Equal(t, events.MustDate("2014-09-14"), a.Submitted)
	assert.Equal(t, events.Adoption, a.SubmittedEarliest, "on or before: from the Convention's adoption")
	r := projections.ReportOf(f, asOf, projections.Options{})
	assert.Equal(t, 2013, r.Article7.AnnualYear)
	assert.Contains(t, r.Article7.AnnualUncertain, "SWE")
	assert.NotContains(t, r.Article7.AnnualSubmitted, "SWE")
	assert.NotContains(t, r.Article7.AnnualLate, "SWE")

	cut := swedenFold(t, coverage(t, events.AnnualReports, "2014-06-30"))
	assert.Equal(t, projections.ReportLate, projections.StatusOf(cut, "SWE", asOf, projections.Options{}).Article7.Annual[0].Status,
		"the record is complete through 30 Jun 2014: the report had not come by 1 Jun")
}

package projections_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

func at(t *testing.T, typ events.Type, state, date string, prec events.Precision, p events.Payload) events.Envelope {
	t.Helper()
	e, err := events.NewAt(uuid.Nil, typ, state, events.MustDate(date), prec, p, "test: "+string(typ))
	require.NoError(t, err)
	return e
}

// swedenFold is Sweden party from 1 Oct 2012 (thirty deposits before it, so
// that the Convention is in force), with an initial report on time and the
// annual report for 2013 (the first owed) known only as "by 14 Sep 2014",
// plus coverage.
func swedenFold(t *testing.T, coverage ...events.Envelope) *projections.Fold {
	t.Helper()
	f := projections.NewFold()
	var seq uint64
	apply := func(e events.Envelope) {
		seq++
		e.Seq = seq
		f.Apply(e)
	}
	for _, c := range events.States()[:31] {
		if c.ISO3 == "SWE" {
			continue
		}
		apply(at(t, events.Deposited, c.ISO3, "2009-06-01", events.Day, &events.Deposit{Instrument: events.Accession}))
	}
	apply(at(t, events.Signed, "SWE", "2008-12-03", events.Day, nil))
	apply(at(t, events.Deposited, "SWE", "2012-04-23", events.Day, &events.Deposit{Instrument: events.Ratification}))
	apply(at(t, events.StockpileDeclared, "SWE", "2012-04-23", events.Day, &events.Quantities{}))
	apply(at(t, events.ReportSubmitted, "SWE", "2013-03-01", events.Day, &events.Report{Kind: events.InitialReport}))
	apply(at(t, events.ReportSubmitted, "SWE", "2014-09-14", events.OnOrBefore, &events.Report{Kind: events.AnnualReport, Year: 2013}))
	for _, e := range coverage {
		apply(e)
	}
	return f
}

func coverage(t *testing.T, class events.FactClass, through string) events.Envelope {
	return at(t, events.CoverageDeclared, "", "2008-05-30", events.Day, &events.Coverage{Facts: class, Through: events.MustDate(through)})
}

// A status resting on a fact missing after the day the record is complete
// through is unknown, with the status the facts give as its last known; a
// ledger without coverage facts shows what it holds, as before.
func TestCoverageMakesWhatRestsOnAbsenceUnknown(t *testing.T) {
	asOf := events.MustDate("2025-09-19")
	plain := projections.StatusOf(swedenFold(t), "SWE", asOf, projections.Options{})
	assert.Equal(t, projections.TreatyParty, plain.TreatyStatus)
	assert.Equal(t, projections.ObligationOverdue, plain.Article3.Status)
	assert.Nil(t, plain.Coverage)
	late := 0
	for _, a := range plain.Article7.Annual {
		if a.Status == projections.ReportLate {
			late++
		}
	}
	assert.Equal(t, 11, late, "2014 to 2024 late, as a ledger without coverage says")

	f := swedenFold(t, coverage(t, events.TreatyFacts, "2026-01-23"), coverage(t, events.Article3Facts, "2013-12-31"),
		coverage(t, events.AnnualReports, "2012-09-14"), coverage(t, events.AnnualReports, "2014-06-30"))
	st := projections.StatusOf(f, "SWE", asOf, projections.Options{})
	assert.Equal(t, projections.TreatyParty, st.TreatyStatus, "treaty actions known through 2026")
	assert.Equal(t, projections.Unknown, st.Article3.Status)
	assert.Equal(t, projections.ObligationOverdue, st.Article3.LastKnown)
	assert.Equal(t, projections.ObligationNone, st.Article4.Status, "no Article 4 coverage declared: taken as complete")
	assert.Equal(t, events.MustDate("2014-06-30"), st.Coverage[events.AnnualReports], "the latest through day of a class")
	byYear := map[int]projections.ReportStatus{}
	for _, a := range st.Article7.Annual {
		byYear[a.Year] = a
	}
	assert.Equal(t, projections.ReportSubmittedLate, byYear[2013].Status,
		"known only as by 14 Sep 2014, but not by 30 Jun 2014, through which the record is complete: after it was due")
	assert.Equal(t, events.MustDate("2014-07-01"), byYear[2013].SubmittedEarliest, "the range starts after the coverage")
	for _, a := range plain.Article7.Annual {
		if a.Year == 2013 {
			assert.Equal(t, projections.ReportUncertain, a.Status, "without coverage, by 14 Sep 2014 holds the due date")
		}
	}
	assert.Equal(t, projections.Unknown, byYear[2014].Status, "due 30 Apr 2015, not known to be missing in 2025")
	assert.Equal(t, projections.ReportLate, byYear[2014].LastKnown)
	assert.Equal(t, projections.ReportSubmitted, st.Article7.Initial.Status, "a report submitted rests on no absence")

	// Up to the day the record reaches, nothing is unknown.
	early := projections.StatusOf(f, "SWE", events.MustDate("2013-09-14"), projections.Options{})
	assert.Equal(t, projections.ObligationPending, early.Article3.Status)
	mid := projections.StatusOf(f, "SWE", events.MustDate("2014-06-01"), projections.Options{})
	require.Len(t, mid.Article7.Annual, 1)
	assert.Equal(t, projections.ReportLate, mid.Article7.Annual[0].Status, "due 30 Apr 2014, missing on a day the record is complete through")

	// After the treaty actions' coverage, even a party's status is unknown.
	today := projections.StatusOf(f, "SWE", events.MustDate("2026-12-03"), projections.Options{})
	assert.Equal(t, projections.Unknown, today.TreatyStatus)
	assert.Equal(t, projections.TreatyParty, today.TreatyLastKnown)

	r := projections.ReportOf(f, asOf, projections.Options{})
	assert.Contains(t, r.Unknown.Article3, "SWE")
	assert.Empty(t, r.Article3.Obligations, "every obligation rests on what may have come since 2013")
	assert.NotContains(t, r.Article3.Overdue, "SWE")
	assert.Contains(t, r.Unknown.Article7Annual, "SWE", "annual 2024, due 30 Apr 2025")
	assert.NotContains(t, r.Article7.AnnualLate, "SWE")
	assert.Equal(t, st.Coverage, r.Coverage)
	rt := projections.ReportOf(f, events.MustDate("2026-12-03"), projections.Options{})
	assert.Len(t, rt.Unknown.Treaty, 32)
	assert.Empty(t, rt.StatesParties, "no State Party is known after the record ends")
}

// A report known only to a range that holds its due date is uncertain,
// with the range; on time or late only when every day of it agrees.
func TestReportDatesWithAPrecision(t *testing.T) {
	f := swedenFold(t)
	st := projections.StatusOf(f, "SWE", events.MustDate("2015-01-01"), projections.Options{})
	require.Len(t, st.Article7.Annual, 2)
	a := st.Article7.Annual[0]
	assert.Equal(t, 2013, a.Year)
	assert.Equal(t, projections.ReportUncertain, a.Status, "by 14 Sep 2014, due 30 Apr 2014")
	assert.Equal(t, events.Adoption, a.SubmittedEarliest)
	assert.Equal(t, events.MustDate("2014-09-14"), a.Submitted)

	// Known to the month: April is on time for a report due 30 April,
	// May late, whatever the day.
	for _, c := range []struct {
		date, want string
	}{{"2014-04-30", projections.ReportSubmitted}, {"2014-05-31", projections.ReportSubmittedLate}} {
		g := swedenFold(t)
		g.Apply(at(t, events.ReportSubmitted, "SWE", c.date, events.Month, &events.Report{Kind: events.AnnualReport, Year: 2013}))
		st := projections.StatusOf(g, "SWE", events.MustDate("2015-01-01"), projections.Options{})
		assert.Equal(t, c.want, st.Article7.Annual[0].Status, c.date)
	}
}

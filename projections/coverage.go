package projections

import "github.com/ccm-ledger/ccm-ledger/events"

// Unknown is the status of what rests on the absence of a fact the
// ledger is not known to hold: the date asked is after the last day its
// coverage-declared events say the record is complete for the class. The
// status derived from what the ledger holds is kept as LastKnown.
const Unknown = "unknown"

// Coverage is, by class of facts, the last day through which the ledger
// holds every fact of the class (its coverage-declared events dated on or
// before the date asked; the latest through day when there are several).
// A class without such an event is taken as complete, as a ledger without
// any coverage event always was.
type Coverage map[events.FactClass]events.Date

// coverageAt returns the coverage the Convention's facts declare as of
// asOf; nil when none does.
func coverageAt(f *Fold, asOf events.Date) Coverage {
	var c Coverage
	for _, x := range f.State(events.ConventionScope).Facts(events.CoverageDeclared) {
		if x.Date > asOf {
			break
		}
		p := x.Payload.(*events.Coverage)
		if c == nil {
			c = Coverage{}
		}
		c[p.Facts] = max(c[p.Facts], p.Through)
	}
	return c
}

// Knows reports whether the ledger holds every fact of class up to asOf.
func (c Coverage) Knows(class events.FactClass, asOf events.Date) bool {
	through, declared := c[class]
	return !declared || through >= asOf
}

// applyCoverage turns into Unknown what st, derived as of asOf, rests on
// the absence of a fact after the day the record is complete through.
func applyCoverage(st *Status, c Coverage, asOf events.Date) {
	st.Coverage = c
	if c == nil {
		return
	}
	bound := st.TreatyStatus == TreatyDeposited || st.TreatyStatus == TreatyParty || st.TreatyStatus == TreatyWithdrawing
	if !c.Knows(events.TreatyFacts, asOf) {
		st.TreatyLastKnown, st.TreatyStatus = st.TreatyStatus, Unknown
	}
	if !bound {
		return
	}
	extended := c.Knows(events.ExtensionFacts, asOf)
	obligationCoverage(&st.Article3, c.span(events.Article3Facts, asOf), extended)
	obligationCoverage(&st.Article4, c.span(events.Article4Facts, asOf), extended)
	if !c.Knows(events.Article5Facts, asOf) {
		st.Article5.LastKnown, st.Article5.Status = st.Article5.Status, Unknown
	}
	if !c.Knows(events.Article9Facts, asOf) {
		st.Article9.LastKnown, st.Article9.Status = st.Article9.Status, Unknown
	}
	reportCoverage(&st.Article7.Initial, c.span(events.InitialReports, asOf))
	for i := range st.Article7.Annual {
		reportCoverage(&st.Article7.Annual[i], c.span(events.AnnualReports, asOf))
	}
}

// span is what coverage says of a class as of a date: whether the record is
// complete up to it, and through which day (zero when no coverage is
// declared for the class).
type span struct {
	known   bool
	asOf    events.Date
	through events.Date
}

func (c Coverage) span(class events.FactClass, asOf events.Date) span {
	return span{known: c.Knows(class, asOf), asOf: asOf, through: c[class]}
}

// earliest is the first day a fact of the class dated to the range from
// earliest to latest may have happened on. A range that crosses the day the
// record is complete through starts after it: a fact of the class by that
// day would be in the record dated within the period, as the sources that
// declare the coverage list it.
func (sp span) earliest(earliest, latest events.Date) events.Date {
	if sp.through != 0 && earliest <= sp.through && sp.through < latest {
		return sp.through + 1
	}
	return earliest
}

// obligationCoverage: every status of an obligation rests on what was not
// declared, completed or (for overdue or uncertain) extended since. The
// range of a completion is cut by the coverage of its class.
func obligationCoverage(o *Obligation, sp span, extended bool) {
	if o.CompletedEarliest != 0 {
		o.CompletedEarliest = sp.earliest(o.CompletedEarliest, o.Completed)
		if o.Status == ObligationUncertain && o.CompletedEarliest > sp.asOf {
			o.Status, o.Completed, o.CompletedEarliest = ObligationOverdue, 0, 0
		}
		if o.CompletedEarliest == o.Completed {
			o.CompletedEarliest = 0
		}
	}
	late := o.Status == ObligationOverdue || o.Status == ObligationUncertain
	if !sp.known || (late && !extended) {
		o.LastKnown, o.Status = o.Status, Unknown
	}
}

// reportCoverage: a late report rests on the absence of its submission; a
// submitted one, or one not yet due, on nothing missing. The range of a
// submission is cut by the coverage of its class.
func reportCoverage(r *ReportStatus, sp span) {
	if r.SubmittedEarliest != 0 {
		r.SubmittedEarliest = sp.earliest(r.SubmittedEarliest, r.Submitted)
		switch {
		case r.Status != ReportUncertain:
		case r.SubmittedEarliest > sp.asOf:
			r.Status, r.Submitted, r.SubmittedEarliest = ReportLate, 0, 0
		case r.Submitted <= sp.asOf && r.SubmittedEarliest > r.Due:
			r.Status = ReportSubmittedLate
		}
		if r.SubmittedEarliest == r.Submitted {
			r.SubmittedEarliest = 0
		}
	}
	if !sp.known && r.Status == ReportLate {
		r.LastKnown, r.Status = r.Status, Unknown
	}
}

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
	obligationCoverage(&st.Article3, c.Knows(events.Article3Facts, asOf), extended)
	obligationCoverage(&st.Article4, c.Knows(events.Article4Facts, asOf), extended)
	if !c.Knows(events.Article5Facts, asOf) {
		st.Article5.LastKnown, st.Article5.Status = st.Article5.Status, Unknown
	}
	if !c.Knows(events.Article9Facts, asOf) {
		st.Article9.LastKnown, st.Article9.Status = st.Article9.Status, Unknown
	}
	reportCoverage(&st.Article7.Initial, c.Knows(events.InitialReports, asOf))
	for i := range st.Article7.Annual {
		reportCoverage(&st.Article7.Annual[i], c.Knows(events.AnnualReports, asOf))
	}
}

// obligationCoverage: every status of an obligation rests on what was not
// declared, completed or (for overdue) extended since.
func obligationCoverage(o *Obligation, known, extended bool) {
	if !known || (o.Status == ObligationOverdue && !extended) {
		o.LastKnown, o.Status = o.Status, Unknown
	}
}

// reportCoverage: a late report rests on the absence of its submission; a
// submitted one, or one not yet due, on nothing missing.
func reportCoverage(r *ReportStatus, known bool) {
	if !known && r.Status == ReportLate {
		r.LastKnown, r.Status = r.Status, Unknown
	}
}

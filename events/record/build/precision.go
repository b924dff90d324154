package build

import (
	"encoding/json"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// precisionOf is the precision a date basis gives a date: a month, a year
// or a bound are known to less than the day; a date fixed by rule (a
// deposit, an entry into force, the adoption) is the day the rule gives.
func precisionOf(basis string) events.Precision {
	switch basis {
	case BasisMonth:
		return events.Month
	case BasisYear:
		return events.Year
	case BasisBound:
		return events.OnOrBefore
	}
	return events.Day
}

// preciseReportReason is why a report of seed_facts.csv is recorded again.
const preciseReportReason = "the date is a bound or a month or year chosen by rule, recorded before dates had a precision: " +
	"recorded again with its precision, so that a comparison with the due date says uncertain where the range holds it"

// preciseReports records again, with their precision, the Article 7
// reports of seed_facts.csv dated by a month, a year or a bound, which the
// record held as known to the day (a bound then read as a late report):
// the old fact is retracted, not changed, since ledgers imported it, and
// its copy with the precision follows. A report retractions.csv corrects
// is left to that correction.
func (r *reader) preciseReports() error {
	for _, f := range append([]Fact(nil), r.facts...) {
		e := f.Event
		prec := precisionOf(f.Basis)
		if f.File != SeedFactsFile || e.Type != events.ReportSubmitted || prec == events.Day || r.retracted[e.ID.String()] {
			continue
		}
		rw := row{file: f.File, line: f.Line}
		data, _ := json.Marshal(map[string]string{"event": e.ID.String(), "reason": preciseReportReason})
		if err := r.add(rw, BasisExact, events.Retracted, e.State, e.Date, data, e.Source); err != nil {
			return err
		}
		if err := r.addAt(rw, f.Basis, e.Type, e.State, e.Date, prec, e.Data(), e.Source); err != nil {
			return err
		}
	}
	return nil
}

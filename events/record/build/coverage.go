package build

import (
	"encoding/json"
	"fmt"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// CoverageFile lists, per class of facts, the period over which the record
// is complete, with the source that says so.
const CoverageFile = "coverage.csv"

// coverage reads coverage.csv: one coverage-declared event per row, dated
// at the first day of the period (from), through the last. Every class of
// facts has exactly one row, so that the record says for each how far it
// reaches.
func (r *reader) coverage() error {
	rows, err := r.read(CoverageFile, []string{"facts", "from", "through", "source", "note"})
	if err != nil {
		return err
	}
	seen := map[events.FactClass]row{}
	for _, rw := range rows {
		class := events.FactClass(rw.get("facts"))
		if first, dup := seen[class]; dup {
			return rw.fail("facts", fmt.Sprintf("%s is already covered by line %d", class, first.line), nil)
		}
		seen[class] = rw
		from, err := rw.date("from")
		if err != nil {
			return err
		}
		through, err := rw.date("through")
		if err != nil {
			return err
		}
		if rw.get("source") == "" {
			return rw.fail("source", "is required: coverage is a fact, with the source that says so", nil)
		}
		data, _ := json.Marshal(map[string]string{"facts": string(class), "through": through.String()})
		if err := r.add(rw, BasisExact, events.CoverageDeclared, "", from, data, cite(rw.get("source"), CoverageFile)); err != nil {
			return err
		}
	}
	for _, class := range events.FactClasses() {
		if _, ok := seen[class]; !ok {
			return (row{file: CoverageFile}).fail("facts", "no row for "+string(class)+": every class says how far the record reaches", nil)
		}
	}
	return nil
}

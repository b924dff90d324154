package web

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// listRow is one line of the overview's tables: a list of the Report, by
// the key of its JSON form (the list parameter of /states).
type listRow struct {
	Key, Label string
	Sub        bool // a part of the row above
	States     []string
}

// listTable is one table of the overview.
type listTable struct {
	ID, Caption string
	Rows        []listRow
}

// reportTables arranges the Report's lists as the progress reports of
// the Meetings of States Parties do: by article, each count a link. Rows
// that are empty in a ledger that knows every date to the day (uncertain,
// unknown, withdrawals, overdue) are left out when empty.
func reportTables(r projections.Report) []listTable {
	var out []listTable
	for _, t := range allTables(r) {
		rows := t.Rows[:0]
		for _, rw := range t.Rows {
			optional := strings.Contains(rw.Key, "uncertain") || strings.HasPrefix(rw.Key, "unknown.") ||
				strings.HasPrefix(rw.Key, "withdraw") || strings.HasSuffix(rw.Key, ".overdue")
			if len(rw.States) > 0 || !optional {
				rows = append(rows, rw)
			}
		}
		if t.Rows = rows; len(rows) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// allTables is every list of the Report, by table. The lists are read by
// the keys of the Report's JSON form, its public contract: a list the
// tables below do not name yet is shown under "Other lists", by its key.
func allTables(r projections.Report) []listTable {
	lists := jsonLists(r)
	used := map[string]bool{}
	row := func(key, label string, sub bool) listRow {
		used[key] = true
		return listRow{Key: key, Label: label, Sub: sub, States: lists[key]}
	}
	ts := []listTable{
		{"treaty", "Treaty status", []listRow{
			row("states_parties", "States Parties", false),
			row("in_force", "in force", true),
			row("not_in_force", "not yet in force", true),
			row("withdrawing", "withdrawing", true),
			row("signatories", "Signatories", false),
			row("withdrawn", "Withdrawn", false),
		}},
		{"obligations", "Stockpiles, clearance and victims (Articles 3 to 6)", []listRow{
			row("article3.obligations", "Art. 3 stockpile destruction pending", false),
			row("article3.overdue", "overdue", true),
			row("article3.uncertain", "past the deadline, completion dated to a range", true),
			row("article3.completed", "Art. 3 destruction completed", false),
			row("article3.retaining", "Art. 3(6) retaining", false),
			row("article4.obligations", "Art. 4 clearance pending", false),
			row("article4.overdue", "overdue", true),
			row("article4.uncertain", "past the deadline, completion dated to a range", true),
			row("article4.completed", "Art. 4 clearance completed", false),
			row("article5.obligations", "Art. 5 victim assistance obligations", false),
			row("article6.requested", "Art. 6 assistance requested", false),
			row("article6.provided", "Art. 6 assistance provided", false),
		}},
		{"reports", "Transparency reports (Article 7)", []listRow{
			row("article7.initial_submitted", "Initial report submitted", false),
			row("article7.initial_late", "Initial report late", false),
			row("article7.initial_uncertain", "Initial report dated to a range", false),
			row("article7.initial_not_due", "Initial report not yet due", false),
			row("article7.annual_due", fmt.Sprintf("Annual report covering %d due", r.Article7.AnnualYear), false),
			row("article7.annual_submitted", "submitted", true),
			row("article7.annual_late", "late", true),
			row("article7.annual_uncertain", "dated to a range", true),
		}},
		{"implementation", "National implementation measures (Article 9)", []listRow{
			row("article9.adopted", "Legislation adopted", false),
			row("article9.in_progress", "In progress", false),
			row("article9.deemed_adequate", "Existing law deemed adequate", false),
		}},
		{"unknown", "What the record does not know as of the date", []listRow{
			row("unknown.treaty", "Treaty status unknown", false),
			row("unknown.article3", "Art. 3 unknown", false),
			row("unknown.article4", "Art. 4 unknown", false),
			row("unknown.article5", "Art. 5 unknown", false),
			row("unknown.article7_initial", "Art. 7 initial report unknown", false),
			row("unknown.article7_annual", "Art. 7 annual report unknown", false),
			row("unknown.article9", "Art. 9 unknown", false),
		}},
	}
	other := listTable{ID: "other", Caption: "Other lists"}
	for _, k := range slices.Sorted(maps.Keys(lists)) {
		if !used[k] {
			other.Rows = append(other.Rows, listRow{Key: k, Label: k, States: lists[k]})
		}
	}
	if len(other.Rows) > 0 {
		ts = append(ts, other)
	}
	return ts
}

// jsonLists returns the lists of States of a view's JSON form, by dotted
// key ("article3.overdue"): every array of strings, at any depth.
func jsonLists(v any) map[string][]string {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var top map[string]any
	if json.Unmarshal(b, &top) != nil {
		return nil
	}
	out := map[string][]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, x := range m {
			switch x := x.(type) {
			case map[string]any:
				walk(prefix+k+".", x)
			case []any:
				l := make([]string, 0, len(x))
				for _, e := range x {
					if s, ok := e.(string); ok {
						l = append(l, s)
					}
				}
				if len(l) == len(x) {
					out[prefix+k] = l
				}
			}
		}
	}
	walk("", top)
	return out
}

// reportList returns the list of the Report a key names.
func reportList(r projections.Report, key string) ([]string, string, bool) {
	for _, t := range allTables(r) {
		for _, rw := range t.Rows {
			if rw.Key == key {
				label := rw.Label
				if rw.Sub {
					label = t.Caption + ": " + label
				}
				return rw.States, label, true
			}
		}
	}
	return nil, "", false
}

// regionRow is one line of the table by region.
type regionRow struct {
	Region                     string
	StatesParties, Signatories int
}

func regionRows(r projections.Report) (rows []regionRow, total regionRow) {
	total.Region = "Total"
	for _, reg := range events.Regions() {
		c := r.ByRegion[string(reg)]
		rows = append(rows, regionRow{string(reg), c.StatesParties, c.Signatories})
		total.StatesParties += c.StatesParties
		total.Signatories += c.Signatories
	}
	return rows, total
}

// coverageRow is one class of facts and the last day the record is
// complete for it.
type coverageRow struct {
	Class   string
	Through events.Date
	// Short: the record stops before the view's date.
	Short bool
}

// coverageRows are the record's reach, by class of facts, as of a date;
// none when the ledger declares no coverage (it is taken as complete).
func coverageRows(c projections.Coverage, asOf events.Date) coverage {
	var out coverage
	for _, class := range events.FactClasses() {
		if through, ok := c[class]; ok {
			out = append(out, coverageRow{string(class), through, through < asOf})
		}
	}
	return out
}

// coverage is the record's reach, by class of facts.
type coverage []coverageRow

// Short lists the classes the record does not reach at the view's date.
func (c coverage) Short() []string {
	var out []string
	for _, r := range c {
		if r.Short {
			out = append(out, r.Class)
		}
	}
	return out
}

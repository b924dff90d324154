package web

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// column is one column of the table of States: a field of
// projections.StateRow, the row `ccm states` and GET /v1/states give.
type column struct {
	Key, Label string
	// status columns are coloured by their value.
	status bool
	value  func(projections.StateRow) string
}

var columns = []column{
	{"state", "State", false, func(r projections.StateRow) string { return r.Name }},
	{"iso3", "ISO3", false, func(r projections.StateRow) string { return r.State }},
	{"region", "Region", false, func(r projections.StateRow) string { return r.Region }},
	{"treaty", "Treaty status", true, func(r projections.StateRow) string { return r.TreatyStatus }},
	{"eif", "Entry into force", false, func(r projections.StateRow) string { return r.EntryIntoForce.String() }},
	{"a3", "Art. 3", true, func(r projections.StateRow) string { return r.Article3Status }},
	{"a3_deadline", "Art. 3 deadline", false, func(r projections.StateRow) string { return r.Article3Deadline.String() }},
	{"a4", "Art. 4", true, func(r projections.StateRow) string { return r.Article4Status }},
	{"a4_deadline", "Art. 4 deadline", false, func(r projections.StateRow) string { return r.Article4Deadline.String() }},
	{"a5", "Art. 5", true, func(r projections.StateRow) string { return r.Article5Status }},
	{"a7_initial", "Art. 7 initial", true, func(r projections.StateRow) string { return r.Article7Initial }},
	{"a7_due", "Art. 7 initial due", false, func(r projections.StateRow) string { return r.Article7InitialDue.String() }},
	{"a7_annual", "Art. 7 annual reports", false, annualText},
	{"a9", "Art. 9", true, func(r projections.StateRow) string { return r.Article9Status }},
}

// annualText counts the annual reports owed by status: "2 submitted, 1
// late". The statuses are data: any the row holds is shown.
func annualText(r projections.StateRow) string {
	var parts []string
	for _, st := range slices.Sorted(maps.Keys(r.Article7Annual)) {
		parts = append(parts, strconv.Itoa(r.Article7Annual[st])+" "+st)
	}
	return strings.Join(parts, ", ")
}

// cell is one cell of the table.
type cell struct {
	Text, Class string
}

// stateRow is one row of the table.
type stateRow struct {
	ISO3  string
	Cells []cell
	row   projections.StateRow
}

// statesTable is the table of States as filtered and sorted.
type statesTable struct {
	Columns []column
	Rows    []stateRow
	Sort    string
	Desc    bool
	// Filter says in words what the rows are.
	Filter string
	Total  int
	Q      string
	Region string
	Treaty string
	List   string
	// Treaties are the treaty statuses the States have, for the filter.
	Treaties []string
}

// SortLink is the link of a column's header: sorted by it, ascending, or
// descending when it already is.
func (t *statesTable) SortLink(v *view, key string) string {
	dir := ""
	if t.Sort == key && !t.Desc {
		dir = "desc"
	}
	if key == "state" && dir == "" {
		key = ""
	}
	return v.Link("/states", "q", t.Q, "region", t.Region, "treaty", t.Treaty, "list", t.List, "sort", key, "dir", dir)
}

// AriaSort is the aria-sort of a column's header.
func (t *statesTable) AriaSort(key string) string {
	switch {
	case t.Sort != key:
		return "none"
	case t.Desc:
		return "descending"
	}
	return "ascending"
}

// filterStates builds the table from the statuses and the page's filters;
// the list filter needs the report of the same view.
func filterStates(r *http.Request, sts []projections.Status, rep *projections.Report) (*statesTable, *pageError) {
	t := &statesTable{Columns: columns, Sort: param(r, "sort"), Desc: param(r, "dir") == "desc", Total: len(sts),
		Q: param(r, "q"), Region: param(r, "region"), Treaty: param(r, "treaty"), List: param(r, "list")}
	if t.Sort == "" {
		t.Sort = "state"
	}
	sortCol := -1
	for i, c := range columns {
		if c.Key == t.Sort {
			sortCol = i
		}
	}
	if sortCol < 0 {
		return nil, badRequest("Unknown column to sort by.", fieldf("sort", "%q is not a column (%s)", t.Sort, columnKeys()))
	}
	if d := param(r, "dir"); d != "" && d != "asc" && d != "desc" {
		return nil, badRequest("Unknown sort direction.", fieldf("dir", "%q is neither asc nor desc", d))
	}
	var in map[string]bool
	var words []string
	if t.List != "" {
		l, label, ok := reportList(*rep, t.List)
		if !ok {
			return nil, badRequest("Unknown list of the Convention-wide tables.", fieldf("list", "%q is not a list of the report", t.List))
		}
		in = map[string]bool{}
		for _, c := range l {
			in[c] = true
		}
		words = append(words, label)
	}
	seen := map[string]bool{}
	q := strings.ToLower(t.Q)
	for _, s := range sts {
		if !seen[s.TreatyStatus] {
			seen[s.TreatyStatus] = true
			t.Treaties = append(t.Treaties, s.TreatyStatus)
		}
		switch {
		case in != nil && !in[s.State],
			t.Region != "" && !strings.EqualFold(s.Region, t.Region),
			t.Treaty != "" && s.TreatyStatus != t.Treaty,
			q != "" && !strings.Contains(strings.ToLower(s.Name), q) && !strings.Contains(strings.ToLower(s.State), q):
			continue
		}
		row := stateRow{ISO3: s.State, row: projections.RowOf(s)}
		for _, c := range columns {
			cl, v := "", c.value(row.row)
			if c.status {
				cl = statusClass(v)
			}
			row.Cells = append(row.Cells, cell{Text: v, Class: cl})
		}
		t.Rows = append(t.Rows, row)
	}
	sort.Strings(t.Treaties)
	for _, w := range []struct{ name, v string }{{"region", t.Region}, {"treaty status", t.Treaty}, {"name or code containing", t.Q}} {
		if w.v != "" {
			words = append(words, w.name+" "+strconv.Quote(w.v))
		}
	}
	t.Filter = strings.Join(words, "; ")
	sort.SliceStable(t.Rows, func(i, j int) bool {
		a, b := t.Rows[i].Cells[sortCol].Text, t.Rows[j].Cells[sortCol].Text
		// Empty cells (no date, no obligation) go last either way.
		if (a == "") != (b == "") {
			return b == ""
		}
		if t.Desc {
			return a > b
		}
		return a < b
	})
	return t, nil
}

func columnKeys() string {
	var ks []string
	for _, c := range columns {
		ks = append(ks, c.Key)
	}
	return strings.Join(ks, ", ")
}

func fieldf(field, format string, a ...any) httpapi.FieldError {
	return httpapi.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// writeStatesCSV writes the rows the page shows as CSV, in the format of
// GET /v1/states?format=csv.
func writeStatesCSV(w http.ResponseWriter, t *statesTable, asOf string) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ccm-states-`+asOf+`.csv"`)
	rows := make([]projections.StateRow, 0, len(t.Rows))
	for _, r := range t.Rows {
		rows = append(rows, r.row)
	}
	return projections.WriteRowsCSV(w, rows)
}

package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// column is one column of the table of States.
type column struct {
	Key, Label string
	// status columns are coloured by their value.
	status bool
	value  func(projections.Status) string
}

var columns = []column{
	{"state", "State", false, func(s projections.Status) string { return s.Name }},
	{"iso3", "ISO3", false, func(s projections.Status) string { return s.State }},
	{"region", "Region", false, func(s projections.Status) string { return s.Region }},
	{"treaty", "Treaty status", true, func(s projections.Status) string { return lastKnown(s.TreatyStatus, s.TreatyLastKnown) }},
	{"eif", "Entry into force", false, func(s projections.Status) string { return s.EntryIntoForce.String() }},
	{"a3", "Art. 3", true, func(s projections.Status) string { return lastKnown(s.Article3.Status, s.Article3.LastKnown) }},
	{"a3_deadline", "Art. 3 deadline", false, func(s projections.Status) string { return s.Article3.Deadline.String() }},
	{"a4", "Art. 4", true, func(s projections.Status) string { return lastKnown(s.Article4.Status, s.Article4.LastKnown) }},
	{"a4_deadline", "Art. 4 deadline", false, func(s projections.Status) string { return s.Article4.Deadline.String() }},
	{"a5", "Art. 5", true, func(s projections.Status) string { return lastKnown(s.Article5.Status, s.Article5.LastKnown) }},
	{"a7_initial", "Art. 7 initial", true, func(s projections.Status) string {
		return lastKnown(s.Article7.Initial.Status, s.Article7.Initial.LastKnown)
	}},
	{"a7_due", "Art. 7 initial due", false, func(s projections.Status) string { return s.Article7.Initial.Due.String() }},
	{"a7_annual", "Art. 7 latest annual", true, func(s projections.Status) string {
		if n := len(s.Article7.Annual); n > 0 {
			a := s.Article7.Annual[n-1]
			return strconv.Itoa(a.Year) + ": " + lastKnown(a.Status, a.LastKnown)
		}
		return ""
	}},
	{"a9", "Art. 9", true, func(s projections.Status) string { return lastKnown(s.Article9.Status, s.Article9.LastKnown) }},
}

// cell is one cell of the table.
type cell struct {
	Text, Class string
}

// stateRow is one row of the table.
type stateRow struct {
	ISO3  string
	Cells []cell
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
		row := stateRow{ISO3: s.State}
		for _, c := range columns {
			cl := ""
			v := c.value(s)
			if c.status {
				// The status is the first word, after an annual report's year.
				cl = statusClass(firstWord(strings.TrimLeft(v, "0123456789: ")))
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

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
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

// writeStatesCSV writes the table as CSV, the rows as the page shows them.
func writeStatesCSV(w http.ResponseWriter, t *statesTable, asOf string) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ccm-states-`+asOf+`.csv"`)
	cw := csv.NewWriter(w)
	head := []string{"as_of"}
	for _, c := range t.Columns {
		head = append(head, c.Key)
	}
	_ = cw.Write(head)
	for _, r := range t.Rows {
		rec := []string{asOf}
		for _, c := range r.Cells {
			rec = append(rec, c.Text)
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

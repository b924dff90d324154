package projections

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// StateRow is one State's status flattened to one row of a table: the
// shape of `ccm states`, of GET /v1/states and of the web view's table of
// States. Status strings are copied as the Status gives them (including
// Unknown and any status added later), never mapped to a closed set.
type StateRow struct {
	State               string      `json:"state"`
	Name                string      `json:"name"`
	Region              string      `json:"region"`
	TreatyStatus        string      `json:"treaty_status"`
	Signed              events.Date `json:"signed"`
	Deposited           events.Date `json:"deposited"`
	Instrument          string      `json:"instrument"`
	EntryIntoForce      events.Date `json:"entry_into_force"`
	WithdrawalNotified  events.Date `json:"withdrawal_notified"`
	WithdrawalEffective events.Date `json:"withdrawal_effective"`
	Article3Status      string      `json:"article3_status"`
	Article3Deadline    events.Date `json:"article3_deadline"`
	Article3Completed   events.Date `json:"article3_completed"`
	Article4Status      string      `json:"article4_status"`
	Article4Deadline    events.Date `json:"article4_deadline"`
	Article4Completed   events.Date `json:"article4_completed"`
	Article5Status      string      `json:"article5_status"`
	Article7Initial     string      `json:"article7_initial_status"`
	Article7InitialDue  events.Date `json:"article7_initial_due"`
	// Article7Annual counts the annual reports owed by the date, by status
	// (late, submitted-late, uncertain, unknown, ...); the CSV gives the
	// counts of RowAnnualStatuses.
	Article7Annual map[string]int `json:"article7_annual"`
	Article9Status string         `json:"article9_status"`
	AsOf           events.Date    `json:"as_of"`
	KnownAtSeq     uint64         `json:"known_at_seq"`
}

// RowAnnualStatuses are the annual-report statuses the CSV of rows counts
// in columns of their own, in this order. A status outside them still
// counts in StateRow.Article7Annual.
var RowAnnualStatuses = []string{ReportLate, ReportSubmittedLate, ReportUncertain, Unknown}

// Rows flattens statuses to rows, in the same order.
func Rows(sts []Status) []StateRow {
	out := make([]StateRow, 0, len(sts))
	for _, st := range sts {
		out = append(out, RowOf(st))
	}
	return out
}

// RowOf flattens one status.
func RowOf(st Status) StateRow {
	r := StateRow{
		State: st.State, Name: st.Name, Region: st.Region, TreatyStatus: st.TreatyStatus,
		Signed: st.Signed, Deposited: st.Deposited, Instrument: st.Instrument,
		EntryIntoForce: st.EntryIntoForce, WithdrawalNotified: st.WithdrawalNotified,
		WithdrawalEffective: st.WithdrawalEffective,
		Article3Status:      st.Article3.Status, Article3Deadline: st.Article3.Deadline,
		Article3Completed: st.Article3.Completed,
		Article4Status:    st.Article4.Status, Article4Deadline: st.Article4.Deadline,
		Article4Completed: st.Article4.Completed,
		Article5Status:    st.Article5.Status,
		Article7Initial:   st.Article7.Initial.Status, Article7InitialDue: st.Article7.Initial.Due,
		Article7Annual: map[string]int{},
		Article9Status: st.Article9.Status,
		AsOf:           st.AsOf, KnownAtSeq: st.KnownAt.Seq,
	}
	for _, a := range st.Article7.Annual {
		r.Article7Annual[a.Status]++
	}
	return r
}

// RowsHeader is the header of the CSV of rows. Columns are only ever
// added at the end, so that a spreadsheet or script reading by position
// keeps working.
func RowsHeader() []string {
	h := []string{"state", "name", "region", "treaty_status", "signed", "deposited", "instrument",
		"entry_into_force", "withdrawal_notified", "withdrawal_effective",
		"article3_status", "article3_deadline", "article3_completed",
		"article4_status", "article4_deadline", "article4_completed",
		"article5_status", "article7_initial_status", "article7_initial_due"}
	for _, s := range RowAnnualStatuses {
		h = append(h, "article7_annual_"+s)
	}
	return append(h, "article9_status", "as_of", "known_at_seq")
}

// Record is the row as CSV fields, in the order of RowsHeader; a zero
// date is an empty field.
func (r StateRow) Record() []string {
	rec := []string{r.State, r.Name, r.Region, r.TreatyStatus, r.Signed.String(), r.Deposited.String(),
		r.Instrument, r.EntryIntoForce.String(), r.WithdrawalNotified.String(), r.WithdrawalEffective.String(),
		r.Article3Status, r.Article3Deadline.String(), r.Article3Completed.String(),
		r.Article4Status, r.Article4Deadline.String(), r.Article4Completed.String(),
		r.Article5Status, r.Article7Initial, r.Article7InitialDue.String()}
	for _, s := range RowAnnualStatuses {
		rec = append(rec, strconv.Itoa(r.Article7Annual[s]))
	}
	return append(rec, r.Article9Status, r.AsOf.String(), strconv.FormatUint(r.KnownAtSeq, 10))
}

// WriteRowsCSV writes the header and one record per row (RFC 4180 quoting,
// LF line ends like the other CSV outputs) and returns the first write
// error.
func WriteRowsCSV(w io.Writer, rows []StateRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RowsHeader()); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(r.Record()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// StatesTable is the rows of every State as of a point of view, with the
// point itself: the JSON of `ccm states --format json` and of GET
// /v1/states.
type StatesTable struct {
	AsOf    events.Date `json:"as_of"`
	Meeting string      `json:"meeting,omitempty"`
	KnownAt KnownAt     `json:"known_at"`
	// AnnualRule names the Article 7 annual-report rule the rows apply.
	AnnualRule string     `json:"annual_rule"`
	States     []StateRow `json:"states"`
}

// TableOf is the table of the statuses derived at b with the options opt.
func TableOf(b Bounds, opt Options, sts []Status) StatesTable {
	t := StatesTable{AsOf: b.AsOf, Meeting: b.Meeting, AnnualRule: opt.annualRule().Name, States: Rows(sts)}
	if len(sts) > 0 {
		t.KnownAt = sts[0].KnownAt
	}
	return t
}

package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// profileData is a State's profile.
type profileData struct {
	History    projections.History
	Articles   []articleRow
	Compliance []complianceRow
	Quantities []quantityRow
	Destroyed  quantityTotals
	Coverage   coverage
}

// articleRow is one obligation of the State and where it stands.
type articleRow struct {
	Article, Status, Deadline, Detail string
}

// complianceRow is one derived compliance event.
type complianceRow struct {
	Date    events.Date
	Kind    string
	Summary string
	Rule    string
}

// quantityRow is one recorded quantity: a stockpile declared, destroyed
// or retained.
type quantityRow struct {
	Date                    events.Date
	Type, Source            string
	Munitions, Submunitions string
	Retracted               bool
}

// quantityTotals adds up what was destroyed, retracted events left out.
type quantityTotals struct {
	Munitions, Submunitions int64
	Any                     bool
}

func (s *Server) profileOf(r *http.Request, q Querier, v *view, iso3 string) (*profileData, error) {
	h, err := q.History(r.Context(), iso3, v.Bounds)
	if err != nil {
		return nil, err
	}
	v.KnownAt = h.KnownAt
	d := &profileData{History: h, Articles: articleRows(h.Status), Coverage: coverageRows(h.Status.Coverage, h.AsOf)}
	f, err := q.Fold(r.Context(), v.Bounds)
	if err != nil {
		return nil, err
	}
	rule := aggregatesRule(h.Status.Article7.Rule)
	for _, t := range compliance.Derive(f, iso3, v.Bounds.AsOf, compliance.Options{Projection: projections.Options{AnnualRule: rule}}) {
		ev := compliance.Event{Kind: t.Kind, State: t.Scope, Date: t.Date, Rule: t.Rule, Deadline: t.Deadline, Year: t.Year}
		d.Compliance = append(d.Compliance, complianceRow{Date: t.Date, Kind: string(t.Kind), Summary: ev.Summary(), Rule: t.Rule})
	}
	for _, en := range h.Entries {
		switch events.Type(en.Type) {
		case events.StockpileDeclared, events.StockpileDestroyed, events.RetentionDeclared:
		default:
			continue
		}
		var qn struct{ Munitions, Submunitions *int64 }
		_ = json.Unmarshal(en.Data, &qn)
		row := quantityRow{Date: en.Date, Type: en.Type, Source: en.Source, Munitions: count(qn.Munitions),
			Submunitions: count(qn.Submunitions), Retracted: en.Retracted != nil}
		d.Quantities = append(d.Quantities, row)
		if events.Type(en.Type) == events.StockpileDestroyed && en.Retracted == nil {
			d.Destroyed.Any = true
			if qn.Munitions != nil {
				d.Destroyed.Munitions += *qn.Munitions
			}
			if qn.Submunitions != nil {
				d.Destroyed.Submunitions += *qn.Submunitions
			}
		}
	}
	return d, nil
}

func count(n *int64) string {
	if n == nil {
		return ""
	}
	return groupDigits(*n)
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// articleRows says where each obligation of a State stands.
func articleRows(st projections.Status) []articleRow {
	obl := func(name string, o projections.Obligation, declared string) articleRow {
		var parts []string
		if o.Declared != 0 {
			parts = append(parts, declared+" "+o.Declared.String())
		}
		switch earliest := completedEarliest(o); {
		case earliest != "" && o.Completed != 0:
			parts = append(parts, "completed between "+earliest+" and "+o.Completed.String())
		case o.Completed != 0:
			parts = append(parts, "completed "+o.Completed.String())
		}
		if o.Extended {
			parts = append(parts, "deadline extended")
		}
		if o.Retained {
			parts = append(parts, "retaining under Art. 3(6)")
		}
		return articleRow{name, lastKnown(o.Status, o.LastKnown), o.Deadline.String(), strings.Join(parts, "; ")}
	}
	rows := []articleRow{
		{"Treaty status", lastKnown(st.TreatyStatus, st.TreatyLastKnown), st.EntryIntoForce.String(), treatyDetail(st)},
		obl("Art. 3 stockpile destruction", st.Article3, "stockpile declared"),
		obl("Art. 4 clearance", st.Article4, "contamination declared"),
		{"Art. 5 victim assistance", lastKnown(st.Article5.Status, st.Article5.LastKnown), "", dated("declared", st.Article5.Declared)},
		{"Art. 6 cooperation", "", "", strings.Trim(dated("assistance requested", st.Article6.Requested)+"; "+
			dated("assistance provided", st.Article6.Provided), "; ")},
		reportRow("Art. 7 initial report", st.Article7.Initial),
	}
	for i := len(st.Article7.Annual) - 1; i >= 0; i-- {
		a := st.Article7.Annual[i]
		rows = append(rows, reportRow("Art. 7 annual report "+strconv.Itoa(a.Year), a))
	}
	return append(rows, articleRow{"Art. 9 national measures", lastKnown(st.Article9.Status, st.Article9.LastKnown), "", dated("since", st.Article9.Since)})
}

func reportRow(name string, r projections.ReportStatus) articleRow {
	detail := dated("submitted", r.Submitted)
	switch {
	case r.SubmittedEarliest == events.Adoption && r.Submitted != 0:
		detail = "submitted on or before " + r.Submitted.String()
	case r.SubmittedEarliest != 0 && r.Submitted != 0:
		detail = "submitted between " + r.SubmittedEarliest.String() + " and " + r.Submitted.String()
	}
	return articleRow{name, lastKnown(r.Status, r.LastKnown), r.Due.String(), detail}
}

func treatyDetail(st projections.Status) string {
	parts := []string{dated("signed", st.Signed), dated("instrument of "+st.Instrument+" deposited", st.Deposited),
		dated("withdrawal notified", st.WithdrawalNotified), dated("withdrawal effective", st.WithdrawalEffective)}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

func dated(what string, d events.Date) string {
	if d == 0 {
		return ""
	}
	return what + " " + d.String()
}

// aggregatesRule is the annual-report rule a status names.
func aggregatesRule(name string) aggregates.AnnualRule {
	if r, ok := aggregates.AnnualRuleByName(name); ok {
		return r
	}
	return aggregates.DefaultAnnualRule
}

// completedEarliest is the first day a completion known to a range may
// have come ("" when known to the day), read from the obligation's JSON
// form, where it is completed_earliest.
func completedEarliest(o projections.Obligation) string {
	var x struct {
		Earliest string `json:"completed_earliest"`
	}
	if b, err := json.Marshal(o); err == nil {
		_ = json.Unmarshal(b, &x)
	}
	return x.Earliest
}

package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

func dateOr(d events.Date, none string) string {
	if d == 0 {
		return none
	}
	return d.String()
}

func knownAtText(k projections.KnownAt) string {
	s := fmt.Sprintf("sequence %d", k.Seq)
	if k.Time != "" {
		s += " (" + k.Time + ")"
	}
	if k.Quarantined > 0 {
		s += fmt.Sprintf("; %d stored messages not counted (`ccm verify` lists them)", k.Quarantined)
	}
	return s
}

func writeStatusText(w io.Writer, st projections.Status) error {
	fmt.Fprintln(w, wrap(fmt.Sprintf("%s (%s, %s) as of %s, known at %s", st.Name, st.State, st.Region, st.AsOf, knownAtText(st.KnownAt)), 0, textWidth))
	if c := coverageText(st.Coverage, st.AsOf); c != "" {
		fmt.Fprintln(w, wrap(c, 0, textWidth))
	}
	fmt.Fprintln(w)
	// Labels in a column of their own, values wrapped beside them.
	const labelWidth = 23
	row := func(k, v string) { fmt.Fprintf(w, "%-*s%s\n", labelWidth, k, wrap(v, labelWidth, textWidth)) }
	row("Treaty status", lastKnown(st.TreatyStatus, st.TreatyLastKnown))
	row("Signed", dateOr(st.Signed, "-"))
	if st.Deposited != 0 {
		row("Deposited", fmt.Sprintf("%s (%s)", st.Deposited, st.Instrument))
	} else {
		row("Deposited", "-")
	}
	row("Entry into force", dateOr(st.EntryIntoForce, "-"))
	if st.WithdrawalNotified != 0 {
		row("Withdrawal", fmt.Sprintf("notified %s, effective %s", st.WithdrawalNotified, st.WithdrawalEffective))
	}
	row("Art. 3 stockpiles", obligationText(st.Article3, "declared"))
	row("Art. 4 clearance", obligationText(st.Article4, "contamination declared"))
	row("Art. 5 victims", lastKnown(st.Article5.Status, st.Article5.LastKnown))
	if st.Article6.Requested != 0 || st.Article6.Provided != 0 {
		row("Art. 6 assistance", fmt.Sprintf("requested %s, provided %s", dateOr(st.Article6.Requested, "-"), dateOr(st.Article6.Provided, "-")))
	}
	ini := st.Article7.Initial
	row("Art. 7 initial report", reportText(ini))
	for _, a := range st.Article7.Annual {
		row(fmt.Sprintf("Art. 7 annual %d", a.Year), reportText(a))
	}
	a9 := lastKnown(st.Article9.Status, st.Article9.LastKnown)
	if st.Article9.Since != 0 {
		a9 += " since " + st.Article9.Since.String()
	}
	row("Art. 9 legislation", a9)
	if len(st.Article7.Annual) > 0 || st.Article7.Initial.Due != 0 {
		fmt.Fprintf(w, "\nAnnual reports per rule %s.\n", st.Article7.Rule)
	}
	return nil
}

// lastKnown is an unknown status with the one the ledger's facts give.
func lastKnown(status, last string) string {
	if status == projections.Unknown && last != "" {
		return "unknown (the record's facts say " + last + ")"
	}
	return status
}

func obligationText(o projections.Obligation, declared string) string {
	if o.Status == projections.ObligationNone || o.LastKnown == projections.ObligationNone {
		return lastKnown(o.Status, o.LastKnown)
	}
	var parts []string
	if o.Deadline != 0 {
		d := "deadline " + o.Deadline.String()
		if o.Extended {
			d += " (extended)"
		}
		parts = append(parts, d)
	}
	parts = append(parts, declared+" "+o.Declared.String())
	if o.Completed != 0 {
		parts = append(parts, "completed"+rangeText(o.CompletedEarliest, o.Completed))
	}
	if o.Retained {
		parts = append(parts, "retaining under Art. 3(6)")
	}
	return lastKnown(o.Status, o.LastKnown) + " (" + strings.Join(parts, "; ") + ")"
}

func reportText(r projections.ReportStatus) string {
	s := lastKnown(r.Status, r.LastKnown)
	if r.Due != 0 {
		s += ", due " + r.Due.String()
	}
	if r.Submitted != 0 {
		s += ", submitted" + rangeText(r.SubmittedEarliest, r.Submitted)
	}
	return s
}

// rangeText is the day of a fact, or the range its date is known to
// (earliest zero: the day is known).
func rangeText(earliest, latest events.Date) string {
	switch earliest {
	case 0:
		return " " + latest.String()
	case events.Adoption:
		return " on or before " + latest.String()
	}
	return " between " + earliest.String() + " and " + latest.String()
}

// listText wraps a list of States, by code or by name, after a label.
func listText(codes []string, names bool, indent int, width int) string {
	if len(codes) == 0 {
		return "-"
	}
	items := codes
	sep := " "
	if names {
		items = make([]string, len(codes))
		for i, c := range codes {
			items[i] = stateName(c)
		}
		sep = ", "
	}
	var b strings.Builder
	col := indent
	for i, it := range items {
		piece := it
		if i < len(items)-1 {
			piece += strings.TrimRight(sep, " ")
		}
		if col > indent && col+1+len(piece) > width {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(piece)
		col += len(piece)
	}
	return b.String()
}

func stateName(code string) string {
	if c, ok := events.LookupState(code); ok {
		return c.Name
	}
	return code
}

// reportLists are the lists of the Convention-wide tables in the order the
// text, CSV and diff outputs show them.
func reportLists(r projections.Report) []struct {
	key, label string
	codes      []string
} {
	return []struct {
		key, label string
		codes      []string
	}{
		{"states_parties", "States Parties", r.StatesParties},
		{"in_force", "  in force", r.InForce},
		{"not_in_force", "  not yet in force", r.NotInForce},
		{"withdrawing", "  withdrawing", r.Withdrawing},
		{"withdrawn", "Withdrawn", r.Withdrawn},
		{"signatories", "Signatories", r.Signatories},
		{"article3.obligations", "Art. 3 obligations", r.Article3.Obligations},
		{"article3.overdue", "  overdue", r.Article3.Overdue},
		{"article3.completed", "Art. 3 completed", r.Article3.Completed},
		{"article3.uncertain", "Art. 3 completion uncertain", r.Article3.Uncertain},
		{"article3.retaining", "Art. 3(6) retaining", r.Article3.Retaining},
		{"article4.obligations", "Art. 4 obligations", r.Article4.Obligations},
		{"article4.overdue", "  overdue", r.Article4.Overdue},
		{"article4.completed", "Art. 4 completed", r.Article4.Completed},
		{"article4.uncertain", "Art. 4 completion uncertain", r.Article4.Uncertain},
		{"article5.obligations", "Art. 5 obligations", r.Article5.Obligations},
		{"article6.requested", "Art. 6 assistance requested", r.Article6.Requested},
		{"article6.provided", "Art. 6 assistance provided", r.Article6.Provided},
		{"article7.initial_submitted", "Art. 7 initial submitted", r.Article7.InitialSubmitted},
		{"article7.initial_late", "Art. 7 initial late", r.Article7.InitialLate},
		{"article7.initial_not_due", "Art. 7 initial not yet due", r.Article7.InitialNotDue},
		{"article7.initial_uncertain", "Art. 7 initial maybe not yet", r.Article7.InitialUncertain},
		{"article7.annual_due", fmt.Sprintf("Art. 7 annual %d due", r.Article7.AnnualYear), r.Article7.AnnualDue},
		{"article7.annual_submitted", "  submitted", r.Article7.AnnualSubmitted},
		{"article7.annual_late", "  late", r.Article7.AnnualLate},
		{"article7.annual_uncertain", "  maybe not yet", r.Article7.AnnualUncertain},
		{"article9.adopted", "Art. 9 legislation adopted", r.Article9.Adopted},
		{"article9.in_progress", "Art. 9 in progress", r.Article9.InProgress},
		{"article9.deemed_adequate", "Art. 9 deemed adequate", r.Article9.DeemedAdequate},
		{"unknown.treaty", "Unknown: treaty status", r.Unknown.Treaty},
		{"unknown.article3", "Unknown: Art. 3", r.Unknown.Article3},
		{"unknown.article4", "Unknown: Art. 4", r.Unknown.Article4},
		{"unknown.article5", "Unknown: Art. 5", r.Unknown.Article5},
		{"unknown.article7_initial", "Unknown: Art. 7 initial", r.Unknown.Article7Initial},
		{"unknown.article7_annual", "Unknown: Art. 7 annual", r.Unknown.Article7Annual},
		{"unknown.article9", "Unknown: Art. 9", r.Unknown.Article9},
	}
}

// coverageText says through which day the record is complete, by class
// of facts, for the text headers; "" when the ledger declares no coverage.
func coverageText(c projections.Coverage, asOf events.Date) string {
	if len(c) == 0 {
		return ""
	}
	var parts, behind []string
	for _, class := range events.FactClasses() {
		through, ok := c[class]
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s through %s", class, through))
		if through < asOf {
			behind = append(behind, string(class))
		}
	}
	s := "The record is complete for " + strings.Join(parts, ", ") + "."
	if len(behind) > 0 {
		s += " As of " + asOf.String() + " it does not reach " + strings.Join(behind, ", ") + ": what rests on a fact missing since is unknown."
	}
	return s
}

func writeReportText(w io.Writer, r projections.Report, names bool) error {
	title := "as of " + r.AsOf.String()
	if r.Meeting != "" {
		title += " (" + r.Meeting + ")"
	}
	fmt.Fprintln(w, wrap(fmt.Sprintf("Convention on Cluster Munitions, %s, known at %s", title, knownAtText(r.KnownAt)), 0, textWidth))
	fmt.Fprintf(w, "Entry into force of the Convention: %s\n", dateOr(r.EntryIntoForce, "not yet (fewer than 30 instruments)"))
	if c := coverageText(r.Coverage, r.AsOf); c != "" {
		fmt.Fprintln(w, wrap(c, 0, textWidth))
	}
	if n := len(r.Unknown.Treaty); n > 0 {
		fmt.Fprintf(w, "The treaty status of %d States is unknown as of %s: they are listed under \"Unknown\", not counted\n", n, r.AsOf)
		if t, ok := r.Coverage[events.TreatyFacts]; ok {
			fmt.Fprintf(w, "as States Parties or signatories (ask as of %s, the last day the record is complete for them).\n", t)
		}
	}
	fmt.Fprintln(w)
	const labelWidth = 28
	for _, l := range reportLists(r) {
		if len(l.codes) == 0 && (l.key == "withdrawing" || l.key == "withdrawn" || strings.HasSuffix(l.key, ".overdue") ||
			strings.HasSuffix(l.key, "uncertain") || strings.HasPrefix(l.key, "unknown.")) {
			continue
		}
		fmt.Fprintf(w, "%-*s %4d  %s\n", labelWidth, l.label, len(l.codes), listText(l.codes, names, labelWidth+7, textWidth))
	}
	fmt.Fprintf(w, "\n%-14s %15s %12s\n", "Region", "States Parties", "Signatories")
	var sp, sg int
	for _, reg := range events.Regions() {
		c := r.ByRegion[string(reg)]
		sp += c.StatesParties
		sg += c.Signatories
		fmt.Fprintf(w, "%-14s %15d %12d\n", reg, c.StatesParties, c.Signatories)
	}
	fmt.Fprintf(w, "%-14s %15d %12d\n", "Total", sp, sg)
	fmt.Fprintf(w, "\nAnnual reports per rule %s.\n", r.Article7.Rule)
	return nil
}

func writeReportCSV(w io.Writer, r projections.Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"as_of", "list", "iso3", "name", "region"})
	for _, l := range reportLists(r) {
		for _, c := range l.codes {
			region := ""
			if s, ok := events.LookupState(c); ok {
				region = string(s.Region)
			}
			cw.Write([]string{r.AsOf.String(), l.key, c, stateName(c), region})
		}
	}
	cw.Flush()
	return cw.Error()
}

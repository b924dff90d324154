package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/ccm-ledger/ccm-ledger/projections"
)

func defaultOptions() projections.Options { return projections.Options{} }

func pointText(p projections.DiffPoint) string {
	s := p.AsOf.String()
	if p.Meeting != "" {
		s += " (" + p.Meeting + ")"
	}
	return s
}

func causeText(c projections.Cause) string {
	var parts []string
	if c.Date != 0 {
		parts = append(parts, c.Date.String())
	}
	if c.Rule != "" {
		parts = append(parts, "rule "+c.Rule)
	}
	for _, e := range c.Events {
		parts = append(parts, string(e.Type))
	}
	return strings.Join(parts, ", ")
}

func writeDiffText(w io.Writer, d projections.Diff, allEvents bool) error {
	fmt.Fprintf(w, "What changed from %s to %s\n", pointText(d.From), pointText(d.To))
	fmt.Fprintf(w, "%s\n\n", wrap("known at "+knownAtText(d.From.KnownAt)+" and "+knownAtText(d.To.KnownAt), 0, textWidth))
	writeDiffSummary(w, d.Summary)
	changed := 0
	for _, t := range d.Tables {
		if len(t.Added) == 0 && len(t.Removed) == 0 && t.Before == t.After {
			continue
		}
		changed++
		fmt.Fprintf(w, "%-28s %4d → %d\n", t.List, t.Before, t.After)
		if len(t.Added) > 0 {
			fmt.Fprintf(w, "    + %s\n", wrap(entriesText(t.Added), 6, textWidth))
		}
		if len(t.Removed) > 0 {
			fmt.Fprintf(w, "    - %s\n", wrap(entriesText(t.Removed), 6, textWidth))
		}
	}
	if changed == 0 {
		fmt.Fprintln(w, "No list of the Convention-wide tables changed.")
	}
	writePeriodEvents(w, d.Events, allEvents)
	if len(d.States) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nChanges per State (%d States)\n", len(d.States))
	writeStateChanges(w, d.States)
	return nil
}

// writeStateChanges writes each State's name, then one line per change:
// the field, from → to, and its cause, on a line of its own when the
// columns leave it too little room.
func writeStateChanges(w io.Writer, states []projections.StateChange) {
	fieldW, moveW := 0, 0
	move := func(c projections.FieldChange) string { return orDash(c.From) + " → " + orDash(c.To) }
	for _, s := range states {
		for _, c := range s.Changes {
			fieldW, moveW = max(fieldW, len(c.Field)), max(moveW, utf8.RuneCountInString(move(c)))
		}
	}
	causeAt := 2 + fieldW + 2 + moveW + 2
	for _, s := range states {
		fmt.Fprintf(w, "%s %s\n", s.State, s.Name)
		for _, c := range s.Changes {
			m := move(c)
			line := fmt.Sprintf("  %-*s  %s", fieldW, c.Field, m)
			cause := causeText(c.Cause)
			switch {
			case cause == "":
			case causeAt+len(cause) <= textWidth:
				line += strings.Repeat(" ", moveW-utf8.RuneCountInString(m)+2) + cause
			default:
				line += "\n      " + wrap(cause, 6, textWidth)
			}
			fmt.Fprintln(w, line)
		}
	}
}

// writeDiffSummary writes the period as an auditor would read it.
func writeDiffSummary(w io.Writer, s projections.DiffSummary) {
	dated := func(l []projections.DatedState) string {
		parts := make([]string, len(l))
		for i, d := range l {
			parts[i] = d.State + " " + d.Date.String()
		}
		return strings.Join(parts, ", ")
	}
	line := func(label string, n int, text string) {
		if n == 0 {
			text = "none"
		}
		fmt.Fprintf(w, "  %s\n", wrap(fmt.Sprintf("%s (%d): %s", label, n, text), 6, textWidth))
	}
	fmt.Fprintln(w, "In short")
	line("joined", len(s.Joined), dated(s.Joined))
	line("withdrew (notified)", len(s.Withdrawn), dated(s.Withdrawn))
	line("completed stockpile destruction (Art. 3)", len(s.Article3Completed), dated(s.Article3Completed))
	line("completed clearance (Art. 4)", len(s.Article4Completed), dated(s.Article4Completed))
	ext := make([]string, len(s.Extensions))
	for i, x := range s.Extensions {
		ext[i] = fmt.Sprintf("%s Art. %d to %s (granted %s)", x.State, x.Article, x.Until, x.Granted)
	}
	line("granted more time", len(s.Extensions), strings.Join(ext, ", "))
	line("Art. 3 still pending at the end, by the record's facts", len(s.Article3Pending), strings.Join(s.Article3Pending, " "))
	line("Art. 4 still pending at the end, by the record's facts", len(s.Article4Pending), strings.Join(s.Article4Pending, " "))
	nk := make([]string, len(s.NotKnown))
	for i, n := range s.NotKnown {
		nk[i] = fmt.Sprintf("%s (complete through %s", n.Facts, n.Through)
		if n.States > 0 {
			nk[i] += fmt.Sprintf("; %d States unknown", n.States)
		}
		nk[i] += ")"
	}
	line("what the record does not know at the end", len(s.NotKnown), strings.Join(nk, ", "))
	fmt.Fprintln(w)
}

// writePeriodEvents summarises the events dated in a diff's period by type,
// or lists them all.
func writePeriodEvents(w io.Writer, evs []projections.PeriodEvent, all bool) {
	fmt.Fprintf(w, "\nEvents dated in the period: %d", len(evs))
	if len(evs) == 0 {
		fmt.Fprintln(w)
		return
	}
	if all {
		fmt.Fprintln(w)
		for _, e := range evs {
			line := fmt.Sprintf("%s %-3s %s: %s [seq %d]", e.Date, orDash(e.State), e.Type, e.Summary, e.Seq)
			fmt.Fprintf(w, "  %s\n", wrap(line, 6, textWidth))
		}
		return
	}
	counts := map[string]int{}
	var order []string
	for _, e := range evs {
		t := string(e.Type)
		if counts[t] == 0 {
			order = append(order, t)
		}
		counts[t]++
	}
	var parts []string
	for _, t := range order {
		parts = append(parts, fmt.Sprintf("%s %d", t, counts[t]))
	}
	fmt.Fprintf(w, "%s\n", wrap(" ("+strings.Join(parts, ", ")+"; --events lists them)", 30, textWidth))
}

func entriesText(es []projections.DiffEntry) string {
	if len(es) == 0 {
		return "-"
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.State
		if e.Date != 0 {
			parts[i] += " (" + e.Date.String() + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// wrap breaks a text into lines of at most width columns, at spaces, for a
// caller that has written indent columns before it: continuation lines are
// indented, the first is not.
func wrap(text string, indent, width int) string {
	return strings.TrimPrefix(wrapWords(text, indent, width), strings.Repeat(" ", indent))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeHistoryText(w io.Writer, h projections.History) error {
	fmt.Fprintln(w, wrapWords(fmt.Sprintf("%s (%s, %s): timeline as of %s, known at %s", h.Name, h.State, h.Region, h.AsOf, knownAtText(h.KnownAt)), 0, textWidth))
	fmt.Fprintln(w)
	typeW := 0
	for _, e := range h.Entries {
		typeW = max(typeW, len(e.Type))
	}
	for _, e := range h.Entries {
		mark := " "
		switch {
		case e.Kind == projections.EntryDerived && e.Upcoming:
			mark = "»"
		case e.Kind == projections.EntryDerived:
			mark = "·"
		case e.Retracted != nil:
			mark = "x"
		}
		var details []string
		if e.Kind == projections.EntryEvent {
			details = append(details, fmt.Sprintf("seq %d; %s", e.Seq, e.Source))
			if e.Retracted != nil {
				details = append(details, fmt.Sprintf("RETRACTED at seq %d: %s", e.Retracted.Seq, e.Retracted.Reason))
			}
		} else if e.Rule != "" {
			details = append(details, e.Rule)
		}
		writeEntry(w, fmt.Sprintf("%-10s  %s  %-*s  ", e.Date, mark, typeW, e.Type), e.Summary, details)
	}
	fmt.Fprintln(w, "\n· derived by a rule   » derived, after the as-of date   x retracted")
	return nil
}

// writeEntry writes prefix and text, then each detail on lines of its own
// under the text, all wrapped to textWidth columns.
func writeEntry(w io.Writer, prefix, text string, details []string) {
	indent := utf8.RuneCountInString(prefix)
	body := wrapWords(text, indent, textWidth)
	fmt.Fprintln(w, prefix+body[indent:])
	for _, d := range details {
		fmt.Fprintln(w, wrapWords(d, indent+2, textWidth))
	}
}

func writeReplayText(w io.Writer, steps []projections.Step) error {
	stateW := 0
	for _, s := range steps {
		stateW = max(stateW, len(s.State))
	}
	for _, s := range steps {
		what := s.Summary
		if s.Derived {
			what = "· " + what
		}
		var ch []string
		for _, c := range s.Changes {
			ch = append(ch, fmt.Sprintf("%s: %s → %s", c.Field, orDash(c.From), orDash(c.To)))
		}
		if s.Retracted != nil {
			ch = append(ch, "retracted at seq "+fmt.Sprint(s.Retracted.Seq))
		}
		var details []string
		if len(ch) > 0 {
			details = append(details, strings.Join(ch, "; "))
		}
		writeEntry(w, fmt.Sprintf("%-10s  %-*s  ", s.Date, stateW, s.State), what, details)
	}
	fmt.Fprintf(w, "\n%d steps (· derived: a change with no event of its own)\n", len(steps))
	return nil
}

// writeMeetingsText writes one meeting per line, its name wrapped in the
// last column.
func writeMeetingsText(w io.Writer, ms []projections.Meeting) error {
	rows := [][]string{{"Code", "From", "To", "City", "Name"}}
	for _, m := range ms {
		rows = append(rows, []string{m.Code, m.Start.String(), m.End.String(), orDash(m.City), m.Name})
	}
	widths := make([]int, 4)
	for _, r := range rows {
		for i := range widths {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	indent := 0
	for _, n := range widths {
		indent += n + 2
	}
	for _, r := range rows {
		var b strings.Builder
		for i, n := range widths {
			b.WriteString(r[i] + strings.Repeat(" ", n-utf8.RuneCountInString(r[i])+2))
		}
		b.WriteString(wrap(r[4], indent, textWidth))
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

func writeSnapshotsText(w io.Writer, infos []projections.SnapshotInfo) error {
	if len(infos) == 0 {
		fmt.Fprintln(w, "No snapshots (`ccm snapshots --refresh` creates them; `ccm serve` keeps them current).")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Meeting\tAs of\tCovers seq\tBehind\tStates\tFacts\tBytes\tUpdated\t")
	for _, s := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", s.Meeting, s.AsOf, s.Seq, s.Behind, s.States, s.Facts, s.Bytes, s.Updated.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return tw.Flush()
}

func writeRefreshText(w io.Writer, st projections.RefreshStats) {
	fmt.Fprintf(w, "ccm: snapshots at sequence %d: %d created, %d updated, %d moved forward, %d unchanged, %d deleted (%d State keys written, %d events read)\n",
		st.Head, st.Created, st.Updated, st.Bumped, st.Unchanged, st.Deleted, st.States, st.Events)
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// textWidth is the width every text output fits in.
const textWidth = 100

func (m *Main) states(ctx context.Context, args []string) error {
	return m.boundedQuery(ctx, "states", args, []string{"text", "json", "csv"}, nil, func(q *query, bounds projections.Bounds) error {
		sts, err := q.engine.Statuses(ctx, bounds)
		if err != nil {
			return err
		}
		rule, _ := q.bounds.annualRule()
		t := projections.TableOf(bounds, projections.Options{AnnualRule: rule}, sts)
		switch q.format.value {
		case "json":
			return writeJSON(m.Stdout, t)
		case "csv":
			return projections.WriteRowsCSV(m.Stdout, t.States)
		}
		return writeStatesText(m.Stdout, t)
	})
}

// writeStatesText writes one line per State in textWidth columns: the
// name is cut to what the other columns leave (CSV and JSON have every
// field).
func writeStatesText(w io.Writer, t projections.StatesTable) error {
	head := fmt.Sprintf("%d States as of %s", len(t.States), t.AsOf)
	if t.Meeting != "" {
		head += " (" + t.Meeting + ")"
	}
	fmt.Fprintf(w, "%s,\nknown at %s\n\n", head, knownAtText(t.KnownAt))
	rows := [][]string{{"State", "Name", "Treaty", "In force", "Art. 3", "Art. 4", "Deadline", "Art. 7", "Annual"}}
	for _, r := range t.States {
		rows = append(rows, []string{r.State, r.Name, r.TreatyStatus, dateOr(r.EntryIntoForce, "-"),
			r.Article3Status, r.Article4Status, nextDeadline(r), r.Article7Initial, annualCell(r.Article7Annual)})
	}
	writeFitted(w, rows, 1, textWidth)
	fmt.Fprintln(w, "\nDeadline: the first deadline of an open Article 3 or 4 obligation. Art. 7: the initial report.")
	fmt.Fprintln(w, "Annual: Article 7 annual reports late (L), submitted late (S), uncertain (?), unknown (U), per")
	fmt.Fprintf(w, "rule %s. Every field and deadline: --format csv or json.\n", t.AnnualRule)
	return nil
}

// nextDeadline is the first deadline of the Article 3 and 4 obligations
// not done with (neither none nor completed), or "-".
func nextDeadline(r projections.StateRow) string {
	var next events.Date
	for _, o := range []struct {
		status   string
		deadline events.Date
	}{{r.Article3Status, r.Article3Deadline}, {r.Article4Status, r.Article4Deadline}} {
		open := o.status != projections.ObligationNone && o.status != projections.ObligationCompleted
		if open && o.deadline != 0 && (next == 0 || o.deadline < next) {
			next = o.deadline
		}
	}
	return dateOr(next, "-")
}

func annualCell(byStatus map[string]int) string {
	var parts []string
	for _, s := range []struct{ status, mark string }{
		{projections.ReportLate, "L"}, {projections.ReportSubmittedLate, "S"},
		{projections.ReportUncertain, "?"}, {projections.Unknown, "U"},
	} {
		if n := byStatus[s.status]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, s.mark))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// writeFitted writes rows as columns two spaces apart, cutting column
// shrink (with "…") so that each line fits in width; columns are measured
// in runes.
func writeFitted(w io.Writer, rows [][]string, shrink, width int) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	total := 2 * (len(widths) - 1)
	for _, n := range widths {
		total += n
	}
	if over := total - width; over > 0 {
		widths[shrink] = max(widths[shrink]-over, 4)
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, c := range r {
			c = cut(c, widths[i])
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// cut shortens s to n runes, the last one an ellipsis when it was longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Verification is what `ccm verify` found in the log.
type Verification struct {
	// Messages and LastSeq describe the log read: its stored messages and
	// the sequence of the last.
	Messages uint64 `json:"messages"`
	LastSeq  uint64 `json:"last_seq"`
	// Counted is the number of events every view counts.
	Counted int `json:"counted"`
	// Quarantined lists the stored messages no view counts.
	Quarantined []events.Quarantined `json:"quarantined"`
	// Findings lists what the counted events break across States.
	Findings []aggregates.Finding `json:"findings"`
}

// errVerifyFound is the error of a verification that found stored messages
// no view counts.
var errVerifyFound = errors.New("the log holds stored messages that no view counts")

// verify reads the whole log through the Convention's rules and reports
// what no view counts.
func (m *Main) verify(ctx context.Context, args []string) error {
	fs := m.flagSet("verify", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	c.noRecord = true // verifying records nothing
	b, err := m.open(ctx, c, openOptions{})
	if err != nil {
		return err
	}
	defer b.close()
	head, err := b.log.Head(ctx)
	if err != nil {
		return err
	}
	last, err := b.ledger.Sync(ctx)
	if err != nil {
		return err
	}
	v := Verification{Messages: head.Msgs, LastSeq: last, Quarantined: b.ledger.Quarantined(), Findings: b.ledger.Findings()}
	if v.Quarantined == nil {
		v.Quarantined = []events.Quarantined{}
	}
	if v.Findings == nil {
		v.Findings = []aggregates.Finding{}
	}
	v.Counted = int(head.Msgs) - len(v.Quarantined)
	if format.value == "json" {
		err = writeJSON(m.Stdout, v)
	} else {
		err = writeVerificationText(m.Stdout, v)
	}
	if err == nil && len(v.Quarantined) > 0 {
		err = errVerifyFound
	}
	return err
}

func writeVerificationText(w io.Writer, v Verification) error {
	fmt.Fprintf(w, "The log holds %d stored messages up to sequence %d; %d are events every view counts.\n", v.Messages, v.LastSeq, v.Counted)
	if len(v.Quarantined) == 0 {
		fmt.Fprintln(w, "Every stored message is an event the Convention's rules accept where it stands.")
	} else {
		fmt.Fprintf(w, "\n%d stored messages are quarantined: no view counts them (they stay in the log, which nobody may edit):\n", len(v.Quarantined))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  Seq\tSubject\tRule\tReason")
		for _, q := range v.Quarantined {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", q.Seq, q.Subject, q.Rule, oneLine(q.Reason))
		}
		tw.Flush()
	}
	if len(v.Findings) > 0 {
		fmt.Fprintf(w, "\n%d counted events break a rule across States:\n", len(v.Findings))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  Seq\tScope\tRule\tReason")
		for _, f := range v.Findings {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", f.Seq, f.Scope, f.Rule, oneLine(f.Reason))
		}
		tw.Flush()
	}
	return nil
}

// oneLine keeps a reason on one line of a table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

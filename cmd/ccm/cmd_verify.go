package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
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
	// Evidence is the check of every message against the signed
	// checkpoints.
	Evidence evidence.Report `json:"evidence"`
}

// errVerifyFound is the error of a verification that found stored messages
// no view counts.
var errVerifyFound = errors.New("the log holds stored messages that no view counts")

// verify checks the log against its signed checkpoints, reads it whole
// through the Convention's rules and reports what no view counts; or checks
// an export or a proof offline, from the public key alone.
func (m *Main) verify(ctx context.Context, args []string) error {
	fs := m.flagSet("verify", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	file := fs.String("file", "", "verify an export (ccm export) offline instead of the live log: every line, against the checkpoints it carries ('-': standard input)")
	proofFile := fs.String("proof", "", "verify an inclusion proof (ccm prove) offline")
	key := fs.String("key", "", "the ledger's public key, or a file holding it (ccm checkpoint --public-key); default on this machine: the local ledger's")
	witness := fs.String("checkpoints", "", "checkpoints a witness kept, one per line as published on ccm.checkpoints.<stream> (e.g. nats sub --raw): checked with the ledger's, so that a log or export cut back after it was signed fails")
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	if *file != "" || *proofFile != "" {
		if *file != "" && *proofFile != "" {
			return usagef("verify: --file or --proof, not both")
		}
		return m.verifyOffline(*file, *proofFile, *key, *witness, format.value)
	}
	witnessed, err := readWitness(*witness)
	if err != nil {
		return err
	}
	c.noRecord = true // verifying records nothing
	b, err := m.open(ctx, c, openOptions{noCheck: true})
	if err != nil {
		return err
	}
	defer b.close()
	public := b.public
	if *key != "" {
		if public, err = notary.ReadPublicKey(*key); err != nil {
			return usagef("verify: --key: %v", err)
		}
	}
	checked, err := notary.Check(ctx, b.log, b.store, public, witnessed...)
	if err != nil {
		return err
	}
	head, err := b.log.Head(ctx)
	if err != nil {
		return err
	}
	last, err := b.ledger.Sync(ctx)
	if err != nil {
		return err
	}
	v := Verification{Messages: head.Msgs, LastSeq: last, Quarantined: b.ledger.Quarantined(), Findings: b.ledger.Findings(), Evidence: checked.Report}
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
	switch {
	case err != nil:
	case v.Evidence.Err() != nil:
		err = errDamaged{v.Evidence.Err()}
	case len(v.Quarantined) > 0:
		err = errVerifyFound
	}
	return err
}

func writeVerificationText(w io.Writer, v Verification) error {
	if err := writeEvidenceText(w, v.Evidence, "The log"); err != nil {
		return err
	}
	fmt.Fprintln(w)
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

// readWitness reads the checkpoints of --checkpoints, if given.
func readWitness(path string) ([]evidence.Stored, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("verify: --checkpoints: %v", err)
	}
	defer f.Close()
	s, err := evidence.ReadCheckpoints(f)
	if err != nil {
		return nil, usagef("verify: --checkpoints %s: %v", path, err)
	}
	return s, nil
}

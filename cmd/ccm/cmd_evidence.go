package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// checkpointCmd signs a checkpoint of the log's head, or prints the public
// key auditors check checkpoints with.
func (m *Main) checkpointCmd(ctx context.Context, args []string) error {
	fs := m.flagSet("checkpoint", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	publicKey := fs.Bool("public-key", false, "print the public key of the ledger's checkpoints (give it to auditors: ccm verify --key)")
	force := fs.Bool("force", false, "sign the head even when a checkpoint already covers it (a newer signing time)")
	newKey := fs.String("new-key", "", "make a checkpoint key in this file (0600, its public part beside it, .pub) for a ledger that cannot write its own, e.g. a container's secret; print its public key")
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	if *newKey != "" {
		k, err := notary.NewKeyFile(*newKey, evidence.Origin(c.stream))
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, k.Public)
		return nil
	}
	if *publicKey {
		k, err := m.publicKeyOfLedger(c)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, k)
		return nil
	}
	cp, err := m.signCheckpoint(ctx, c, *force)
	if err != nil {
		return err
	}
	if format.value == "json" {
		return writeJSON(m.Stdout, cp)
	}
	_, err = m.Stdout.Write(cp.Note)
	return err
}

// signCheckpoint signs as the ledger of a data directory, or asks the
// server's ledger to.
func (m *Main) signCheckpoint(ctx context.Context, c connFlags, force bool) (evidence.Checkpoint, error) {
	if c.dataSet {
		c.noRecord = true
		b, err := m.open(ctx, c, openOptions{})
		if err != nil {
			return evidence.Checkpoint{}, err
		}
		defer b.close()
		return b.sign(ctx, force)
	}
	b, err := m.open(ctx, c, openOptions{role: roles.Recorder, connOnly: true})
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	defer b.close()
	r, err := cmdservice.NewClient(b.nc).Checkpoint(ctx, force)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	// Read, not verified: the key is the auditor's to hold (ccm verify).
	return evidence.ParseUnverified([]byte(r.Checkpoint))
}

// publicKeyOfLedger reads the public key beside the ledger's checkpoint
// key: --checkpoint-key, the data directory's, or the default one's.
func (m *Main) publicKeyOfLedger(c connFlags) (string, error) {
	path := c.checkpointKey
	if path == "" {
		dir := c.data
		if dir == "" {
			dir = m.serveDataDir(c)
		}
		path = filepath.Join(dir, embedded.AuthDir, notary.KeyFile)
	}
	k, err := notary.PublicKeyAt(path)
	if err != nil {
		return "", fmt.Errorf("no checkpoint key at %s (the ledger makes it at its first start; give --data or --checkpoint-key): %w", path, err)
	}
	return k, nil
}

// prove writes the inclusion proof of one event against the latest
// checkpoint.
func (m *Main) prove(ctx context.Context, args []string) error {
	fs := m.flagSet("prove", "ID")
	var c connFlags
	m.addConnFlags(fs, &c)
	out := fs.String("out", "", "write the proof to this file (default standard output)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	id, err := uuid.Parse(pos[0])
	if err != nil {
		return usagef("prove: %q is not an event id (a UUID)", pos[0])
	}
	c.noRecord = true
	b, err := m.open(ctx, c, openOptions{})
	if err != nil {
		return err
	}
	defer b.close()
	p, err := b.proveID(ctx, id)
	if err != nil {
		return err
	}
	j, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	j = append(j, '\n')
	if *out == "" {
		_, err = m.Stdout.Write(j)
		return err
	}
	if err := os.WriteFile(*out, j, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "ccm: wrote the proof of %s (sequence %d of %d signed %s) to %s; check it with ccm verify --proof %s --key PUBLIC-KEY\n",
		id, p.Index+1, p.Size, checkpointTime(p), *out, *out)
	return nil
}

func checkpointTime(p evidence.Proof) string {
	c, err := evidence.ParseUnverified([]byte(p.Checkpoint))
	if err != nil {
		return "?"
	}
	return c.Time.Format(time.RFC3339)
}

// proveID proves the event of id against the latest checkpoint: one the
// ledger signs first when the process is the ledger and none covers it.
func (b *backend) proveID(ctx context.Context, id uuid.UUID) (evidence.Proof, error) {
	if err := b.writable(); err != nil {
		return evidence.Proof{}, err // no proof holds against a damaged log
	}
	seq, err := b.seqOf(ctx, id)
	if err != nil {
		return evidence.Proof{}, err
	}
	if b.key != nil {
		n, err := b.startNotary(ctx, notary.Options{Now: b.m.Now})
		if err != nil {
			return evidence.Proof{}, err
		}
		defer n.Stop()
		return n.Prove(ctx, seq)
	}
	if b.check == nil || b.check.Report.Latest == nil || b.check.Report.Latest.Size < seq {
		return evidence.Proof{}, fmt.Errorf("no checkpoint covers sequence %d yet: `ccm checkpoint` asks the ledger to sign one", seq)
	}
	msg, err := b.log.GetMessage(ctx, seq)
	if err != nil {
		return evidence.Proof{}, err
	}
	e, err := b.log.Get(ctx, seq)
	if err != nil {
		return evidence.Proof{}, err
	}
	return evidence.Prove(b.check.Tree, msg, e, *b.check.Report.Latest)
}

// seqOf returns the sequence of the event id, as the rules admit it.
func (b *backend) seqOf(ctx context.Context, id uuid.UUID) (uint64, error) {
	if _, err := b.ledger.Sync(ctx); err != nil {
		return 0, err
	}
	seq, ok := b.ledger.SeqOf(id)
	if !ok {
		return 0, notFoundf("no event %s in the log (a stored message no view counts cannot be proved as an event)", id)
	}
	return seq, nil
}

// verifyOffline checks an export or a proof from the public key alone.
func (m *Main) verifyOffline(file, proofFile, key, witness, format string) error {
	if key == "" {
		return usagef("verify: --file and --proof need the ledger's public key (--key KEY|FILE; the ledger prints it with ccm checkpoint --public-key)")
	}
	public, err := notary.ReadPublicKey(key)
	if err != nil {
		return usagef("verify: --key: %v", err)
	}
	if proofFile != "" {
		return m.verifyProof(proofFile, public, format)
	}
	var in io.Reader = m.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	witnessed, err := readWitness(witness)
	if err != nil {
		return err
	}
	r, err := evidence.VerifyExport(in, public, witnessed...)
	if err != nil {
		return err
	}
	if format == "json" {
		err = writeJSON(m.Stdout, r)
	} else {
		err = writeEvidenceText(m.Stdout, r, "The export")
	}
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return errDamaged{err}
	}
	return nil
}

func (m *Main) verifyProof(file, public, format string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var p evidence.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("%s: not a proof: %w", file, errors.Join(err, evidence.ErrTampered))
	}
	e, c, err := evidence.VerifyProof(p, public)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if format == "json" {
		return writeJSON(m.Stdout, map[string]any{"event": json.RawMessage(p.Event), "checkpoint": c, "verified": true})
	}
	fmt.Fprintf(m.Stdout, "The proof holds: event %s (%s %s %s, sequence %d, recorded %s)\n", e.ID, e.Type, e.Scope(), e.Date, e.Seq, e.Recorded.UTC().Format(time.RFC3339))
	fmt.Fprintf(m.Stdout, "is in the history of %d messages the ledger %s signed at %s.\n", c.Size, c.Origin, c.Time.Format(time.RFC3339))
	return nil
}

// writeEvidenceText says what a verification against the checkpoints
// found.
func writeEvidenceText(w io.Writer, r evidence.Report, what string) error {
	key := "signed by the key given"
	if !r.KeyChecked {
		key = "(signatures not checked: no public key; give --key)"
	}
	fmt.Fprintf(w, "%s holds %d messages; %d checkpoints %s.\n", what, r.Messages, r.Checkpoints, key)
	if r.Latest != nil {
		fmt.Fprintln(w, wrap(fmt.Sprintf("Latest checkpoint: %d messages, signed %s, root %s.", r.Latest.Size, r.Latest.Time.Format(time.RFC3339),
			base64.StdEncoding.EncodeToString(r.Latest.Root[:])), 2, textWidth))
	}
	if r.Unsigned > 0 {
		fmt.Fprintf(w, "%d messages after it are not signed yet (the ledger signs every few minutes or events; ccm checkpoint asks now).\n", r.Unsigned)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "Every message is the one the checkpoints signed, in its place, none missing.")
		return nil
	}
	fmt.Fprintf(w, "\nTAMPERED OR DAMAGED: %d problem(s), the first bad sequence first:\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	return nil
}

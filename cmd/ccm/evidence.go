package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// maxDamageLines bounds the problems a command prints on standard error
// before it stops; `ccm verify` lists them all.
const maxDamageLines = 10

// openEvidence opens the log's evidence and checks the log against it:
// every command says so when the log is not what its checkpoints signed,
// and stops (exit 9) unless --allow-damaged. A process that is the ledger
// (a data directory, or serve) holds the checkpoint key, made at first
// start.
func (b *backend) openEvidence(ctx context.Context, c connFlags, dataDir string, o openOptions) error {
	var err error
	if b.store, err = notary.OpenStore(ctx, b.nc, b.log.JetStream(), b.log.StreamName()); err != nil {
		return err
	}
	origin := evidence.Origin(b.log.StreamName())
	if dataDir != "" || o.serving {
		path := c.checkpointKey
		if path == "" {
			if dataDir == "" {
				dataDir = b.m.defaultDataDir()
			}
			path = filepath.Join(dataDir, embedded.AuthDir, notary.KeyFile)
		}
		k, err := notary.EnsureKey(path, origin)
		if err != nil {
			return err
		}
		b.key, b.public = &k, k.Public
	} else {
		b.public = b.m.localPublicKey(c)
	}
	if o.noCheck {
		return nil
	}
	res, err := notary.Check(ctx, b.log, b.store, b.public)
	if err != nil {
		return fmt.Errorf("check the log against its checkpoints: %w", err)
	}
	b.check = &res
	return b.m.reportDamage(res.Report, c.allowDamaged)
}

// localPublicKey is the public key of a ccm serve on this machine, for a
// command that gives none: beside its key, or in the credentials directory
// the connection used. "" when there is none (the roots are compared, the
// signatures not).
func (m *Main) localPublicKey(c connFlags) string {
	paths := []string{c.checkpointKey}
	dir := c.authDir
	if dir == "" {
		dir = filepath.Join(m.defaultDataDir(), embedded.AuthDir)
	}
	if loopbackURL(c.url) {
		paths = append(paths, filepath.Join(dir, notary.KeyFile))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		k, err := notary.PublicKeyAt(p)
		if origin, oerr := evidence.KeyOrigin(k); err == nil && oerr == nil && origin == evidence.Origin(c.stream) {
			return k
		}
	}
	return ""
}

// reportDamage prints what a check found wrong, and returns the damage
// unless the user goes on.
func (m *Main) reportDamage(r evidence.Report, goOn bool) error {
	err := r.Err()
	if err == nil {
		return nil
	}
	fmt.Fprintf(m.Stderr, "ccm: the log is not the history its checkpoints signed (tampered or damaged); %d problem(s):\n", len(r.Problems))
	for i, p := range r.Problems {
		if i == maxDamageLines {
			fmt.Fprintf(m.Stderr, "  ... and %d more (`ccm verify` lists them all)\n", len(r.Problems)-i)
			break
		}
		fmt.Fprintf(m.Stderr, "  %s\n", p)
	}
	if goOn {
		fmt.Fprintln(m.Stderr, "ccm: going on (--allow-damaged): what follows may not be the history the ledger signed, and nothing is recorded; docs/recovery.md says how to recover")
		return nil
	}
	fmt.Fprintln(m.Stderr, "ccm: stopped: recover the log (docs/recovery.md), or give --allow-damaged to read it as it is")
	return errDamaged{err}
}

// errDamaged is the damage a command stopped on, already printed.
type errDamaged struct{ err error }

func (e errDamaged) Error() string { return e.err.Error() }
func (e errDamaged) Unwrap() error { return e.err }

// writable refuses a write to a log that failed its check.
func (b *backend) writable() error {
	if b.check != nil && b.check.Report.Err() != nil {
		return notary.ErrDamaged
	}
	return nil
}

// startNotary starts the notary of a process that is the ledger, on the
// result of the check at open.
func (b *backend) startNotary(ctx context.Context, o notary.Options) (*notary.Notary, error) {
	if b.key == nil {
		return nil, errors.New("no checkpoint key: only the ledger signs checkpoints (ccm serve, or a data directory)")
	}
	return notary.Start(ctx, b.log, b.store, *b.key, b.check, o)
}

// signHead signs a checkpoint of the log's head when the process is the
// ledger and the head is not signed yet: after a one-shot write on a data
// directory, so that what it recorded is covered at once.
func (b *backend) signHead(ctx context.Context) (*evidence.Checkpoint, error) {
	if b.key == nil || b.writable() != nil {
		return nil, nil
	}
	cp, err := b.sign(ctx, false)
	if errors.Is(err, notary.ErrEmpty) {
		return nil, nil
	}
	return &cp, err
}

// sign signs a checkpoint of the log's head as the ledger (see
// notary.Notary.Checkpoint).
func (b *backend) sign(ctx context.Context, force bool) (evidence.Checkpoint, error) {
	n, err := b.startNotary(ctx, notary.Options{Now: b.m.Now})
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	defer n.Stop()
	cp, err := n.Checkpoint(ctx, force)
	if err != nil {
		return evidence.Checkpoint{}, fmt.Errorf("sign a checkpoint: %w", err)
	}
	if b.check != nil {
		// The next notary of this process extends it, with a
		// consistency proof.
		b.check.Report.Latest = &cp
	}
	return cp, nil
}

// servedEvidence is the evidence of a running serve for the HTTP API.
type servedEvidence struct {
	n      *notary.Notary
	store  *notary.Store
	ledger *aggregates.Ledger
}

func (e servedEvidence) Latest() *evidence.Checkpoint { return e.n.Latest() }
func (e servedEvidence) PublicKey() string            { return e.n.PublicKey() }
func (e servedEvidence) Damaged() error               { return e.n.Damaged() }

func (e servedEvidence) Stored(ctx context.Context) ([]evidence.Stored, error) {
	stored, _, err := e.store.Load(ctx)
	return stored, err
}

func (e servedEvidence) Prove(ctx context.Context, id uuid.UUID) (evidence.Proof, error) {
	if _, err := e.ledger.Sync(ctx); err != nil {
		return evidence.Proof{}, err
	}
	seq, ok := e.ledger.SeqOf(id)
	if !ok {
		return evidence.Proof{}, httpapi.NotFound("no event " + id.String() + " in the log")
	}
	return e.n.Prove(ctx, seq)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// writer is the one writer of `ccm serve`: a Ledger that the command
// service and the HTTP API share, so that their commands are decided one
// after the other on the same view of the log.
type writer struct {
	ledger *aggregates.Ledger
	// guarded is the ledger as the commands and the HTTP API reach it:
	// refusing writes while the log is damaged.
	guarded guarded
	store   *httpapi.CountingStore
	svc     *cmdservice.Service
}

// guarded refuses every write to a log that failed its check against its
// checkpoints, until an operator recovers it (and restarts serve).
type guarded struct {
	*aggregates.Ledger
	damaged func() error
}

func (g guarded) RecordCommand(ctx context.Context, evs ...events.Envelope) ([]aggregates.Outcome, error) {
	if err := g.damaged(); err != nil {
		return nil, err
	}
	return g.Ledger.RecordCommand(ctx, evs...)
}

func (g guarded) Import(ctx context.Context, evs []events.Envelope, progress func(done, total int)) (aggregates.ImportResult, error) {
	if err := g.damaged(); err != nil {
		return aggregates.ImportResult{}, err
	}
	return g.Ledger.Import(ctx, evs, progress)
}

// newWriterLedger returns the writer's ledger, not yet read: the live fold
// feeds it (projections.LiveFeed).
func newWriterLedger(b *backend, now func() time.Time) *writer {
	w := &writer{store: httpapi.CountStore(b.log)}
	w.ledger = aggregates.NewLedger(w.store, now)
	return w
}

// startWriter answers the recorders' commands on the ledger's connection
// with w's ledger.
func (m *Main) startWriter(ctx context.Context, b *backend, w *writer, n *notary.Notary, partTimeout time.Duration) (*writer, error) {
	w.guarded = guarded{Ledger: w.ledger, damaged: n.Damaged}
	// Read what the live fold has not given it yet, so that the first
	// commands decide on what is recorded rather than learning it from a
	// conflict.
	if _, err := w.ledger.Sync(ctx); err != nil {
		return nil, err
	}
	svc, err := cmdservice.Start(b.nc, cmdservice.Config{
		Recorder: w.guarded, Notary: n, Version: semver(version()), PartTimeout: partTimeout,
		Logf: m.logf("commands"),
	})
	if err != nil {
		return nil, err
	}
	w.svc = svc
	// A user who may not answer commands is told at once, not left
	// waiting for commands that never come.
	if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
		w.stop()
		return nil, fmt.Errorf("commands: %w", err)
	}
	if err := b.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		w.stop()
		return nil, fmt.Errorf("commands: %w (ccm serve connects as the ledger's user)", err)
	}
	return w, nil
}

func (w *writer) stop() {
	if w.svc != nil {
		w.svc.Stop()
	}
}

var semverRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// semver gives the version in the form NATS services announce (1.2.3): a
// module version without its v, or 0.0.0-devel for a build from a work
// tree.
func semver(v string) string {
	v = strings.TrimPrefix(v, "v")
	if !semverRe.MatchString(v) {
		return "0.0.0-devel"
	}
	return v
}

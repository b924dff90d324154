package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// witness keeps copies of the ledger's checkpoints outside the ledger, and
// checks that each new one is signed by the ledger's key and extends the
// ones kept: a history the ledger signed cannot be rewritten, or its
// evidence cut back, without the witness saying so.
func (m *Main) witness(ctx context.Context, args []string) error {
	fs := m.flagSet("witness", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	key := fs.String("key", "", "the ledger's public key, or a file holding it (required)")
	out := fs.String("out", "", "the file of checkpoints kept, one per line, appended to (required); `ccm verify --checkpoints FILE` checks a log or an export against it")
	once := fs.Bool("once", false, "take the checkpoints stored so far, and stop (default: then follow new ones until interrupted)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	if *key == "" || *out == "" {
		return usagef("witness: --key and --out are required")
	}
	public, err := notary.ReadPublicKey(*key)
	if err != nil {
		return usagef("witness: --key: %v", err)
	}
	w, err := openWitness(*out, public)
	if err != nil {
		return err
	}
	defer w.close()
	c.noRecord = true
	b, err := m.open(ctx, c, openOptions{connOnly: true, role: roles.Service})
	if err != nil {
		return err
	}
	defer b.close()
	subject := notary.CheckpointSubject(c.stream)
	// Subscribed first, so that none signed while the stored ones are read
	// is missed (one seen twice is kept once).
	msgs := make(chan *nats.Msg, 256)
	sub, err := b.nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return fmt.Errorf("witness: subscribe %s: %w", subject, err)
	}
	defer sub.Unsubscribe()
	if err := b.nc.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	stored, err := storedCheckpoints(ctx, b.nc, c.stream)
	if err != nil {
		return err
	}
	for _, s := range stored {
		if err := w.take(s, m); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.Stderr, "ccm: witness: %d checkpoints kept in %s, the latest of %d messages\n", w.kept, *out, w.latestSize())
	if *once {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-msgs:
			var s evidence.Stored
			if err := json.Unmarshal(msg.Data, &s); err != nil {
				return fmt.Errorf("witness: a message on %s that is no checkpoint: %w", subject, errors.Join(err, evidence.ErrTampered))
			}
			if err := w.take(s, m); err != nil {
				return err
			}
		}
	}
}

// storedCheckpoints reads the checkpoints in the evidence stream with direct
// gets, which the service role may make.
func storedCheckpoints(ctx context.Context, nc *nats.Conn, logStream string) ([]evidence.Stored, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, notary.StreamName(logStream))
	if err != nil {
		return nil, fmt.Errorf("witness: the evidence stream %s: %w", notary.StreamName(logStream), err)
	}
	var out []evidence.Stored
	for seq := uint64(1); ; seq++ {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(notary.CheckpointSubject(logStream)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("witness: read the stored checkpoints: %w", err)
		}
		var s evidence.Stored
		if err := json.Unmarshal(m.Data, &s); err != nil {
			return nil, fmt.Errorf("witness: stored message %d is no checkpoint: %w", m.Sequence, errors.Join(err, evidence.ErrTampered))
		}
		out = append(out, s)
		seq = m.Sequence
	}
}

// witnessFile is the checkpoints a witness kept, and the file they go to.
type witnessFile struct {
	public string
	origin string
	f      *os.File
	bySize map[uint64]evidence.Checkpoint
	seen   map[string]bool
	latest *evidence.Checkpoint
	kept   int
}

func openWitness(path, public string) (*witnessFile, error) {
	origin, err := evidence.KeyOrigin(public)
	if err != nil {
		return nil, err
	}
	w := &witnessFile{public: public, origin: origin, bySize: map[uint64]evidence.Checkpoint{}, seen: map[string]bool{}}
	if b, err := os.Open(path); err == nil {
		kept, err := evidence.ReadCheckpoints(b)
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("witness: %s: %w", path, err)
		}
		for _, s := range kept {
			c, err := w.check(s)
			if err != nil {
				return nil, fmt.Errorf("witness: %s, a checkpoint kept before: %w", path, err)
			}
			w.note(s, c)
		}
	}
	w.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	return w, nil
}

func (w *witnessFile) close() { w.f.Close() }

func (w *witnessFile) latestSize() uint64 {
	if w.latest == nil {
		return 0
	}
	return w.latest.Size
}

// check verifies a checkpoint against the key and the ones kept.
func (w *witnessFile) check(s evidence.Stored) (evidence.Checkpoint, error) {
	c, err := evidence.Open([]byte(s.Note), w.origin, w.public)
	if err != nil {
		return c, fmt.Errorf("%w: %v", evidence.ErrTampered, err)
	}
	if prev, ok := w.bySize[c.Size]; ok && prev.Root != c.Root {
		return c, fmt.Errorf("%w: two checkpoints of %d messages with different roots (signed %s and %s): the ledger signed two histories",
			evidence.ErrTampered, c.Size, prev.Time.Format(time.RFC3339), c.Time.Format(time.RFC3339))
	}
	if w.latest == nil || c.Size <= w.latest.Size {
		return c, nil
	}
	// It must extend the latest kept: by its own proof when it was signed
	// right after it, else it cannot be checked here (a checkpoint
	// missed), and the next `ccm verify --checkpoints` checks both
	// against the log.
	if s.From == w.latest.Size {
		if err := evidence.VerifyConsistency(s.From, c.Size, s.Consistency, w.latest.Root, c.Root); err != nil {
			return c, fmt.Errorf("%w: the checkpoint of %d messages (signed %s) does not extend the one of %d kept: the history it signed was rewritten",
				evidence.ErrTampered, c.Size, c.Time.Format(time.RFC3339), w.latest.Size)
		}
	}
	return c, nil
}

func (w *witnessFile) note(s evidence.Stored, c evidence.Checkpoint) {
	w.bySize[c.Size] = c
	w.seen[s.Note] = true
	if w.latest == nil || c.Size > w.latest.Size {
		w.latest = &c
	}
	w.kept++
}

// take checks a checkpoint and keeps it, once.
func (w *witnessFile) take(s evidence.Stored, m *Main) error {
	if w.seen[s.Note] {
		return nil
	}
	c, err := w.check(s)
	if err != nil {
		return errDamagedf(m, "witness: %v", err)
	}
	line, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	w.note(s, c)
	fmt.Fprintf(m.Stdout, "kept: %d messages, signed %s\n", c.Size, c.Time.Format(time.RFC3339))
	return nil
}

// errDamagedf prints a tamper finding and returns it, printed, for exit 9.
func errDamagedf(m *Main, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	fmt.Fprintf(m.Stderr, "ccm: %v\n", err)
	return errDamaged{err}
}

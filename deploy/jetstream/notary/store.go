// Package notary keeps the evidence of the ledger's log on JetStream and
// checks the log against it (see events/evidence for the tree, the
// checkpoints and the proofs).
//
// The evidence lives in a stream of its own, <log>_EVIDENCE, beside the
// log: the signed checkpoints on ccm.checkpoints.<log>, where any service
// may subscribe and keep copies (a witness), and the leaf hashes on
// ccm.leaves.<log>, which only locate a bad message (the checkpoints are the
// proof). Nobody deletes from it, as from the log.
//
// Guarantees:
//   - Check reads every stored message and names the first one that is not
//     what the checkpoints signed, or the first missing one; it never writes.
//   - A Notary signs only a log that passed Check since it started: a
//     damaged log is never signed over (that would launder the damage), and
//     Damaged says so until the log is recovered and the notary restarted.
//   - Every checkpoint after the first carries its consistency proof from
//     the one before, so a witness holding only checkpoints can check that
//     no signed history was rewritten.
package notary

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// StreamName returns the evidence stream of a log's stream.
func StreamName(logStream string) string { return logStream + "_EVIDENCE" }

// CheckpointSubject is where the checkpoints of a log are published.
func CheckpointSubject(logStream string) string { return "ccm.checkpoints." + logStream }

// LeavesSubject is where the leaf hashes of a log are stored.
func LeavesSubject(logStream string) string { return "ccm.leaves." + logStream }

// leavesPerMsg bounds a leaves message to 512 KiB, under the server's
// default maximum payload.
const leavesPerMsg = 16384

// Header of a leaves message: the sequence of its first leaf.
const headerFrom = "Ccm-Leaves-From"

// StreamConfig returns the configuration of the evidence stream: kept
// forever, never deleted from, as the log.
func StreamConfig(logStream string, replicas int) jetstream.StreamConfig {
	if replicas == 0 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        StreamName(logStream),
		Description: "ccm-ledger: signed checkpoints and leaf hashes of the log " + logStream,
		Subjects:    []string{CheckpointSubject(logStream), LeavesSubject(logStream)},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		AllowDirect: true,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// Create makes the evidence stream when it is missing: the operator's part.
func Create(ctx context.Context, js jetstream.JetStream, logStream string, replicas int) error {
	if _, err := js.Stream(ctx, StreamName(logStream)); err == nil {
		return nil
	}
	if _, err := js.CreateStream(ctx, StreamConfig(logStream, replicas)); err != nil {
		return fmt.Errorf("create stream %s: %w", StreamName(logStream), err)
	}
	return nil
}

// ErrNoStore marks a server without the evidence stream: the operator
// creates it (`ccm init`).
var ErrNoStore = errors.New("no evidence stream")

// Store is the evidence stream of one log.
type Store struct {
	js        jetstream.JetStream
	nc        *nats.Conn
	logStream string
	stream    jetstream.Stream // nil when the stream does not exist
}

// OpenStore opens the evidence of logStream, creating nothing. A missing
// stream is no error: the store then holds nothing and refuses writes with
// ErrNoStore.
func OpenStore(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, logStream string) (*Store, error) {
	s := &Store{js: js, nc: nc, logStream: logStream}
	st, err := js.Stream(ctx, StreamName(logStream))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("open stream %s: %w", StreamName(logStream), err)
	}
	s.stream = st
	return s, nil
}

// Exists reports whether the evidence stream exists.
func (s *Store) Exists() bool { return s.stream != nil }

// Load returns every stored checkpoint, in the order stored, and the leaf
// hashes, from the first. Leaves stored twice (two notaries) count once.
func (s *Store) Load(ctx context.Context) ([]evidence.Stored, []evidence.Hash, error) {
	if s.stream == nil {
		return nil, nil, nil
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: %w", err)
	}
	last := info.State.LastSeq
	var stored []evidence.Stored
	var leaves []evidence.Hash
	if last == 0 {
		return nil, nil, nil
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName(s.logStream), jetstream.OrderedConsumerConfig{InactiveThreshold: 30 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: %w", err)
	}
	defer jslog.DropConsumer(s.js, StreamName(s.logStream), cons)
	// Leaves messages are up to 512 KiB: a small batch bounds what a pull
	// holds.
	err = jslog.Iterate(ctx, cons, 64, func(m jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
		switch m.Subject() {
		case CheckpointSubject(s.logStream):
			var cp evidence.Stored
			if err := json.Unmarshal(m.Data(), &cp); err != nil {
				// Kept as is: verification says it is not a checkpoint.
				cp = evidence.Stored{Note: string(m.Data())}
			}
			stored = append(stored, cp)
		case LeavesSubject(s.logStream):
			leaves = appendLeaves(leaves, m)
		}
		return md.Sequence.Stream >= last, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: %w", err)
	}
	return stored, leaves, nil
}

// appendLeaves adds the leaves of one message that extend leaves; others
// (repeated, malformed, or after a hole) are left out: the leaves only
// locate, and a left-out leaf makes a location coarser, not wrong.
func appendLeaves(leaves []evidence.Hash, m jetstream.Msg) []evidence.Hash {
	from, err := strconv.ParseUint(m.Headers().Get(headerFrom), 10, 64)
	data := m.Data()
	if err != nil || from == 0 || from > uint64(len(leaves))+1 || len(data)%32 != 0 {
		return leaves
	}
	skip := uint64(len(leaves)) + 1 - from
	for i := skip * 32; i+32 <= uint64(len(data)); i += 32 {
		leaves = append(leaves, evidence.Hash(data[i:i+32]))
	}
	return leaves
}

// Publish stores the leaves from sequence from, then the checkpoint, and
// waits for the server to acknowledge each.
func (s *Store) Publish(ctx context.Context, from uint64, leaves []evidence.Hash, cp evidence.Stored) error {
	if s.stream == nil {
		return fmt.Errorf("%w %s: the operator creates it with `ccm init`", ErrNoStore, StreamName(s.logStream))
	}
	for i := 0; i < len(leaves); i += leavesPerMsg {
		chunk := leaves[i:min(i+leavesPerMsg, len(leaves))]
		data := make([]byte, 0, len(chunk)*32)
		for _, h := range chunk {
			data = append(data, h[:]...)
		}
		m := nats.NewMsg(LeavesSubject(s.logStream))
		m.Header.Set(headerFrom, strconv.FormatUint(from+uint64(i), 10))
		m.Data = data
		if _, err := s.js.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("store leaves: %w", err)
		}
	}
	body, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	m := nats.NewMsg(CheckpointSubject(s.logStream))
	m.Data = body
	// The note's hash as the message id: a checkpoint stored twice (a
	// retried publish) is stored once.
	m.Header.Set(jetstream.MsgIDHeader, msgID(cp.Note))
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	return nil
}

func msgID(note string) string {
	h := evidence.LeafHash([]byte(note))
	return "cp-" + strconv.FormatUint(binary.BigEndian.Uint64(h[:8]), 16)
}

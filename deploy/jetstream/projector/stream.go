package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// Names of the projector's JetStream resources.
const (
	// DefaultStream holds the derived compliance events under
	// ccm.compliance.<scope>.<kind>.
	DefaultStream = "CCM_COMPLIANCE"
	// DefaultBucket is the KV bucket of the projector's checkpoint.
	DefaultBucket = "CCM_PROJECTOR"
	// DefaultDurable is the durable consumer on the log.
	DefaultDurable = "ccm-projector"
	// checkpointKey is the key of the checkpoint in the bucket.
	checkpointKey = "checkpoint"
)

// StreamConfig returns the configuration of the compliance stream: file
// storage, no limits (nothing published is ever dropped), delete and purge
// denied, a duplicate window for the Nats-Msg-Id dedup, direct get for the
// last event of a State.
func StreamConfig(name string, replicas int, duplicates time.Duration) jetstream.StreamConfig {
	if name == "" {
		name = DefaultStream
	}
	if replicas == 0 {
		replicas = 1
	}
	if duplicates == 0 {
		duplicates = 2 * time.Minute
	}
	return jetstream.StreamConfig{
		Name:        name,
		Description: "ccm-ledger: derived compliance events of the Convention on Cluster Munitions",
		Subjects:    []string{compliance.SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxMsgSize:  1 << 20,
		Duplicates:  duplicates,
		AllowDirect: true,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// EnsureStream opens the compliance stream, creating it when absent.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("compliance stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// ReadEvents calls fn for each compliance event stored on subjects matching
// filter, from stream sequence from on, up to the last one stored when the
// read starts. It returns the sequence of the last event read (0 if none).
func ReadEvents(ctx context.Context, js jetstream.JetStream, stream, filter string, from uint64, fn func(seq uint64, e compliance.Event) error) (uint64, error) {
	if from == 0 {
		from = 1
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filter, err)
	}
	info := cons.CachedInfo()
	if info == nil || info.NumPending == 0 {
		return 0, nil
	}
	// A lost pull request (a consumer placed on a server that learns of
	// the request's subject late) is noticed after two missed heartbeats
	// and the ordered consumer is made again: one second each, not five.
	it, err := cons.Messages(jetstream.PullMaxMessages(512), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filter, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var last uint64
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, fmt.Errorf("read %s: %w", filter, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return last, err
		}
		var e compliance.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			return last, fmt.Errorf("compliance event %d on %s: %w", md.Sequence.Stream, m.Subject(), err)
		}
		last = md.Sequence.Stream
		if err := fn(last, e); err != nil {
			return last, err
		}
		if md.NumPending == 0 {
			return last, nil
		}
	}
}

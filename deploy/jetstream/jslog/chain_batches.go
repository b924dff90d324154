package jslog

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// maxBatchBytes bounds the payload of one atomic batch of a chain, which a
// replicated stream's leader stages in memory before committing it.
const maxBatchBytes = 8 << 20

// batchTimeout bounds the wait for one batch of a chain to be stored. A
// leader that fails during a batch never answers its commit; the chain
// then fails after this long, and the caller resumes it from what the log
// holds.
const batchTimeout = 2 * AsyncAckTimeout

// replicated reports whether the log's stream has more than one replica
// (as the stream was when the log was opened).
func (l *Log) replicated() bool {
	info := l.stream.CachedInfo()
	return info != nil && info.Config.Replicas > 1
}

// appendChainBatches is AppendChain on a replicated stream: the events
// go in consecutive atomic batches of at most MaxBatch events, each
// stored only if the stream's last sequence is the one the previous batch
// ended at (after, for the first). A batch is stored whole or not at all,
// and the next is sent only once the previous one is acknowledged, so a
// failure leaves a stored prefix of whole batches and nothing after it.
//
// The pipelined chain of AppendChain cannot run on a replicated stream:
// each of its links expects the previous link's id (Nats-Expected-Last-
// Msg-Id), and nats-server (2.15.2) checks that header again when a
// follower applies the message, against the last id the follower
// recorded. A follower that caught up from a copy of the stream (after a
// restart) has not recorded it: it fails the next chained message with
// "last msgid mismatch", a critical write error, and stops following
// the stream for good.
func (l *Log) appendChainBatches(ctx context.Context, after uint64, evs []events.Envelope, progress func(done int)) (int, uint64, error) {
	appended, last := 0, after
	for appended < len(evs) {
		var msgs []*nats.Msg
		size := 0
		for _, e := range evs[appended:] {
			m := l.msg(e)
			if len(msgs) == MaxBatch || (len(msgs) > 0 && size+len(m.Data) > maxBatchBytes) {
				break
			}
			size += len(m.Data)
			msgs = append(msgs, m)
		}
		msgs[0].Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(last, 10))
		bctx, cancel := context.WithTimeout(ctx, batchTimeout)
		ack, err := l.publishBatch(bctx, msgs)
		cancel()
		if err != nil {
			return appended, last, translate(err, "the ledger", last)
		}
		if want := last + uint64(len(msgs)); ack.Sequence != want {
			return appended, last, fmt.Errorf("events %d to %d stored up to %d, expected %d: %w", appended+1, appended+len(msgs), ack.Sequence, want, events.ErrConflict)
		}
		appended += len(msgs)
		last = ack.Sequence
		if progress != nil {
			progress(appended)
		}
	}
	return appended, last, nil
}

// publishBatch stores msgs as one atomic batch. It returns as soon as the
// server refuses the user's publish (ctx from guard ends with a
// *PermissionError), which jetstreamext.PublishMsgBatch does not notice
// while it waits for the first message's acknowledgement; the abandoned
// call ends by its own timeout. Any other end of ctx is left to
// PublishMsgBatch, so that the caller learns whether the batch was stored.
func (l *Log) publishBatch(ctx context.Context, msgs []*nats.Msg) (*jetstreamext.BatchAck, error) {
	type result struct {
		ack *jetstreamext.BatchAck
		err error
	}
	done := make(chan result, 1)
	go func() {
		ack, err := jetstreamext.PublishMsgBatch(ctx, l.js, msgs)
		done <- result{ack, err}
	}()
	select {
	case r := <-done:
		return r.ack, r.err
	case <-ctx.Done():
		var pe *PermissionError
		if errors.As(context.Cause(ctx), &pe) {
			return nil, pe
		}
		r := <-done
		return r.ack, r.err
	}
}

// Package jslog is the ledger's event log on NATS JetStream: one stream
// (CCM by default) holding every event under ccm.events.<scope>.<type>,
// with file storage, no limits, and delete and purge denied.
//
// Appends check optimistic concurrency over all subjects of one scope (a
// State, or the Convention) with the server-side expected-last-subject-
// sequence header on the wildcard ccm.events.<scope>.>, deduplicate by
// event id (Nats-Msg-Id), and store the events of one command atomically
// (an ADR-50 atomic batch). Bulk imports are pipelined and chained with the
// stream-wide expected last sequence, so that nothing can interleave with
// them. Reads replay by stream sequence with ordered consumers; live
// followers use durable consumers and acknowledge only handled events.
//
// Errors from the server are translated here into the sentinels of package
// events: events.ErrConflict and events.ErrDuplicate.
package jslog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// DefaultStream is the name of the ledger's stream.
const DefaultStream = "CCM"

// AnyVersion, passed as the expected version to Append, skips the
// concurrency check.
const AnyVersion uint64 = math.MaxUint64

// AsyncAckTimeout bounds the wait for the acknowledgement of one pipelined
// publish of AppendChain, and the wait for room in its window of 256
// unacknowledged publishes. A server that fails with publishes in flight
// never answers them; the chain then fails after this long, and the
// caller resumes it from what the log holds.
const AsyncAckTimeout = 5 * time.Second

// MaxBatch is the most events one atomic append may carry (the server's
// default atomic batch limit).
const MaxBatch = 1000

// Config configures the log.
type Config struct {
	// Stream is the stream name; default DefaultStream.
	Stream string
	// Replicas is the stream's replica count: 1 on an embedded server, 3
	// in a cluster. Default 1.
	Replicas int
	// Duplicates is the window in which the server drops a repeated event
	// id; default 2 minutes. Idempotency beyond it comes from the
	// aggregates, which refuse an id the ledger already holds.
	Duplicates time.Duration
	// Inspect opens a stream unfit for the ledger too (see Open), for
	// verification: Log.Unfit says what is wrong with it.
	Inspect bool
}

// Log is the ledger's event log on one JetStream stream. It is safe for
// concurrent use.
type Log struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	cfg    Config
	filter string
	unfit  error
}

// StreamConfig returns the configuration the ledger requires of its
// stream. Limits are unlimited with DiscardNew so that no event is ever
// dropped to make room; delete and purge are denied (one-way switches).
func StreamConfig(c Config) jetstream.StreamConfig {
	c = c.withDefaults()
	return jetstream.StreamConfig{
		Name:               c.Stream,
		Description:        "ccm-ledger: events of the Convention on Cluster Munitions",
		Subjects:           []string{events.SubjectPrefix + ">"},
		Storage:            jetstream.FileStorage,
		Replicas:           c.Replicas,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		MaxAge:             0,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         events.MaxLineBytes,
		Duplicates:         c.Duplicates,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		DenyDelete:         true,
		DenyPurge:          true,
	}
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	return c
}

// ErrNoLog marks a server that has no stream of the ledger's yet: the
// operator creates it (`ccm init`; `ccm serve` on a data directory does it
// itself).
var ErrNoLog = errors.New("the ledger's stream does not exist")

// Open opens the log's existing stream on nc, creating nothing: any user who
// may read it can. The stream is checked: Open fails if it could lose or
// alter events (limits, discarding, delete or purge allowed) or lacks what
// the ledger needs (atomic batches, direct get). Errors: ErrNoLog when the
// stream does not exist.
func Open(ctx context.Context, nc *nats.Conn, c Config) (*Log, error) {
	return open(ctx, nc, c, false)
}

// Create opens the log, creating its stream when it does not exist: the
// operator's part (roles.Operator), which no other role may do.
func Create(ctx context.Context, nc *nats.Conn, c Config) (*Log, error) {
	return open(ctx, nc, c, true)
}

func open(ctx context.Context, nc *nats.Conn, c Config, create bool) (l *Log, err error) {
	c = c.withDefaults()
	ctx, explain := guard(ctx, nc, jsAPI)
	defer func() { err = explain(err) }()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256), jetstream.WithPublishAsyncTimeout(AsyncAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	want := StreamConfig(c)
	st, err := js.Stream(ctx, c.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && create:
		st, err = js.CreateStream(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", c.Stream, err)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("open stream %s: %w (the operator creates it with `ccm init`)", c.Stream, ErrNoLog)
	case err != nil:
		return nil, fmt.Errorf("open stream %s: %w", c.Stream, err)
	}
	unfit := checkStream(st.CachedInfo().Config, want)
	if unfit != nil && !c.Inspect {
		return nil, unfit
	}
	if n := st.CachedInfo().Config.Replicas; n > 0 {
		c.Replicas = n
	}
	return &Log{nc: nc, js: js, stream: st, cfg: c, filter: events.SubjectPrefix + ">", unfit: unfit}, nil
}

// ErrUnfit marks a stream that could lose or alter events, or lacks what
// the ledger needs.
var ErrUnfit = errors.New("not fit for the ledger")

// Unfit returns what made the stream unfit for the ledger when it was
// opened with Config.Inspect (an error wrapping ErrUnfit), or nil.
func (l *Log) Unfit() error { return l.unfit }

// checkStream refuses a stream that could lose or alter events.
func checkStream(got, want jetstream.StreamConfig) error {
	var probs []string
	if !got.DenyDelete || !got.DenyPurge {
		probs = append(probs, "delete and purge must be denied")
	}
	if got.MaxAge != 0 || got.MaxMsgs > 0 || got.MaxBytes > 0 || got.MaxMsgsPerSubject > 0 {
		probs = append(probs, "limits (max age, messages, bytes, per subject) must be unlimited")
	}
	if got.Discard != jetstream.DiscardNew {
		probs = append(probs, "a full stream must refuse new events (discard new), never drop old ones")
	}
	if got.Sealed {
		probs = append(probs, "the stream is sealed")
	}
	if got.Retention != jetstream.LimitsPolicy {
		probs = append(probs, "retention must be limits")
	}
	if !got.AllowAtomicPublish {
		probs = append(probs, "atomic batch publish must be allowed")
	}
	if !got.AllowDirect {
		probs = append(probs, "direct get must be allowed")
	}
	if len(got.Subjects) != 1 || got.Subjects[0] != want.Subjects[0] {
		probs = append(probs, fmt.Sprintf("subjects must be [%s]", want.Subjects[0]))
	}
	if len(probs) > 0 {
		return fmt.Errorf("stream %s is %w: %s", got.Name, ErrUnfit, strings.Join(probs, "; "))
	}
	return nil
}

// JetStream returns the JetStream context of the log, for side buckets
// such as snapshots.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Conn returns the connection of the log.
func (l *Log) Conn() *nats.Conn { return l.nc }

// StreamName returns the name of the log's stream.
func (l *Log) StreamName() string { return l.cfg.Stream }

// Config returns the log's configuration.
func (l *Log) Config() Config { return l.cfg }

// Head is the position of the end of the log.
type Head struct {
	LastSeq  uint64
	LastTime time.Time
	Msgs     uint64
	// FirstSeq and Deleted say whether messages are missing: a log that
	// lost none starts at 1 (when not empty) and has no interior deletes.
	FirstSeq uint64
	Deleted  int
}

// Head returns the stream sequence and record time of the last event.
func (l *Log) Head(ctx context.Context) (Head, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return Head{}, fmt.Errorf("stream info: %w", err)
	}
	return Head{LastSeq: info.State.LastSeq, LastTime: info.State.LastTime, Msgs: info.State.Msgs,
		FirstSeq: info.State.FirstSeq, Deleted: info.State.NumDeleted}, nil
}

// Version returns the stream sequence of the last event of scope (an ISO3
// code or events.ConventionScope), or 0 when it has none: the version to
// expect when appending to it.
func (l *Log) Version(ctx context.Context, scope string) (uint64, error) {
	m, err := l.stream.GetLastMsgForSubject(ctx, events.ScopeFilter(scope))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last event of %s: %w", scope, err)
	}
	return m.Sequence, nil
}

// Get returns the event stored at seq. A stored message that is not an
// event of its subject is an error wrapping ErrQuarantined.
func (l *Log) Get(ctx context.Context, seq uint64) (events.Envelope, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("get event %d: %w", seq, err)
	}
	e, q := events.DecodeMessage(m.Subject, m.Data, m.Sequence, m.Time)
	if q != nil {
		return events.Envelope{}, fmt.Errorf("%s: %w", q, ErrQuarantined)
	}
	return e, nil
}

// GetMessage returns the message stored at seq as it is stored.
func (l *Log) GetMessage(ctx context.Context, seq uint64) (evidence.Message, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if err != nil {
		return evidence.Message{}, fmt.Errorf("get message %d: %w", seq, err)
	}
	return evidence.Message{Seq: m.Sequence, Recorded: m.Time, Subject: m.Subject, Data: m.Data}, nil
}

// ErrQuarantined marks a stored message that no fold counts (see
// events.Quarantined).
var ErrQuarantined = errors.New("quarantined")

// chainMsgs builds the messages of a chain, with their links (see
// AppendChain), in parallel for many events.
func (l *Log) chainMsgs(evs []events.Envelope, after uint64) []*nats.Msg {
	msgs := make([]*nats.Msg, len(evs))
	build := func(from, to int) {
		type key struct {
			scope string
			t     events.Type
		}
		subjects := map[key]string{}
		for i := from; i < to; i++ {
			e := evs[i]
			k := key{e.Scope(), e.Type}
			subj, ok := subjects[k]
			if !ok {
				subj = e.Subject()
				subjects[k] = subj
			}
			h := nats.Header{jetstream.MsgIDHeader: []string{e.ID.String()}}
			if i == 0 {
				h[jetstream.ExpectedStreamHeader] = []string{l.cfg.Stream}
				h[jetstream.ExpectedLastSeqHeader] = []string{strconv.FormatUint(after, 10)}
			} else {
				// Chained on the previous event's id rather than on a
				// sequence: once one link fails, every later link fails
				// too, so a broken chain leaves a clean prefix and no gap.
				// (The stream is the only one capturing ccm.events.>, so
				// the first link's expected stream covers the others.)
				h[jetstream.ExpectedLastMsgIDHeader] = []string{evs[i-1].ID.String()}
			}
			msgs[i] = &nats.Msg{Subject: subj, Header: h, Data: e.StoredJSON()}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(evs) < 2048 || workers < 2 {
		build(0, len(evs))
		return msgs
	}
	var wg sync.WaitGroup
	chunk := (len(evs) + workers - 1) / workers
	for from := 0; from < len(evs); from += chunk {
		to := min(from+chunk, len(evs))
		wg.Go(func() { build(from, to) })
	}
	wg.Wait()
	return msgs
}

func (l *Log) msg(e events.Envelope) *nats.Msg {
	m := nats.NewMsg(e.Subject())
	m.Data = e.StoredJSON()
	m.Header.Set(jetstream.MsgIDHeader, e.ID.String())
	m.Header.Set(jetstream.ExpectedStreamHeader, l.cfg.Stream)
	return m
}

// Append stores the events of one command, all about one scope, after
// checking that the scope's last stored event is still at sequence expected
// (0: the scope has no event yet; AnyVersion: no check). Several events are
// stored atomically: all or none. It returns the stream sequence of the last
// event stored.
//
// Errors: events.ErrConflict when expected is stale (reload and decide
// again); events.ErrDuplicate when the event id is already stored within the
// duplicate window (the returned sequence is the stored one's); other
// errors come from the connection or the server.
func (l *Log) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	switch {
	case len(evs) == 0:
		return 0, errors.New("append: no events")
	case len(evs) > MaxBatch:
		return 0, fmt.Errorf("append: %d events in one command; at most %d", len(evs), MaxBatch)
	}
	for _, e := range evs {
		if e.Scope() != scope {
			return 0, fmt.Errorf("append: event %s belongs to %s, not %s", e.ID, e.Scope(), scope)
		}
	}
	if len(evs) == 1 {
		m := l.msg(evs[0])
		if expected != AnyVersion {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
			m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.ScopeFilter(scope))
		}
		gctx, explain := guard(ctx, l.nc, m.Subject)
		ack, err := l.js.PublishMsg(gctx, m)
		if err = explain(err); err != nil {
			return 0, translate(err, scope, expected)
		}
		if ack.Duplicate {
			return ack.Sequence, fmt.Errorf("event %s: %w", evs[0].ID, events.ErrDuplicate)
		}
		return ack.Sequence, nil
	}
	msgs := make([]*nats.Msg, len(evs))
	for i, e := range evs {
		msgs[i] = l.msg(e)
	}
	if expected != AnyVersion {
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.ScopeFilter(scope))
	}
	gctx, explain := guard(ctx, l.nc, events.ScopeFilter(scope))
	ack, err := l.publishBatch(gctx, msgs)
	if err = explain(err); err != nil {
		return 0, translate(err, scope, expected)
	}
	return ack.Sequence, nil
}

// errCodeWrongLastMsgID is the server's error for a failed
// Nats-Expected-Last-Msg-Id check (JSStreamWrongLastMsgIDErrF); nats.go has
// no constant for it.
const errCodeWrongLastMsgID jetstream.ErrorCode = 10070

// translate maps server errors to the ledger's sentinels, and marks those
// that no retry can fix (retry.Permanent).
func translate(err error, scope string, expected uint64) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant, errCodeWrongLastMsgID:
			return fmt.Errorf("append to %s expecting version %d: %w (%s)", scope, expected, events.ErrConflict, apiErr.Description)
		case jetstreamext.JSErrCodeBatchPublishDuplicateMsgID:
			return fmt.Errorf("append to %s: %w (%s)", scope, events.ErrDuplicate, apiErr.Description)
		}
	}
	err = fmt.Errorf("append to %s: %w", scope, err)
	if permanentAppend(err) {
		return retry.Permanent(err)
	}
	return err
}

// Server errors of an append that waiting cannot fix: a message over the
// stream's or the server's limit, a stream that is not there, storage or
// account limits, JetStream off.
var permanentCodes = map[jetstream.ErrorCode]bool{
	jetstream.JSErrCodeStreamMessageExceedsMaximum: true,
	jetstream.JSErrCodeStreamNotFound:              true,
	10002:                                          true, // resource limits exceeded for account
	10028:                                          true, // insufficient memory resources
	10047:                                          true, // insufficient storage resources
	10039:                                          true, // JetStream not enabled for account
	10076:                                          true, // JetStream not enabled
}

func permanentAppend(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && permanentCodes[apiErr.ErrorCode] ||
		errors.Is(err, ErrPermissionDenied) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject)
}

// AppendChain stores many events in order, pipelined, as the only writer:
// the first event is stored only if the stream's last sequence is after,
// and each next one only if the stream's last event is its predecessor in
// the chain, so nothing can interleave with the chain and a failure leaves
// a stored prefix and nothing after it. The caller validates the
// events against the ledger as of sequence after. Progress, when not nil,
// is called with the number of events acknowledged so far. It returns how
// many events were stored (a prefix of evs) and the stream sequence of the
// last one (after, when none was).
//
// On a replicated stream the chain is stored as consecutive atomic batches
// of up to MaxBatch events instead (see appendChainBatches): the same
// guarantee, with whole batches as the stored prefix.
//
// On events.ErrConflict another writer got in first: re-read the log from
// LastSeq, validate the rest again and continue. Any other error (a lost
// connection, a leader election) leaves a prefix stored; the same recovery
// applies.
func (l *Log) AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(done int)) (appended int, lastSeq uint64, err error) {
	ctx, explain := guard(ctx, l.nc, l.filter)
	defer func() { err = explain(err) }()
	if l.replicated() {
		return l.appendChainBatches(ctx, after, evs, progress)
	}
	// Encode every message first, on every processor: the publishing loop
	// then only hands ready messages to the server.
	msgs := l.chainMsgs(evs, after)
	futs := make([]jetstream.PubAckFuture, 0, len(evs))
	// Acknowledgements and errors taken early: a future hands each out once.
	acks := make([]*jetstream.PubAck, len(evs))
	var (
		early   error
		earlyAt = -1
	)
	reported := 0
	report := func(n int) {
		if progress == nil {
			return
		}
		for ; (reported/1000+1)*1000 <= n; reported = (reported/1000 + 1) * 1000 {
			progress((reported/1000 + 1) * 1000)
		}
		if n == len(evs) && reported < n {
			reported = n
			progress(n)
		}
	}
	checked := 0
	var pubErr error
	for i := range evs {
		if ctx.Err() != nil {
			pubErr = ctx.Err()
			break
		}
		// Every so often, look at the acknowledgements already in: once a
		// link failed, every later one fails too, so stop sending.
		if i%1024 == 0 && i > 0 {
			n, err := settled(futs[checked:], acks[checked:])
			if err != nil {
				early, earlyAt = err, checked+n
				break
			}
			checked += n
			report(checked)
		}
		m := msgs[i]
		msgs[i] = nil
		fut, err := l.js.PublishMsgAsync(m, jetstream.WithStallWait(AsyncAckTimeout))
		if err != nil {
			pubErr = fmt.Errorf("publish event %d of %d: %w", i+1, len(evs), err)
			if permanentAppend(err) {
				pubErr = retry.Permanent(pubErr)
			}
			break
		}
		futs = append(futs, fut)
	}
	// The acknowledgements, in order: the stored prefix ends at the first
	// link that failed or was not acknowledged in time.
	appended, lastSeq = 0, after
	timeout := time.NewTimer(AsyncAckTimeout)
	defer timeout.Stop()
	for i, fut := range futs {
		ack := acks[i]
		if i == earlyAt {
			return appended, lastSeq, translate(early, "the ledger", after+uint64(i))
		}
		if ack == nil {
			select {
			case ack = <-fut.Ok():
			case e := <-fut.Err():
				return appended, lastSeq, translate(e, "the ledger", after+uint64(i))
			case <-timeout.C:
				return appended, lastSeq, fmt.Errorf("event %d of %d not acknowledged within %s", i+1, len(evs), AsyncAckTimeout)
			case <-ctx.Done():
				return appended, lastSeq, ctx.Err()
			}
		}
		switch {
		case ack.Duplicate:
			return appended, lastSeq, fmt.Errorf("event %s: %w", evs[i].ID, events.ErrDuplicate)
		case ack.Sequence != after+uint64(i)+1:
			return appended, lastSeq, fmt.Errorf("event %s stored at %d, expected %d: %w", evs[i].ID, ack.Sequence, after+uint64(i)+1, events.ErrConflict)
		}
		appended, lastSeq = i+1, ack.Sequence
		report(appended)
		if !timeout.Stop() {
			<-timeout.C
		}
		timeout.Reset(AsyncAckTimeout)
	}
	return appended, lastSeq, pubErr
}

// settled counts the leading futures already acknowledged, keeping their
// acknowledgements in acks (a future hands each one out once), and returns
// the error of the first that failed. It does not wait.
func settled(futs []jetstream.PubAckFuture, acks []*jetstream.PubAck) (int, error) {
	for i, f := range futs {
		select {
		case acks[i] = <-f.Ok():
		case err := <-f.Err():
			return i, err
		default:
			return i, nil
		}
	}
	return len(futs), nil
}

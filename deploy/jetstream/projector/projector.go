// Package projector runs the ledger's projector: it follows the event log
// with a durable consumer, keeps the fold of every fact live, and publishes
// the derived compliance events (package projections/compliance) to their
// own stream, CCM_COMPLIANCE, under ccm.compliance.<scope>.<kind>, each
// transition once.
//
// Exactly once rests on four things. Event ids are derived from the
// transition (its key and generation), so that every projector, and every
// run of one, derives the same id for the same transition; each is published
// with Nats-Msg-Id, and the stream drops a repeat within its duplicate
// window. What the stream holds is read back at start-up, and nothing it
// holds is published again, however old. Each State's events are published
// with the expected last sequence of the State's subjects
// (ccm.compliance.<scope>.>), so that two projectors running at once cannot
// both publish a transition: the second is refused, reads what the first
// published and plans again. And a checkpoint in the KV bucket CCM_PROJECTOR
// ({log sequence, clock date}: everything derivable from the log up to that
// sequence, up to that date, is published) is advanced by compare-and-set
// only, so that a restart replays only what came after it, and late facts
// after it are told apart as corrections.
package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// Config configures a projector.
type Config struct {
	// Stream, Bucket and Durable name the compliance stream, the
	// checkpoint bucket and the durable consumer on the log; defaults
	// DefaultStream, DefaultBucket, DefaultDurable.
	Stream, Bucket, Durable string
	// Replicas of the stream and bucket when the projector creates them;
	// default 1.
	Replicas int
	// Duplicates is the stream's duplicate window; default 2 minutes.
	Duplicates time.Duration
	// Lead is the number of days before a deadline at which
	// deadline-approaching happens; default compliance.DefaultLead.
	Lead int
	// Projection selects the annual-report rule.
	Projection projections.Options
	// Now is the projector's clock (injected so that tests control it);
	// default time.Now.
	Now func() time.Time
	// Tick is how often the clock is read for dates that passed; default
	// one minute. Transitions fall due at midnight UTC.
	Tick time.Duration
	// Logf, when set, receives what the projector does.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Tick <= 0 {
		c.Tick = time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Checkpoint is the projector's stored position: every transition derivable
// from the log up to Seq, dated up to Date, is published.
type Checkpoint struct {
	Seq     uint64      `json:"seq"`
	Date    events.Date `json:"date"`
	Updated time.Time   `json:"updated"`
}

// dominates reports whether c is at or after o on both clocks.
func (c Checkpoint) dominates(o Checkpoint) bool { return c.Seq >= o.Seq && c.Date >= o.Date }

// Stats are the projector's counters, for /metrics and /healthz.
type Stats struct {
	// Seq is the last log sequence folded, Recorded its record time.
	Seq      uint64
	Recorded time.Time
	// Quarantined counts the stored messages up to Seq that the fold does
	// not count (aggregates.Gate).
	Quarantined int
	// Clock is the date up to which transitions are published.
	Clock events.Date
	// Published counts the events published by kind; Corrections and
	// Revocations count those marked so.
	Published   map[compliance.Kind]uint64
	Corrections uint64
	Revocations uint64
	// Conflicts counts publishes refused because another projector
	// published first; Duplicates those the stream dropped as repeats.
	Conflicts  uint64
	Duplicates uint64
	// Checkpoint is the last checkpoint stored.
	Checkpoint Checkpoint
	// Running is true once the projector caught up and follows the log.
	Running bool
	// LastError is the last failure, cleared by the next success.
	LastError string
}

// Projector publishes the derived compliance events of a log.
type Projector struct {
	cfg    Config
	log    *jslog.Log
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue

	// The state below is owned by the goroutine that runs Run: no other
	// reads or writes it. The follower's handlers hand their work to it
	// (do), so that no lock is held across the network I/O of a publish
	// or a checkpoint, which may retry for a while.
	tr       *compliance.Tracker
	lastSubj map[string]uint64      // last compliance stream sequence per scope
	pending  map[string]events.Date // scopes to plan, with their correctBefore
	ckpt     Checkpoint
	ckptRev  uint64
	stats    Stats
	kicked   bool // an event was folded: publish before waiting again
	// ops is the work of the follower's handlers, run by the owner.
	ops chan func()
	// shown is what Stats returns: a copy the owner makes after each
	// thing it does, so that /healthz and /metrics answer while it
	// publishes.
	shown atomic.Pointer[Stats]
}

// Open opens the compliance stream and the checkpoint bucket on the log's
// connection, creating neither (the operator does: see Create), and returns
// a projector ready to Run.
func Open(ctx context.Context, log *jslog.Log, cfg Config) (*Projector, error) {
	cfg = cfg.withDefaults()
	js := log.JetStream()
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("compliance stream %s: %w (the operator creates it with `ccm init`)", cfg.Stream, err)
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("checkpoint bucket %s: %w (the operator creates it with `ccm init`)", cfg.Bucket, err)
	}
	p := &Projector{cfg: cfg, log: log, js: js, stream: st, kv: kv, ops: make(chan func())}
	p.reset()
	p.show()
	return p, nil
}

// BucketConfig returns the configuration of the checkpoint bucket.
func BucketConfig(name string, replicas int) jetstream.KeyValueConfig {
	if name == "" {
		name = DefaultBucket
	}
	return jetstream.KeyValueConfig{Bucket: name, Description: "ccm-ledger: the projector's checkpoint",
		History: 5, Storage: jetstream.FileStorage, Replicas: max(replicas, 1)}
}

// Create makes the compliance stream and the checkpoint bucket when they
// are absent, with cfg's replicas and duplicate window: the operator's part.
// Existing ones are used as they are.
func Create(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	cfg = cfg.withDefaults()
	if _, err := EnsureStream(ctx, js, StreamConfig(cfg.Stream, cfg.Replicas, cfg.Duplicates)); err != nil {
		return err
	}
	_, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, BucketConfig(cfg.Bucket, cfg.Replicas))
	}
	if err != nil {
		return fmt.Errorf("checkpoint bucket %s: %w", cfg.Bucket, err)
	}
	return nil
}

func (p *Projector) reset() {
	p.tr = compliance.NewTracker(compliance.Options{Lead: p.cfg.Lead, Projection: p.cfg.Projection})
	p.lastSubj = map[string]uint64{}
	p.pending = map[string]events.Date{}
	p.stats = Stats{Published: map[compliance.Kind]uint64{}}
}

// Stats returns the counters as the projector last showed them (after
// each thing it does, and after each event it publishes), without waiting
// for it. The Published map is not to be changed.
func (p *Projector) Stats() Stats {
	if s := p.shown.Load(); s != nil {
		return *s
	}
	return Stats{Published: map[compliance.Kind]uint64{}}
}

// show makes the counters' copy that Stats returns.
func (p *Projector) show() {
	s := p.stats
	s.Published = make(map[compliance.Kind]uint64, len(p.stats.Published))
	for k, v := range p.stats.Published {
		s.Published[k] = v
	}
	s.Seq, s.Recorded, s.Clock, s.Checkpoint = p.tr.Fold.Seq, p.tr.Fold.Time, p.tr.Clock, p.ckpt
	s.Quarantined = p.tr.Fold.Quarantined
	p.shown.Store(&s)
}

// today is the projector's clock as a date.
func (p *Projector) today() events.Date { return events.DateOf(p.cfg.Now()) }

// Run catches up and then follows the log until ctx ends: it reads back
// what the compliance stream holds, folds the log up to the checkpoint,
// publishes whatever is missing there, replays the events after the
// checkpoint (each with the clock of its record time, so that a late,
// backdated fact gives corrections), catches up on the dates that passed,
// and then follows the log with the durable consumer, waking on the clock
// for the dates that pass. It returns nil when ctx ends; after a failure it
// starts over from the stored state, after a pause.
func (p *Projector) Run(ctx context.Context) error {
	_ = retry.Do(ctx, retry.Restart, func(int) error {
		err := p.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stopped")
		}
		p.stats.Running = false
		p.stats.LastError = err.Error()
		p.show()
		p.cfg.Logf("projector: %v; starting over", err)
		return err
	})
	return nil
}

func (p *Projector) run(ctx context.Context) error {
	err := p.catchUp(ctx)
	if err == nil {
		p.stats.Running = true
		p.stats.LastError = ""
	}
	p.show()
	if err != nil {
		return err
	}
	p.logCaughtUp()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The follower runs on its own goroutine and hands each event to this
	// one, which owns the state and works between events.
	o := jslog.FollowOptions{Durable: p.cfg.Durable, FromSeq: p.tr.Fold.Seq + 1,
		Quarantine: func(q events.Quarantined) { p.onQuarantined(ctx, q) }}
	var followErr error
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		followErr = p.log.Follow(ctx, o, p.onEvent)
	}()
	err = p.worker(ctx, followed)
	cancel()
	<-followed
	if err == nil {
		err = followErr
	}
	return err
}

// logCaughtUp says where the catch-up ended.
func (p *Projector) logCaughtUp() {
	var published uint64
	for _, v := range p.stats.Published {
		published += v
	}
	p.cfg.Logf("projector: caught up at log sequence %d, clock %s (%d published); following", p.tr.Fold.Seq, p.tr.Clock, published)
}

// catchUp rebuilds the projector's state from the stream, the checkpoint
// and the log, and publishes what is missing.
func (p *Projector) catchUp(ctx context.Context) error {
	p.reset()
	n, err := p.readPublished(ctx, events.ConventionScope, true)
	if err != nil {
		return err
	}
	ck, rev, found, err := p.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	p.ckpt, p.ckptRev = ck, rev
	head, err := p.log.Head(ctx)
	if err != nil {
		return err
	}
	upTo := head.LastSeq
	today := p.today()
	if found {
		upTo = min(ck.Seq, head.LastSeq)
	}
	if _, err := p.log.Read(ctx, jslog.ReadOptions{UpToSeq: upTo, Quarantine: p.tr.Skip}, func(e events.Envelope) error {
		p.tr.Apply(e)
		return nil
	}); err != nil {
		return fmt.Errorf("fold the log: %w", err)
	}
	if found {
		p.tr.Clock = ck.Date
	} else {
		// A first run publishes the history up to today: nothing was
		// published before, so nothing is a correction.
		p.tr.Clock = today
	}
	// What is derivable at the checkpoint was published, unless a run
	// stopped between publishing and storing the checkpoint: publish
	// what is missing.
	for _, sc := range p.tr.Scopes() {
		p.pending[sc] = 0
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	where := "no checkpoint (first run)"
	if found {
		where = fmt.Sprintf("checkpoint at log sequence %d, %s", ck.Seq, ck.Date)
	}
	p.cfg.Logf("projector: %d compliance events in the stream, %s, log at %d", n, where, head.LastSeq)
	// The events recorded after the checkpoint, each at the clock of the
	// day it was recorded.
	if upTo < head.LastSeq {
		if _, err := p.log.Read(ctx, jslog.ReadOptions{FromSeq: upTo + 1, UpToSeq: head.LastSeq, Quarantine: p.tr.Skip}, func(e events.Envelope) error {
			return p.handle(ctx, e)
		}); err != nil {
			return fmt.Errorf("replay the log after the checkpoint: %w", err)
		}
	}
	if err := p.advance(ctx, today); err != nil {
		return err
	}
	return p.flush(ctx)
}

// do runs fn on the goroutine that owns the projector's state and returns
// its error. It gives up when ctx ends before that goroutine takes fn;
// once taken, fn runs to its end.
func (p *Projector) do(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	select {
	case p.ops <- func() { done <- fn() }:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}

// onEvent is the durable follower's handler. An event is acknowledged once
// folded; it is published from the fold later, and the checkpoint, not the
// acknowledgement, says what was published.
func (p *Projector) onEvent(ctx context.Context, e events.Envelope) error {
	return p.do(ctx, func() error { return p.fold(ctx, e) })
}

// fold folds one event the follower delivered, and the ones before it
// that the fold lacks.
func (p *Projector) fold(ctx context.Context, e events.Envelope) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if e.Seq <= p.tr.Fold.Seq {
		return nil // folded already (a redelivery, or read at start-up)
	}
	if err := p.readGap(ctx, e.Seq); err != nil {
		return err
	}
	if err := p.handle(ctx, e); err != nil {
		return err
	}
	p.kicked = true
	return nil
}

// onQuarantined is the durable follower's handler of a stored message that
// is not an event: the fold moves past it.
func (p *Projector) onQuarantined(ctx context.Context, q events.Quarantined) {
	_ = p.do(ctx, func() error {
		if q.Seq <= p.tr.Fold.Seq {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := p.readGap(ctx, q.Seq); err != nil {
			// The worker reads what the fold lacks on its next turn.
			if ctx.Err() == nil {
				p.stats.LastError = err.Error()
			}
			return nil
		}
		p.tr.Skip(q)
		return nil
	})
}

// readGap folds the log's messages before seq that the fold lacks: those
// another projector sharing the durable took.
func (p *Projector) readGap(ctx context.Context, seq uint64) error {
	if seq <= p.tr.Fold.Seq+1 {
		return nil
	}
	_, err := p.log.Read(ctx, jslog.ReadOptions{FromSeq: p.tr.Fold.Seq + 1, UpToSeq: seq - 1, Quarantine: p.tr.Skip}, func(g events.Envelope) error {
		return p.handle(ctx, g)
	})
	return err
}

// handle folds one event recorded after the checkpoint. The clock first
// moves to the day the event was recorded (not beyond today), so that the
// transitions of the days before are published as such; the transitions the
// event makes due at that clock are corrections.
func (p *Projector) handle(ctx context.Context, e events.Envelope) error {
	at := events.DateOf(e.Recorded)
	if today := p.today(); at > today {
		at = today
	}
	if at > p.tr.Clock {
		if err := p.advance(ctx, at); err != nil {
			return err
		}
	}
	for _, sc := range p.tr.Apply(e) {
		if _, ok := p.pending[sc]; !ok {
			p.pending[sc] = p.tr.Clock
		}
	}
	return nil
}

// advance moves the clock to d and publishes the transitions dated up to it.
// Pending scopes are published first, at the old clock.
func (p *Projector) advance(ctx context.Context, d events.Date) error {
	if d <= p.tr.Clock {
		return nil
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	p.tr.Clock = d
	for _, sc := range p.tr.Scopes() {
		if _, ok := p.pending[sc]; !ok {
			p.pending[sc] = 0
		}
	}
	return p.flush(ctx)
}

// readLog folds the events the log holds beyond the fold: those another
// projector sharing the durable consumer took, or that arrived while the
// consumer was being set up.
func (p *Projector) readLog(ctx context.Context) error {
	head, err := p.log.Head(ctx)
	if err != nil {
		return err
	}
	if head.LastSeq <= p.tr.Fold.Seq {
		return nil
	}
	_, err = p.log.Read(ctx, jslog.ReadOptions{FromSeq: p.tr.Fold.Seq + 1, UpToSeq: head.LastSeq, Quarantine: p.tr.Skip}, func(e events.Envelope) error {
		if e.Seq <= p.tr.Fold.Seq {
			return nil
		}
		return p.handle(ctx, e)
	})
	return err
}

// worker owns the projector's state while it follows the log: it runs the
// follower's handlers, publishes pending scopes when an event was folded,
// reads what the durable consumer did not deliver to this projector, and
// moves the clock when a day passes, until ctx ends or the follower stops.
func (p *Projector) worker(ctx context.Context, followed <-chan struct{}) error {
	tick := time.NewTicker(p.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.stop()
			return nil
		case <-followed:
			p.stop()
			return nil
		case fn := <-p.ops:
			fn()
			p.show()
			if !p.kicked {
				continue
			}
		case <-tick.C:
		}
		p.kicked = false
		if err := p.turn(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// turn folds what the log holds beyond the fold, moves the clock to today
// and publishes what is pending.
func (p *Projector) turn(ctx context.Context) error {
	err := p.readLog(ctx)
	if err == nil {
		err = p.advance(ctx, p.today())
	}
	if err == nil {
		err = p.flush(ctx)
	}
	if err != nil {
		p.stats.LastError = err.Error()
	} else {
		p.stats.LastError = ""
	}
	p.show()
	return err
}

// stop stores the checkpoint as the projector stops, when nothing is
// pending: on a context of its own, since the run's has ended.
func (p *Projector) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(p.pending) == 0 {
		_ = p.saveCheckpoint(ctx)
	}
	p.show()
}

// flush publishes the plans of the pending scopes, then stores the
// checkpoint.
func (p *Projector) flush(ctx context.Context) error {
	if p.tr.Published.MaxSeq() > p.tr.Fold.Seq {
		// Another projector published from a later point of the log:
		// catch up on the log first.
		return nil
	}
	scopes := make([]string, 0, len(p.pending))
	for sc := range p.pending {
		scopes = append(scopes, sc)
	}
	sort.Strings(scopes)
	for _, sc := range scopes {
		if err := p.publishScope(ctx, sc, p.pending[sc]); err != nil {
			return err
		}
		delete(p.pending, sc)
	}
	return p.saveCheckpoint(ctx)
}

// publishScope publishes the plan of one scope, each event expecting the
// scope's last compliance sequence. When another projector published first,
// it reads what was published and plans again.
func (p *Projector) publishScope(ctx context.Context, scope string, correctBefore events.Date) error {
	err := retry.Do(ctx, retry.Conflict, func(attempt int) error {
		if attempt > 1 {
			if _, err := p.readPublished(ctx, scope, false); err != nil {
				return retry.Permanent(err)
			}
		}
		return p.publishPlan(ctx, scope, correctBefore)
	})
	if err != nil {
		return fmt.Errorf("publish the compliance events of %s: %w", scope, err)
	}
	return nil
}

// errPublishedFirst marks a plan another projector published first.
var errPublishedFirst = errors.New("another projector published first")

// publishPlan publishes the plan of one scope.
func (p *Projector) publishPlan(ctx context.Context, scope string, correctBefore events.Date) error {
	for _, e := range p.tr.Plan(scope, correctBefore, p.cfg.Now()) {
		ack, err := p.publish(ctx, e, p.lastSubj[scope])
		if err != nil {
			if isWrongSequence(err) {
				p.stats.Conflicts++
				return errPublishedFirst
			}
			return retry.Permanent(fmt.Errorf("publish %s %s: %w", e.Subject(), e.ID, err))
		}
		if ack.Duplicate {
			// Published by another projector within the window.
			p.stats.Duplicates++
			return errPublishedFirst
		}
		p.tr.Published.Observe(e)
		p.lastSubj[scope] = ack.Sequence
		p.stats.Published[e.Kind]++
		if e.Correction {
			p.stats.Corrections++
		}
		if e.Revoked {
			p.stats.Revocations++
		}
		p.show()
	}
	return nil
}

// publish sends one event with its id as Nats-Msg-Id, the scope's expected
// last sequence, and CloudEvents binary-mode headers.
func (p *Projector) publish(ctx context.Context, e compliance.Event, expected uint64) (*jetstream.PubAck, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(e.Subject())
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, e.ID.String())
	m.Header.Set(jetstream.ExpectedStreamHeader, p.cfg.Stream)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, compliance.ScopeFilter(e.State))
	for k, v := range CloudEventHeaders(e) {
		m.Header.Set(k, v)
	}
	return p.js.PublishMsg(ctx, m)
}

// CloudEventHeaders returns the CloudEvents binary-mode headers of an event
// (NATS protocol binding 1.0.3): the attributes as ce-* headers, the JSON
// event as the body. No value needs percent-encoding: they are printable
// ASCII without spaces.
func CloudEventHeaders(e compliance.Event) map[string]string {
	h := map[string]string{
		"ce-specversion":     "1.0",
		"ce-id":              e.ID.String(),
		"ce-source":          "/ccm-ledger/projector",
		"ce-type":            "org.ccm-ledger.compliance." + string(e.Kind),
		"ce-subject":         e.State,
		"ce-time":            e.Published.UTC().Format(time.RFC3339Nano),
		"ce-datacontenttype": "application/json",
	}
	if e.Correction {
		h["ce-correction"] = "true"
	}
	return h
}

// readPublished reads the compliance events of one scope (or of every
// scope, when all) after the last one known, and observes them.
func (p *Projector) readPublished(ctx context.Context, scope string, all bool) (int, error) {
	filter, from := compliance.ScopeFilter(scope), p.lastSubj[scope]+1
	if all {
		filter, from = compliance.SubjectPrefix+">", 1
	}
	n := 0
	_, err := ReadEvents(ctx, p.js, p.cfg.Stream, filter, from, func(seq uint64, e compliance.Event) error {
		p.tr.Published.Observe(e)
		if seq > p.lastSubj[e.State] {
			p.lastSubj[e.State] = seq
		}
		n++
		return nil
	})
	return n, err
}

// loadCheckpoint reads the stored checkpoint and its revision.
func (p *Projector) loadCheckpoint(ctx context.Context) (Checkpoint, uint64, bool, error) {
	ent, err := p.kv.Get(ctx, checkpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Checkpoint{}, 0, false, nil
	}
	if err != nil {
		return Checkpoint{}, 0, false, fmt.Errorf("checkpoint: %w", err)
	}
	var ck Checkpoint
	if err := json.Unmarshal(ent.Value(), &ck); err != nil {
		return Checkpoint{}, 0, false, fmt.Errorf("checkpoint %s/%s: %w", p.cfg.Bucket, checkpointKey, err)
	}
	return ck, ent.Revision(), true, nil
}

// saveCheckpoint stores the projector's position if it is at or after the
// stored one on both clocks, by compare-and-set on the key's revision: of
// two projectors, only one advances it from a given revision, and a
// checkpoint never moves back. Nothing is pending.
func (p *Projector) saveCheckpoint(ctx context.Context) error {
	mine := Checkpoint{Seq: p.tr.Fold.Seq, Date: p.tr.Clock}
	if p.ckptRev != 0 && p.ckpt.Seq == mine.Seq && p.ckpt.Date == mine.Date {
		return nil
	}
	err := retry.Do(ctx, retry.Conflict, func(int) error {
		stored, rev, found, err := p.loadCheckpoint(ctx)
		if err != nil {
			return retry.Permanent(err)
		}
		if found && (!mine.dominates(stored) || stored.Seq == mine.Seq && stored.Date == mine.Date) {
			// Another projector is as far or further: keep its checkpoint.
			p.ckpt, p.ckptRev = stored, rev
			return nil
		}
		mine.Updated = p.cfg.Now().UTC()
		body, _ := json.Marshal(mine)
		if found {
			rev, err = p.kv.Update(ctx, checkpointKey, body, rev)
		} else {
			rev, err = p.kv.Create(ctx, checkpointKey, body)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongSequence(err) {
			return err // another projector stored one first: compare again
		}
		if err != nil {
			return retry.Permanent(err)
		}
		p.ckpt, p.ckptRev = mine, rev
		return nil
	})
	if err != nil {
		return fmt.Errorf("store the checkpoint: %w", err)
	}
	return nil
}

// isWrongSequence tells a failed expected-last-sequence check: code 10071,
// or 10164 on a replicated stream.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

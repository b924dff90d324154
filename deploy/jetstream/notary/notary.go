package notary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// ErrDamaged marks a request to a notary whose log failed its check: it
// signs nothing and the ledger records nothing until the log is recovered.
var ErrDamaged = fmt.Errorf("the log is %w: recover it (docs/recovery.md)", evidence.ErrTampered)

// ErrEmpty marks a request to sign an empty log: there is nothing to sign.
var ErrEmpty = errors.New("the log is empty: nothing to sign")

// Options say when a running notary signs by itself.
type Options struct {
	// Every signs once this many messages were stored since the last
	// checkpoint (default 1000).
	Every uint64
	// Interval signs this long after the last checkpoint when messages
	// were stored since (default 10 minutes).
	Interval time.Duration
	// Poll is how often the notary looks for new messages (default 1 s).
	Poll time.Duration
	// Meetings returns the end of every meeting the ledger knows (00:00
	// UTC of the day after its last day), read at start: the notary signs
	// at each, so that what the ledger knew at a meeting is on record.
	// Meetings recorded later are seen as the notary reads them.
	Meetings func() []time.Time
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Every == 0 {
		o.Every = 1000
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Notary keeps the tree of the log up to date and signs its checkpoints.
// One goroutine owns the tree; requests reach it over a channel, so that
// no lock is held while it reads the log or publishes.
type Notary struct {
	log   *jslog.Log
	store *Store
	key   Key
	opt   Options

	tree   *evidence.Tree
	last   *evidence.Checkpoint // the latest checkpoint, of any signer
	report evidence.Report

	meetings []time.Time // the meeting ends known
	meeting  *time.Timer // fires at the next one, or nil
	latest   atomic.Pointer[evidence.Checkpoint]
	damaged  atomic.Pointer[evidence.Report]
	reqs     chan request
	done     chan struct{}
	stop     context.CancelFunc
}

type request struct {
	ctx   context.Context
	force bool
	prove uint64 // a sequence to prove, or 0 to sign
	reply chan reply
}

type reply struct {
	cp    evidence.Checkpoint
	proof evidence.Proof
	err   error
}

// Start checks the log (or takes the result of a check just made: checked
// may be nil), then keeps following it until Stop. A log that fails its
// check makes a notary that signs nothing (see Damaged).
func Start(ctx context.Context, log *jslog.Log, store *Store, key Key, checked *Result, o Options) (*Notary, error) {
	if checked == nil {
		r, err := Check(ctx, log, store, key.Public)
		if err != nil {
			return nil, err
		}
		checked = &r
	}
	n := &Notary{log: log, store: store, key: key, opt: o.withDefaults(), tree: checked.Tree, report: checked.Report,
		reqs: make(chan request), done: make(chan struct{})}
	if checked.Report.Latest != nil {
		n.last = checked.Report.Latest
		n.latest.Store(n.last)
	}
	if checked.Report.Err() != nil {
		r := checked.Report
		n.damaged.Store(&r)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stop = cancel
	go n.run(runCtx)
	return n, nil
}

// Stop ends the notary's goroutine and waits for it.
func (n *Notary) Stop() {
	n.stop()
	<-n.done
}

// Damaged returns the error of a log that failed its check (wrapping
// ErrDamaged and carrying the problems), or nil.
func (n *Notary) Damaged() error {
	if r := n.damaged.Load(); r != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, r.Err())
	}
	return nil
}

// Report returns what the check at start found.
func (n *Notary) Report() evidence.Report { return n.report }

// Latest returns the latest checkpoint, or nil.
func (n *Notary) Latest() *evidence.Checkpoint { return n.latest.Load() }

// PublicKey returns the public key of the notary's checkpoints.
func (n *Notary) PublicKey() string { return n.key.Public }

// Checkpoint signs the log's head now, after reading what it has not read
// yet. Unless force, a head already signed is not signed again: its
// checkpoint is returned.
func (n *Notary) Checkpoint(ctx context.Context, force bool) (evidence.Checkpoint, error) {
	r, err := n.ask(ctx, request{force: force})
	return r.cp, err
}

// Prove returns the inclusion proof of the event at seq against the latest
// checkpoint, signing one first if none covers it.
func (n *Notary) Prove(ctx context.Context, seq uint64) (evidence.Proof, error) {
	r, err := n.ask(ctx, request{prove: seq})
	return r.proof, err
}

func (n *Notary) ask(ctx context.Context, q request) (reply, error) {
	if err := n.Damaged(); err != nil {
		return reply{}, err
	}
	q.ctx, q.reply = ctx, make(chan reply, 1)
	select {
	case n.reqs <- q:
	case <-n.done:
		return reply{}, errors.New("notary stopped")
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
	select {
	case r := <-q.reply:
		return r, r.err
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

func (n *Notary) run(ctx context.Context) {
	defer close(n.done)
	poll := time.NewTicker(n.opt.Poll)
	defer poll.Stop()
	if n.opt.Meetings != nil {
		n.meetings = n.opt.Meetings()
	}
	n.scheduleMeeting()
	defer func() {
		if n.meeting != nil {
			n.meeting.Stop()
		}
	}()
	for {
		var meetingC <-chan time.Time
		if n.meeting != nil {
			meetingC = n.meeting.C
		}
		select {
		case <-ctx.Done():
			return
		case q := <-n.reqs:
			q.reply <- n.serve(q)
		case <-poll.C:
			if n.damaged.Load() == nil {
				_, _ = n.sign(ctx, false, n.due)
			}
		case <-meetingC:
			n.meeting = nil
			if n.damaged.Load() == nil {
				_, _ = n.sign(ctx, true, nil)
			}
			n.scheduleMeeting()
		}
	}
}

func (n *Notary) serve(q request) reply {
	if q.prove == 0 {
		cp, err := n.sign(q.ctx, q.force, nil)
		return reply{cp: cp, err: err}
	}
	cp, err := n.sign(q.ctx, false, func() bool { return n.last == nil || n.last.Size < q.prove })
	if err != nil {
		return reply{err: err}
	}
	m, err := n.log.GetMessage(q.ctx, q.prove)
	if err != nil {
		return reply{err: err}
	}
	e, quarantined := events.DecodeMessage(m.Subject, m.Data, m.Seq, m.Recorded)
	if quarantined != nil {
		return reply{err: fmt.Errorf("%s: no view counts it: it has no proof as an event", quarantined)}
	}
	p, err := evidence.Prove(n.tree, m, e, cp)
	return reply{proof: p, err: err}
}

// due says whether the head must be signed by the notary's own rules.
func (n *Notary) due() bool {
	size := n.tree.Size()
	switch {
	case n.last == nil:
		return size > 0
	case size <= n.last.Size:
		return false
	case size-n.last.Size >= n.opt.Every:
		return true
	}
	return n.opt.Now().Sub(n.last.Time) >= n.opt.Interval
}

// sign reads the messages not read yet, and signs the head when when()
// says so (nil: when it is not signed yet, or always with force). It
// returns the latest checkpoint.
func (n *Notary) sign(ctx context.Context, force bool, when func() bool) (evidence.Checkpoint, error) {
	if err := n.catchUp(ctx); err != nil {
		return evidence.Checkpoint{}, err
	}
	size := n.tree.Size()
	switch {
	case size == 0:
		return evidence.Checkpoint{}, ErrEmpty
	case when != nil && !when():
	case when == nil && !force && n.last != nil && n.last.Size == size:
	default:
		return n.signHead(ctx)
	}
	if n.last == nil {
		return evidence.Checkpoint{}, errors.New("no checkpoint yet")
	}
	return *n.last, nil
}

// catchUp adds the leaves of the messages stored since the tree's end.
// A message missing in between damages the log.
func (n *Notary) catchUp(ctx context.Context) error {
	head, err := n.log.Head(ctx)
	if err != nil || head.LastSeq <= n.tree.Size() {
		return err
	}
	_, err = n.log.ReadMessages(ctx, n.tree.Size()+1, head.LastSeq, func(m evidence.Message) error {
		if m.Seq != n.tree.Size()+1 {
			r := n.report
			r.Problems = append(r.Problems, evidence.Problem{Seq: n.tree.Size() + 1, Reason: fmt.Sprintf("missing: the log went on at sequence %d", m.Seq)})
			n.damaged.Store(&r)
			return n.Damaged()
		}
		n.tree.Append(evidence.LeafOf(m))
		n.noteMeeting(m)
		return nil
	})
	return err
}

// noteMeeting schedules the end of a meeting the log records now.
func (n *Notary) noteMeeting(m evidence.Message) {
	if !strings.HasSuffix(m.Subject, "."+string(events.MeetingHeld)) {
		return
	}
	e, q := events.DecodeMessage(m.Subject, m.Data, m.Seq, m.Recorded)
	if q != nil {
		return
	}
	if mt, ok := e.Payload.(*events.Meeting); ok {
		n.meetings = append(n.meetings, mt.End.Time().AddDate(0, 0, 1))
		n.scheduleMeeting()
	}
}

func (n *Notary) signHead(ctx context.Context) (evidence.Checkpoint, error) {
	size := n.tree.Size()
	root, err := n.tree.Root(size)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	cp, err := evidence.Sign(n.key.Private, evidence.Origin(n.log.StreamName()), size, root, size, n.opt.Now())
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	s := evidence.Stored{Note: string(cp.Note)}
	var from uint64
	if n.last != nil {
		from = n.last.Size
		if from > 0 {
			s.From = from
			if s.Consistency, err = n.tree.ConsistencyProof(from, size); err != nil {
				return evidence.Checkpoint{}, err
			}
		}
	}
	var leaves []evidence.Hash
	for i := from; i < size; i++ {
		leaves = append(leaves, n.tree.Leaf(i))
	}
	if err := n.store.Publish(ctx, from+1, leaves, s); err != nil {
		return evidence.Checkpoint{}, err
	}
	n.last = &cp
	n.latest.Store(&cp)
	return cp, nil
}

// scheduleMeeting sets the timer to the first meeting end after now.
func (n *Notary) scheduleMeeting() {
	now := n.opt.Now()
	var next time.Time
	for _, t := range n.meetings {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if n.meeting != nil {
		n.meeting.Stop()
		n.meeting = nil
	}
	if !next.IsZero() {
		n.meeting = time.NewTimer(next.Sub(now))
	}
}

package aggregates

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Store is the event log as the Ledger needs it. The JetStream log
// (deploy/jetstream/jslog.Log) satisfies it; tests may use any other.
type Store interface {
	// Replay calls fn for every stored event from stream sequence from to
	// the end of the log as it stood when the call started, in stream
	// order, and returns the last sequence it covered. A stored message
	// that is not an event of its subject goes to skipped instead.
	Replay(ctx context.Context, from uint64, fn func(events.Envelope) error, skipped func(events.Quarantined)) (uint64, error)
	// Append stores the events of one command about one scope atomically
	// if the scope's last event is still at sequence expected; see
	// jslog.Log.Append for the errors.
	Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error)
	// AppendChain stores events in order as the only writer after
	// sequence after; a failure leaves a stored prefix and nothing else.
	AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(done int)) (int, uint64, error)
}

// Ledger decides and records events: it holds the aggregate of every State
// (and of the Convention) as of the last sequence it read, decides each new
// event against them and appends it with the scope's version, so that a
// concurrent writer is detected by the log, not by a read. What it reads
// passes a Gate: a stored message the rules do not accept is quarantined,
// never counted. It is safe for concurrent use; appends through one Ledger
// are serialised.
type Ledger struct {
	store Store
	clock func() time.Time

	mu          sync.Mutex
	gate        *Gate // the aggregates, as admitted from the log
	quarantined []events.Quarantined
	owner       map[uuid.UUID]string          // id -> scope of the event that holds it
	retractions map[uuid.UUID]events.Envelope // the retractions held (facts keep the rest)
	seq         uint64                        // every event up to seq has been applied
	// stored is, by scope, the last message stored on its subjects,
	// admitted or quarantined: what the log checks an append against.
	stored map[string]uint64
	// ahead holds the sequences of events this Ledger recorded and
	// applied beyond seq, while messages before them are still unread.
	ahead  map[uint64]bool
	readAt time.Time // when the log was last read

	// Freshness bounds how old a read of the log a decision may rest on:
	// past it, a command reads the log first. Keep it under the stream's
	// duplicate window, which covers the ids others stored meanwhile.
	Freshness time.Duration
	// Conflicts bounds the decisions of a command taken again after
	// concurrency conflicts; default retry.Conflict.
	Conflicts retry.Policy
	conv      Convention
	dirty     bool // conv must be recomputed
}

// NewLedger returns a Ledger over store. clock gives today's date for the
// rule that no event is dated in the future; nil means time.Now.
func NewLedger(store Store, clock func() time.Time) *Ledger {
	if clock == nil {
		clock = time.Now
	}
	l := &Ledger{store: store, clock: clock, Freshness: DefaultFreshness, Conflicts: retry.Conflict, stored: map[string]uint64{}, ahead: map[uint64]bool{}}
	l.gate = NewGate(l.noteQuarantined)
	return l
}

// DefaultFreshness is how long a Ledger decides on what it read before it
// reads the log again: half the log's default duplicate window (2 min),
// within which the server itself refuses an id stored by another writer.
const DefaultFreshness = time.Minute

func (l *Ledger) noteQuarantined(q events.Quarantined) {
	l.quarantined = append(l.quarantined, q)
	scope := q.Scope
	if sc, ok := events.ScopeOfSubject(q.Subject); ok {
		scope = sc // the subject, not what the message claims, is what the log checks
	}
	l.noteStored(scope, q.Seq)
}

func (l *Ledger) noteStored(scope string, seq uint64) {
	if scope != "" && seq > l.stored[scope] {
		l.stored[scope] = seq
	}
}

// expected is the version to append to a scope with: its last admitted
// event, or a later message stored on its subjects that no read admits.
func (l *Ledger) expected(scope string, s *State) uint64 { return max(s.Version, l.stored[scope]) }

// Quarantined returns the stored messages the Ledger read and does not
// count, in stream order.
func (l *Ledger) Quarantined() []events.Quarantined {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Quarantined(nil), l.quarantined...)
}

// Sync reads every event recorded since the last Sync. It returns the last
// stream sequence read.
func (l *Ledger) Sync(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.sync(ctx)
}

func (l *Ledger) sync(ctx context.Context) error {
	last, err := l.store.Replay(ctx, l.seq+1, func(e events.Envelope) error {
		l.apply(e)
		return nil
	}, l.noteQuarantined)
	if err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	if last > l.seq {
		l.seq = last
	}
	l.readAt = time.Now()
	return nil
}

// Apply folds an event read from the log by someone else (a live follower)
// into the Ledger. Events must come in stream order; one the Ledger has
// read or recorded already is ignored.
func (l *Ledger) Apply(e events.Envelope) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Seq <= l.seq {
		return
	}
	l.apply(e)
	l.seq = e.Seq
}

// Follower returns the Ledger as a live fold drives it (projections.Feed):
// what the fold reads, in stream order, taken only while the Ledger is not
// busy. A Ledger deciding, importing or reading the log itself does not
// hold up the fold: what it misses meanwhile, it reads itself (its next
// read starts after the last message it holds, and a feed never skips one).
func (l *Ledger) Follower() Follower { return Follower{l} }

// Follower feeds a Ledger from a reader of the log; see Ledger.Follower.
type Follower struct{ l *Ledger }

// with runs fn on the Ledger unless it is busy.
func (f Follower) with(fn func(l *Ledger)) {
	if !f.l.mu.TryLock() {
		return
	}
	defer f.l.mu.Unlock()
	fn(f.l)
}

// Apply takes the next stored event, if the Ledger holds every message
// before it.
func (f Follower) Apply(e events.Envelope) {
	f.with(func(l *Ledger) {
		if e.Seq == l.seq+1 {
			l.apply(e)
			l.seq = e.Seq
		}
	})
}

// Skip takes the next stored message that is not an event of its
// subject: it is quarantined, and the next append to its scope expects it.
func (f Follower) Skip(q events.Quarantined) {
	f.with(func(l *Ledger) {
		if q.Seq == l.seq+1 {
			l.noteQuarantined(q)
			l.seq = q.Seq
		}
	})
}

// ReadTo says the reader read the log up to head in a read that ended at
// time at: the Ledger's decisions rest on it (Freshness) if the Ledger
// holds every message up to head.
func (f Follower) ReadTo(head uint64, at time.Time) {
	f.with(func(l *Ledger) {
		if l.seq >= head && at.After(l.readAt) {
			l.readAt = at
		}
	})
}

func (l *Ledger) apply(e events.Envelope) {
	if l.ahead[e.Seq] {
		delete(l.ahead, e.Seq) // recorded by this Ledger, applied then
		return
	}
	l.noteStored(e.Scope(), e.Seq)
	if !l.gate.Admit(e) {
		return
	}
	l.own(e)
	if e.Type == events.Deposited || e.Type == events.Retracted {
		l.dirty = true
	}
}

func (l *Ledger) scope(name string) *State { return l.gate.State(name) }

// Seq returns the last stream sequence the Ledger has read.
func (l *Ledger) Seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Convention returns what the Ledger knows of the Convention as a whole.
func (l *Ledger) Convention() Convention {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.convention()
}

func (l *Ledger) convention() Convention {
	if l.dirty {
		l.conv = conventionOf(scopeMap(l.gate.scopes))
		l.dirty = false
	}
	return l.conv
}

// scopeSet is a set of aggregates by scope.
type scopeSet interface {
	each(func(name string, s *State))
}

type scopeMap map[string]*State

func (m scopeMap) each(f func(string, *State)) {
	for k, v := range m {
		f(k, v)
	}
}

// retractsDeposit reports whether e, just applied to s, retracted a deposit.
func retractsDeposit(s *State, e events.Envelope) bool {
	if e.Type != events.Retracted {
		return false
	}
	f, ok := s.Retracted[e.Payload.(*events.Retraction).Event]
	return ok && f.Type == events.Deposited
}

func conventionOf(scopes scopeSet) Convention {
	var deps []events.Date
	scopes.each(func(name string, s *State) {
		if name == events.ConventionScope {
			return
		}
		for _, f := range s.Facts(events.Deposited) {
			deps = append(deps, f.Date)
		}
	})
	eif, thirtieth, _ := ConventionEntryIntoForce(deps)
	return Convention{EntryIntoForce: eif, ThirtiethDeposit: thirtieth}
}

// State returns a copy of the aggregate of a scope (an ISO3 code or
// events.ConventionScope) as last read.
func (l *Ledger) State(scope string) *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scope(scope).Clone()
}

func (l *Ledger) today() events.Date { return events.DateOf(l.clock()) }

// Outcome is what the Ledger did with one event of a command.
type Outcome struct {
	// Seq is the stream sequence the event is stored at.
	Seq uint64
	// Existing is true when the ledger held this very event already: the
	// command recorded nothing for it.
	Existing bool
}

// Record decides and appends the events of one command, all about one scope,
// atomically; see RecordCommand. It returns the stream sequence of the last
// event stored, or events.ErrDuplicate (wrapped) with the sequence of the
// last one when the ledger held every event already.
func (l *Ledger) Record(ctx context.Context, evs ...events.Envelope) (uint64, error) {
	out, err := l.RecordCommand(ctx, evs...)
	if err != nil {
		return 0, err
	}
	last := out[len(out)-1].Seq
	for _, o := range out {
		if !o.Existing {
			return max(last, o.Seq), nil
		}
	}
	return last, fmt.Errorf("event %s: %w", evs[len(evs)-1].ID, events.ErrDuplicate)
}

// RecordCommand decides and appends the events of one command, all about one
// scope, that the ledger does not hold yet, atomically, and says for each
// event where it is stored. An event whose id the ledger holds for exactly
// the same event is Existing; for another event, in any scope and however
// long ago, the command records nothing and fails with an *IDConflictError.
// It first reads the log when its last read is older than Freshness, and on
// a concurrency conflict or a duplicate it reads what others recorded and
// decides again (retry.Conflict bounds it), so that no decision rests on a
// stale copy.
//
// Errors: a *Rejection (events.ErrRejected) when an event is impossible; an
// *IDConflictError (events.ErrIDConflict); events.ErrConflict when
// conflicts persist; errors of the log otherwise.
func (l *Ledger) RecordCommand(ctx context.Context, evs ...events.Envelope) ([]Outcome, error) {
	if len(evs) == 0 {
		return nil, errors.New("record: no events")
	}
	scope := evs[0].Scope()
	for _, e := range evs[1:] {
		if e.Scope() != scope {
			return nil, fmt.Errorf("record: one command is about one scope; got %s and %s", scope, e.Scope())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Outcome, len(evs))
	// A decision rests on a read of the log younger than Freshness: what
	// others recorded since is caught by the concurrency check (same
	// State) or the server's duplicate window (the same id elsewhere).
	stale, synced := l.readAt.IsZero() || time.Since(l.readAt) > l.Freshness, false
	err := retry.Do(ctx, l.Conflicts, func(int) error {
		if stale {
			if err := l.sync(ctx); err != nil {
				return retry.Permanent(err)
			}
			stale, synced = false, true
		}
		todo, idx, err := l.pending(evs, out)
		if err != nil || len(todo) == 0 {
			return retry.Permanent(err)
		}
		seq, err := l.decideAndAppend(ctx, scope, todo)
		switch {
		case err == nil:
			for j, i := range idx {
				out[i] = Outcome{Seq: seq - uint64(len(todo)-1-j)}
			}
			return nil
		case errors.Is(err, events.ErrRejected) && !synced,
			errors.Is(err, events.ErrConflict), errors.Is(err, events.ErrDuplicate):
			// What the Ledger read may be stale (another writer may have
			// recorded the signature this deposit needs, or recorded
			// first): read the log and decide again. The pause before
			// spreads racing writers apart, and on a replicated stream,
			// which refuses an append while another about the same scope
			// is being replicated (error 10164), lets that one land.
			stale = true
			return err
		}
		return retry.Permanent(err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pending sorts the events of a command: those the ledger holds already
// get their Outcome; the others are returned, with their indexes, to be
// recorded. An id held for another event is an *IDConflictError.
func (l *Ledger) pending(evs []events.Envelope, out []Outcome) ([]events.Envelope, []int, error) {
	var todo []events.Envelope
	var idx []int
	for i, e := range evs {
		held, ok := l.held(e.ID)
		switch {
		case !ok:
			todo, idx = append(todo, e), append(idx, i)
		case !sameEvent(held, e):
			return nil, nil, idConflict(held, e)
		default:
			out[i] = Outcome{Seq: held.Seq, Existing: true}
		}
	}
	return todo, idx, nil
}

// decideAndAppend decides the events of one command against the scope's
// aggregate and appends them with its version. Each event of a command of
// several is decided after the ones before it, applied to the aggregate
// meanwhile and taken back before the append.
func (l *Ledger) decideAndAppend(ctx context.Context, scope string, evs []events.Envelope) (uint64, error) {
	s := l.scope(scope)
	conv, today := l.convention(), l.today()
	version := l.expected(scope, s)
	var t importTrial
	err := func() error {
		defer l.undo(&t, 0)
		for _, e := range evs {
			if err := s.Decide(e, conv, today); err != nil {
				return err
			}
			if len(evs) > 1 {
				l.try(&t, s, e)
			}
		}
		return nil
	}()
	if err != nil {
		return 0, err
	}
	seq, err := l.store.Append(ctx, scope, version, evs...)
	if err != nil {
		return 0, err
	}
	first := seq - uint64(len(evs)-1)
	for i, e := range evs {
		e.Seq = first + uint64(i)
		l.apply(e)
	}
	if first == l.seq+1 {
		l.seq = seq
	} else {
		// Others stored messages in between: the next read meets these
		// again and must not count them twice (nor quarantine them as
		// duplicates of themselves).
		for s := first; s <= seq; s++ {
			l.ahead[s] = true
		}
	}
	return seq, nil
}

// ImportProblem is one event of an import that cannot be recorded.
type ImportProblem struct {
	// Index is the event's position in the input (from 0).
	Index int
	Event events.Envelope
	Err   error
}

// ImportError lists every event of an import that the Convention's rules
// reject. Nothing of the import was recorded.
type ImportError struct {
	Problems []ImportProblem
}

func (e *ImportError) Error() string {
	p := e.Problems[0]
	msg := fmt.Sprintf("event %d (%s %s %s): %v", p.Index+1, p.Event.Type, p.Event.Scope(), p.Event.Date, p.Err)
	if len(e.Problems) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(e.Problems)-1)
	}
	return msg
}

// Unwrap returns the individual errors.
func (e *ImportError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Err
	}
	return out
}

// ImportResult counts what an import did.
type ImportResult struct {
	// Appended counts the events this import recorded, in whichever
	// attempt; Skipped those the ledger held before it began or another
	// writer stored meanwhile.
	Appended int
	Skipped  int
	// LastSeq is the stream sequence of the last event recorded.
	LastSeq uint64
	// Attempts counts the chained appends (more than one after a conflict
	// or a failure); Stored the events each attempt stored, acknowledged
	// or found in the log by the next attempt (their sum is Appended).
	Attempts int
	Stored   []int
}

// ImportSource is the input of an import as ImportFrom and CheckFrom read
// it: its events are read again, a batch at a time, each time the import
// decides them, so that no more of them than a batch is held decoded
// besides the aggregates. events.LineIndex is one, for a JSON Lines input;
// Import and Check take a slice of events.
type ImportSource interface {
	// Len returns the number of events.
	Len() int
	// Key returns the valid date and the type of event i (from 0), which
	// place it in the decision order (DecisionOrder).
	Key(i int) (events.Date, events.Type)
	// Events calls fn with the events at the indexes of order, in that
	// order, a batch at a time (at is the position in order of the
	// batch's first event), and stops at the first error. fn does not
	// keep evs.
	Events(order []int32, fn func(at int, evs []events.Envelope) error) error
}

// eventSlice is the ImportSource of events held in memory.
type eventSlice []events.Envelope

func (s eventSlice) Len() int { return len(s) }

func (s eventSlice) Key(i int) (events.Date, events.Type) { return s[i].Date, s[i].Type }

func (s eventSlice) Events(order []int32, fn func(int, []events.Envelope) error) error {
	buf := make([]events.Envelope, 0, min(importBatch, len(order)))
	for at := 0; at < len(order); at += importBatch {
		buf = buf[:0]
		for _, i := range order[at:min(at+importBatch, len(order))] {
			buf = append(buf, s[i])
		}
		if err := fn(at, buf); err != nil {
			return err
		}
	}
	return nil
}

// importBatch bounds the events an import holds decoded, or encoded for the
// log, at a time: it decides them a batch at a time, and appends its chain
// in links of this many (each link expecting the sequence the one before
// ended at).
const importBatch = 8192

// Import decides a whole input against the ledger and records it. Every event
// is decided first, in valid-date order (then input order) as if recorded in
// that order, each seeing the ones before it; if any is impossible, Import
// returns an *ImportError listing all of them and records nothing. Events
// whose id the ledger already holds are skipped, so importing the same input
// twice records nothing new.
//
// The accepted events are then appended as one chain (see Store.AppendChain)
// in that order, so a failure part-way leaves a consistent prefix. After a
// conflict or a transient failure Import reads the log again, skips what was
// stored, decides the rest again and continues, as retry.Transient bounds.
// progress, when not nil, receives the number of events recorded so far.
func (l *Ledger) Import(ctx context.Context, evs []events.Envelope, progress func(done, total int)) (ImportResult, error) {
	return l.ImportFrom(ctx, eventSlice(evs), progress)
}

// ImportFrom is Import of an input read from src, whose events it reads
// again each time it decides them. The decisions are taken on the ledger's
// own aggregates, with the facts of the events accepted so far applied to
// them, and taken back when the import fails or is refused: an import holds
// no copy of an aggregate, and besides what it records it keeps 32 bytes
// an event (the decision order, and how to take each event back, with no
// pointer for the collector to follow) and a batch of events. The chain is
// appended in links of a batch, each encoded as it goes.
func (l *Ledger) ImportFrom(ctx context.Context, src ImportSource, progress func(done, total int)) (ImportResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var res ImportResult
	if err := l.sync(ctx); err != nil {
		return res, err
	}
	order, err := decisionOrder(src)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	// What this import stored, acknowledged or not (an unanswered link
	// may have been stored whole), apart from what others stored
	// meanwhile, which is counted as already recorded.
	own := &importOwn{unanswered: map[uuid.UUID]struct{}{}}
	err = retry.Do(ctx, retry.Transient, func(attempt int) error {
		res.Attempts = attempt
		if attempt > 1 {
			if err := l.sync(ctx); err != nil {
				return err
			}
		}
		t, err := l.decide(src, order, own)
		if err != nil {
			return retry.Permanent(err)
		}
		if n := len(res.Stored); n > 0 {
			// What the last attempt stored beyond its acknowledgements.
			res.Stored[n-1] += t.mine - res.Appended
		}
		res.Appended, res.Skipped = t.mine, t.skipped
		if t.steps.n == 0 {
			if attempt > 1 {
				// One entry an attempt: this one found all stored.
				res.Stored = append(res.Stored, 0)
			}
			res.LastSeq = l.seq
			return nil
		}
		n, err := l.appendTrial(ctx, t, own, func(done int) {
			if progress != nil {
				progress(res.Appended+done, src.Len()-res.Skipped)
			}
		})
		res.Stored = append(res.Stored, n)
		res.Appended += n
		if n > 0 {
			res.LastSeq = l.seq
		}
		// A conflict, or a failure that may have stored a prefix: read
		// the log again and go on from what it holds. An error the log
		// marks permanent (a limit, a permission) is not retried.
		return err
	})
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

// appendTrial appends the events a trial accepted, in links of importBatch
// events: each link is built from the aggregates (the facts applied hold
// the events' content), appended after the sequence the one before ended
// at, and its events made the ledger's at the sequences they were stored
// at. On a failure, the events not acknowledged are taken back.
func (l *Ledger) appendTrial(ctx context.Context, t *importTrial, own *importOwn, progress func(done int)) (int, error) {
	stored := 0
	buf := make([]events.Envelope, 0, min(importBatch, t.steps.n))
	for stored < t.steps.n {
		from := stored
		link := t.events(buf[:0], from, min(from+importBatch, t.steps.n))
		n, last, err := l.store.AppendChain(ctx, l.seq, link, func(done int) { progress(from + done) })
		if n > 0 {
			own.acked = append(own.acked, [2]uint64{last - uint64(n) + 1, last})
			l.commit(t, from, link[:n], last)
			stored += n
		}
		if err != nil && !errors.Is(err, events.ErrConflict) {
			// A refused link stores nothing; an unanswered one may have
			// been stored.
			for _, e := range link[n:] {
				own.unanswered[e.ID] = struct{}{}
			}
		}
		if err != nil {
			l.undo(t, stored)
			return stored, err
		}
		t.steps.release(stored)
		clear(link)
	}
	return stored, nil
}

// importOwn is what one import sent: the sequences acknowledged to it, and
// the ids of the events of links that failed unanswered, which the log may
// hold all the same.
type importOwn struct {
	acked      [][2]uint64
	unanswered map[uuid.UUID]struct{}
}

// stored reports whether a held event is one the import stored.
func (o *importOwn) stored(id uuid.UUID, seq uint64) bool {
	if o == nil {
		return false
	}
	if _, ok := o.unanswered[id]; ok {
		return true
	}
	for _, r := range o.acked {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// Check decides a whole input against the ledger as Import does, and records
// nothing: it returns how many events Import would record and skip, or an
// *ImportError.
func (l *Ledger) Check(ctx context.Context, evs []events.Envelope) (ImportResult, error) {
	return l.CheckFrom(ctx, eventSlice(evs))
}

// CheckFrom is Check of an input read from src, as ImportFrom reads it.
func (l *Ledger) CheckFrom(ctx context.Context, src ImportSource) (ImportResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.sync(ctx); err != nil {
		return ImportResult{}, err
	}
	order, err := decisionOrder(src)
	if err != nil {
		return ImportResult{}, err
	}
	t, err := l.decide(src, order, nil)
	if err != nil {
		return ImportResult{LastSeq: l.seq}, err
	}
	res := ImportResult{Appended: t.steps.n, Skipped: t.skipped, LastSeq: l.seq}
	l.undo(t, 0)
	return res, nil
}

// DecisionOrder returns the indexes of evs in the order Import decides and
// stores them: see dateOrder. A log written in another order may hold events
// the rules reject where they stand (a deposit before its signature), which
// every fold then leaves out (Gate).
func DecisionOrder(evs []events.Envelope) []int { return dateOrder(evs) }

// dateOrder returns the indexes of evs in valid-date order; among events of
// the same day, in the order facts follow each other in a State's life (a
// signature before a deposit, a declaration before its completion, a
// retraction after what it retracts), then in input order.
func dateOrder(evs []events.Envelope) []int {
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := evs[order[a]], evs[order[b]]
		if x.Date != y.Date {
			return x.Date < y.Date
		}
		return lifecycleRank[x.Type] < lifecycleRank[y.Type]
	})
	return order
}

// lifecycleRank orders event types that can fall on the same day.
var lifecycleRank = map[events.Type]int{
	events.MeetingHeld:                   0,
	events.Signed:                        1,
	events.Deposited:                     2,
	events.StockpileDeclared:             3,
	events.RetentionDeclared:             4,
	events.StockpileDestroyed:            5,
	events.StockpileDestructionCompleted: 6,
	events.ContaminationDeclared:         7,
	events.ClearanceCompleted:            8,
	events.VictimsDeclared:               9,
	events.ExtensionGranted:              10,
	events.ReportSubmitted:               11,
	events.LegislationStatus:             12,
	events.AssistanceRequested:           13,
	events.AssistanceProvided:            14,
	events.WithdrawalNotified:            15,
	events.Retracted:                     16,
	events.CoverageDeclared:              17,
}

// decisionOrder returns the indexes of src's events in the order of
// dateOrder.
func decisionOrder(src ImportSource) ([]int32, error) {
	n := src.Len()
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("%d events: more than an import holds", n)
	}
	dates, ranks := make([]events.Date, n), make([]uint8, n)
	order := make([]int32, n)
	for i := range n {
		d, t := src.Key(i)
		dates[i], ranks[i], order[i] = d, uint8(lifecycleRank[t]), int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if dates[a] != dates[b] {
			return cmp.Compare(dates[a], dates[b])
		}
		if ranks[a] != ranks[b] {
			return cmp.Compare(ranks[a], ranks[b])
		}
		return cmp.Compare(a, b)
	})
	return order, nil
}

// importTrial is what deciding an import did to the ledger's aggregates,
// which it changes in place: the events accepted, in decision order, and how
// to take each back.
type importTrial struct {
	steps stepList
	rets  []retractionStep
	// skipped counts the events the ledger held before the import began,
	// mine those it holds that the import itself stored.
	skipped, mine int
	// scopes are the aggregates of the steps, each once: a step names its
	// own by index, so that the steps hold no pointer for the collector
	// to follow.
	scopes  []*State
	scopeOf map[*State]int32
}

// importStep is one event applied to an aggregate by a trial. The
// aggregate holds its content: a fact, or for a retraction only its id (the
// retraction is in rets).
type importStep struct {
	id    uuid.UUID
	date  events.Date
	scope int32 // index in scopes
	ret   int32 // 1 + its index in rets for a retraction; else 0
}

// stepList holds the steps of a trial in blocks of importBatch, one a link
// of the chain: the block of a link is let go once the link is stored.
type stepList struct {
	blocks [][]importStep
	n      int
}

func (l *stepList) at(k int) importStep { return l.blocks[k/importBatch][k%importBatch] }

func (l *stepList) push(st importStep) {
	if l.n%importBatch == 0 && l.n/importBatch == len(l.blocks) {
		l.blocks = append(l.blocks, nil)
	}
	b := &l.blocks[l.n/importBatch]
	*b = append(*b, st)
	l.n++
}

// truncate drops the steps from n on.
func (l *stepList) truncate(n int) {
	for k := len(l.blocks) - 1; k >= 0 && k*importBatch >= n; k-- {
		l.blocks[k] = nil
	}
	l.blocks = l.blocks[:(n+importBatch-1)/importBatch]
	if r := n % importBatch; r > 0 {
		b := &l.blocks[len(l.blocks)-1]
		clear((*b)[r:])
		*b = (*b)[:r]
	}
	l.n = n
}

// release lets go of the blocks of the steps before n, stored.
func (l *stepList) release(n int) {
	for k := range n / importBatch {
		l.blocks[k] = nil
	}
}

// state returns the aggregate of st.
func (t *importTrial) state(st importStep) *State { return t.scopes[st.scope] }

// retractionStep is a retraction applied by a trial, and where the fact it
// took back stood.
type retractionStep struct {
	e  events.Envelope
	t  events.Type
	at int
}

// try applies e, decided, to s as a step of t.
func (l *Ledger) try(t *importTrial, s *State, e events.Envelope) {
	e.Seq, e.Recorded = 0, time.Time{} // stored later, by the chain
	k, ok := t.scopeOf[s]
	if !ok {
		if t.scopeOf == nil {
			t.scopeOf = map[*State]int32{}
		}
		k = int32(len(t.scopes))
		t.scopes, t.scopeOf[s] = append(t.scopes, s), k
	}
	st := importStep{id: e.ID, date: e.Date, scope: k}
	if e.Type == events.Retracted {
		typ, at := s.locate(e.Payload.(*events.Retraction).Event)
		t.rets = append(t.rets, retractionStep{e: e, t: typ, at: at})
		st.ret = int32(len(t.rets))
	}
	s.Apply(e)
	t.steps.push(st)
}

// undo takes back the steps of t from step from on, last first, and drops
// them: the aggregates are as they were before them.
func (l *Ledger) undo(t *importTrial, from int) {
	if t.steps.n <= from {
		return
	}
	for k := t.steps.n - 1; k >= from; k-- {
		st := t.steps.at(k)
		if st.ret > 0 {
			r := t.rets[st.ret-1]
			t.state(st).unretract(st.id, r.e.Payload.(*events.Retraction).Event, r.t, r.at)
			t.rets = t.rets[:st.ret-1]
			continue
		}
		t.state(st).unapply(st.id, st.date)
	}
	t.steps.truncate(from)
	l.dirty = true
}

// events appends to dst the events of steps from to to, as the aggregates
// hold them.
func (t *importTrial) events(dst []events.Envelope, from, to int) []events.Envelope {
	for k := from; k < to; k++ {
		st := t.steps.at(k)
		if st.ret > 0 {
			dst = append(dst, t.rets[st.ret-1].e)
			continue
		}
		s := t.state(st)
		f, _ := s.appliedFact(st.id, st.date)
		f.Seq = 0 // stored by the chain
		dst = append(dst, f.Envelope(s.ISO3))
	}
	return dst
}

// commit makes the steps of t from from on, stored as stored (its link of
// the chain, the last at sequence last), the ledger's: nothing came between
// them (the chain checked).
func (l *Ledger) commit(t *importTrial, from int, stored []events.Envelope, last uint64) {
	first := last - uint64(len(stored)-1)
	for k, e := range stored {
		st, seq := t.steps.at(from+k), first+uint64(k)
		t.state(st).stamp(st.id, st.date, seq)
		e.Seq = seq
		l.own(e)
	}
	l.seq = last
	l.dirty = true
}

// decide decides the events of src in the given order against the
// aggregates, applying each accepted one to them before the next is
// decided. It returns the trial, or an *ImportError (every event the
// rules reject, or whose id the ledger holds for another event) with the
// aggregates as they were. Held events that own says the import stored (in
// an earlier attempt) are counted apart from those held before.
func (l *Ledger) decide(src ImportSource, order []int32, own *importOwn) (*importTrial, error) {
	t := &importTrial{}
	conv := l.convention()
	today := l.today()
	var bad ImportError
	err := src.Events(order, func(at int, evs []events.Envelope) error {
		for j, e := range evs {
			i := int(order[at+j])
			if h, ok := l.held(e.ID); ok {
				if !sameEvent(h, e) {
					bad.Problems = append(bad.Problems, ImportProblem{Index: i, Event: e, Err: idConflict(h, e)})
					continue
				}
				if own.stored(e.ID, h.Seq) {
					t.mine++
				} else {
					t.skipped++
				}
				continue
			}
			s := l.scope(e.Scope())
			if s.Knows(e.ID) {
				t.skipped++
				continue
			}
			if err := s.Decide(e, conv, today); err != nil {
				bad.Problems = append(bad.Problems, ImportProblem{Index: i, Event: e, Err: err})
				continue
			}
			l.try(t, s, e)
			if e.Scope() != events.ConventionScope && (e.Type == events.Deposited || retractsDeposit(s, e)) {
				// Entry into force depends on the deposits before:
				// recompute as deposits are accepted or retracted.
				conv = conventionOf(scopeMap(l.gate.scopes))
			}
		}
		return nil
	})
	if err != nil {
		l.undo(t, 0)
		return nil, err
	}
	if len(bad.Problems) > 0 {
		l.undo(t, 0)
		sort.Slice(bad.Problems, func(a, b int) bool { return bad.Problems[a].Index < bad.Problems[b].Index })
		return nil, &bad
	}
	return t, nil
}

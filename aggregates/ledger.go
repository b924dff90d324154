package aggregates

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

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
	seq         uint64 // every event up to seq has been applied
	conv        Convention
	dirty       bool // conv must be recomputed
}

// NewLedger returns a Ledger over store. clock gives today's date for the
// rule that no event is dated in the future; nil means time.Now.
func NewLedger(store Store, clock func() time.Time) *Ledger {
	if clock == nil {
		clock = time.Now
	}
	l := &Ledger{store: store, clock: clock}
	l.gate = NewGate(l.noteQuarantined)
	return l
}

func (l *Ledger) noteQuarantined(q events.Quarantined) { l.quarantined = append(l.quarantined, q) }

// Quarantined returns the stored messages the Ledger read and does not
// count, in stream order.
func (l *Ledger) Quarantined() []events.Quarantined {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Quarantined(nil), l.quarantined...)
}

// MaxAttempts bounds the retries of a command after concurrency conflicts
// or transient failures.
const MaxAttempts = 8

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
	return nil
}

// Apply folds an event read from the log by someone else (a live follower)
// into the Ledger. Events must come in stream order.
func (l *Ledger) Apply(e events.Envelope) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.apply(e)
	if e.Seq > l.seq {
		l.seq = e.Seq
	}
}

func (l *Ledger) apply(e events.Envelope) {
	if !l.gate.Admit(e) {
		return
	}
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

// overlay is a set of aggregates with some replaced by trial copies.
type overlay struct{ base, over map[string]*State }

func (o overlay) each(f func(string, *State)) {
	for k, v := range o.base {
		if t, ok := o.over[k]; ok {
			v = t
		}
		f(k, v)
	}
	for k, v := range o.over {
		if _, ok := o.base[k]; !ok {
			f(k, v)
		}
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

// Record decides and appends the events of one command, all about one scope,
// atomically. On a concurrency conflict it reads what others recorded and
// decides again, up to MaxAttempts times. Before rejecting an event it reads
// the log, so that a rejection never rests on a stale copy of it. It returns
// the stream sequence of the last event stored.
//
// Errors: a *Rejection (events.ErrRejected) when an event is impossible;
// events.ErrDuplicate when an event's id is already recorded (the sequence
// returned is then 0); events.ErrConflict when conflicts persist; errors of
// the log otherwise.
func (l *Ledger) Record(ctx context.Context, evs ...events.Envelope) (uint64, error) {
	if len(evs) == 0 {
		return 0, errors.New("record: no events")
	}
	scope := evs[0].Scope()
	for _, e := range evs[1:] {
		if e.Scope() != scope {
			return 0, fmt.Errorf("record: one command is about one scope; got %s and %s", scope, e.Scope())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var lastErr error
	synced := false // the log was read during this call
attempts:
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		s := l.scope(scope)
		trial := s
		if len(evs) > 1 {
			trial = s.Clone()
		}
		conv := l.convention()
		today := l.today()
		for _, e := range evs {
			if err := trial.Decide(e, conv, today); err != nil {
				if !synced && errors.Is(err, events.ErrRejected) {
					// What the Ledger read may be stale (another writer may
					// have recorded the signature this deposit needs): a
					// rejection must rest on the log as it is now.
					if err := l.sync(ctx); err != nil {
						return 0, err
					}
					synced = true
					continue attempts
				}
				return 0, err
			}
			if len(evs) > 1 {
				trial.Apply(e)
			}
		}
		seq, err := l.store.Append(ctx, scope, s.Version, evs...)
		if err == nil {
			for i, e := range evs {
				e.Seq = seq - uint64(len(evs)-1-i)
				l.apply(e)
			}
			return seq, nil
		}
		if !errors.Is(err, events.ErrConflict) && !errors.Is(err, events.ErrDuplicate) {
			return 0, err
		}
		// Someone else recorded first (or this very event is already in
		// the log): read what they recorded and decide again.
		lastErr = err
		// Wait a random while (up to 5, 10, 20 ... 640 ms) before reading
		// the log again: writers racing on one scope spread out instead of
		// colliding again, and on a replicated stream, which also refuses
		// an append while another one about the same scope is still being
		// replicated (JetStream error 10164), that one lands first.
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(rand.N(5 * time.Millisecond << attempt)):
		}
		if err := l.sync(ctx); err != nil {
			return 0, err
		}
		synced = true
	}
	return 0, lastErr
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
	Appended int    // events recorded
	Skipped  int    // events whose id the ledger already held
	LastSeq  uint64 // stream sequence of the last event recorded
	Attempts int    // chained appends needed (more than one after a conflict or a failure)
}

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
// stored, decides the rest again and continues, up to MaxAttempts times.
// progress, when not nil, receives the number of events recorded so far.
func (l *Ledger) Import(ctx context.Context, evs []events.Envelope, progress func(done, total int)) (ImportResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var res ImportResult
	if err := l.sync(ctx); err != nil {
		return res, err
	}
	order := dateOrder(evs)
	var lastErr error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		res.Attempts = attempt
		todo, skipped, trial, err := l.decideAll(evs, order)
		if err != nil {
			return res, err
		}
		// After a conflict the events this import stored in an earlier
		// attempt are known too: they count as appended, not skipped, and
		// so Appended+Skipped is the input's length once Import succeeds.
		res.Skipped = max(0, skipped-res.Appended)
		if len(todo) == 0 {
			res.LastSeq = l.seq
			return res, nil
		}
		base := res.Appended
		n, last, err := l.store.AppendChain(ctx, l.seq, todo, func(done int) {
			if progress != nil {
				progress(base+done, len(evs)-res.Skipped)
			}
		})
		res.Appended += n
		if n > 0 {
			res.LastSeq = last
		}
		if err == nil {
			// Nothing came between the chain's events (it checked), so the
			// trial aggregates are the ledger now: take them, with the
			// sequences the events were stored at.
			seqs := make(map[uuid.UUID]uint64, len(todo))
			for i, e := range todo {
				seqs[e.ID] = last - uint64(n-1-i)
			}
			for scope, st := range trial {
				st.stampSeqs(seqs)
				l.gate.scopes[scope] = st
			}
			l.dirty = true
			l.seq = last
			return res, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		// A conflict, or a failure that may have stored a prefix: read the
		// log again. Back off a little for leader elections.
		time.Sleep(time.Duration(attempt*attempt) * 100 * time.Millisecond)
		if err := l.sync(ctx); err != nil {
			lastErr = err
			continue
		}
	}
	return res, fmt.Errorf("import: gave up after %d attempts: %w", MaxAttempts, lastErr)
}

// Check decides a whole input against the ledger as Import does, and records
// nothing: it returns how many events Import would record and skip, or an
// *ImportError.
func (l *Ledger) Check(ctx context.Context, evs []events.Envelope) (ImportResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.sync(ctx); err != nil {
		return ImportResult{}, err
	}
	order := dateOrder(evs)
	todo, skipped, _, err := l.decideAll(evs, order)
	return ImportResult{Appended: len(todo), Skipped: skipped, LastSeq: l.seq}, err
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
}

// decideAll decides the events of an import in the given order against
// copies of the aggregates. It returns the events to append, in that order,
// and how many were skipped as already recorded, or an *ImportError.
func (l *Ledger) decideAll(evs []events.Envelope, order []int) ([]events.Envelope, int, map[string]*State, error) {
	trial := map[string]*State{}
	get := func(scope string) *State {
		s, ok := trial[scope]
		if !ok {
			s = l.scope(scope).Clone()
			trial[scope] = s
		}
		return s
	}
	conv := l.convention()
	today := l.today()
	var (
		todo    = make([]events.Envelope, 0, len(order))
		skipped int
		bad     ImportError
	)
	for _, i := range order {
		e := evs[i]
		s := get(e.Scope())
		if s.Knows(e.ID) {
			skipped++
			continue
		}
		if err := s.Decide(e, conv, today); err != nil {
			bad.Problems = append(bad.Problems, ImportProblem{Index: i, Event: e, Err: err})
			continue
		}
		s.Apply(e)
		if e.Scope() != events.ConventionScope && (e.Type == events.Deposited || retractsDeposit(s, e)) {
			// Entry into force depends on the deposits before: recompute
			// from the trial aggregates as deposits are accepted or
			// retracted.
			conv = conventionOf(overlay{l.gate.scopes, trial})
		}
		todo = append(todo, e)
	}
	if len(bad.Problems) > 0 {
		sort.Slice(bad.Problems, func(a, b int) bool { return bad.Problems[a].Index < bad.Problems[b].Index })
		return nil, 0, nil, &bad
	}
	return todo, skipped, trial, nil
}

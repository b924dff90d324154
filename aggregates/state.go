package aggregates

import (
	"sort"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Fact is one recorded event as the aggregate keeps it: what it is, when it
// happened and where it is stored.
type Fact struct {
	ID   uuid.UUID
	Type events.Type
	Date events.Date
	// Precision is how well Date is known (events.Day when the day is).
	Precision events.Precision
	Seq       uint64
	// Payload is the event's decoded data (events.Empty for types without).
	Payload events.Payload
	// Source is where a reader can check the fact.
	Source string
}

// factOf is the fact an event states; Envelope is its inverse. Every field
// of an event's content passes through these two.
func factOf(e events.Envelope) Fact {
	return Fact{ID: e.ID, Type: e.Type, Date: e.Date, Precision: e.Precision, Seq: e.Seq, Payload: e.Payload, Source: e.Source}
}

// Envelope returns the event a fact of scope states, with its stream
// sequence (0 for a fact not stored yet).
func (f Fact) Envelope(scope string) events.Envelope {
	state := scope
	if scope == events.ConventionScope {
		state = ""
	}
	return events.Envelope{ID: f.ID, Type: f.Type, State: state, Date: f.Date, Precision: f.Precision, Seq: f.Seq, Payload: f.Payload, Source: f.Source}
}

// Instrument returns the instrument of a deposited fact.
func (f Fact) Instrument() events.Instrument {
	if p, ok := f.Payload.(*events.Deposit); ok {
		return p.Instrument
	}
	return ""
}

// State is the aggregate of one State: every fact the ledger holds about it,
// by type, each list in valid-date order (then stream order). Retracted facts
// are removed from the lists and kept in Retracted.
//
// A State is built by Apply and read by its query methods; the zero value
// with ISO3 set is an empty State.
type State struct {
	ISO3 string
	// Version is the stream sequence of the last event applied: the
	// version to expect when appending to this State.
	Version uint64

	facts map[events.Type][]Fact
	// known maps every id ever applied (retracted or not) to its type.
	known map[uuid.UUID]events.Type
	// Retracted holds the facts taken back by a retraction, by id.
	Retracted map[uuid.UUID]Fact
}

// NewState returns the empty aggregate of a State.
func NewState(iso3 string) *State {
	return &State{ISO3: iso3, facts: map[events.Type][]Fact{}, known: map[uuid.UUID]events.Type{}, Retracted: map[uuid.UUID]Fact{}}
}

// Knows reports whether an event with this id was applied.
func (s *State) Knows(id uuid.UUID) bool { _, ok := s.known[id]; return ok }

// Facts returns the live facts of type t in valid-date order. The slice is
// shared: do not modify it.
func (s *State) Facts(t events.Type) []Fact { return s.facts[t] }

// Len returns the number of live facts.
func (s *State) Len() int {
	n := 0
	for _, fs := range s.facts {
		n += len(fs)
	}
	return n
}

// Apply folds one stored event into the aggregate. It is idempotent (an
// event already applied is ignored) and order-insensitive except that a
// retraction only removes a fact applied before it, as it always is in the
// log. Apply does not judge: decisions are Decide's.
func (s *State) Apply(e events.Envelope) {
	if _, dup := s.known[e.ID]; dup {
		return
	}
	s.known[e.ID] = e.Type
	if e.Seq > s.Version {
		s.Version = e.Seq
	}
	if e.Type == events.Retracted {
		target := e.Payload.(*events.Retraction).Event
		for t, fs := range s.facts {
			for i, f := range fs {
				if f.ID == target {
					s.Retracted[target] = f
					s.facts[t] = append(fs[:i:i], fs[i+1:]...)
					return
				}
			}
		}
		return
	}
	f := factOf(e)
	fs := s.facts[e.Type]
	i := sort.Search(len(fs), func(i int) bool {
		return fs[i].Date > f.Date || (fs[i].Date == f.Date && fs[i].Seq > f.Seq && f.Seq != 0)
	})
	fs = append(fs, Fact{})
	copy(fs[i+1:], fs[i:])
	fs[i] = f
	s.facts[e.Type] = fs
}

// first returns the earliest live fact of type t dated on or before d (any
// date when d is zero).
func (s *State) first(t events.Type, d events.Date) (Fact, bool) {
	fs := s.facts[t]
	if len(fs) > 0 && (d == 0 || fs[0].Date <= d) {
		return fs[0], true
	}
	return Fact{}, false
}

// last returns the latest live fact of type t dated on or before d (any date
// when d is zero).
func (s *State) last(t events.Type, d events.Date) (Fact, bool) {
	fs := s.facts[t]
	for i := len(fs) - 1; i >= 0; i-- {
		if d == 0 || fs[i].Date <= d {
			return fs[i], true
		}
	}
	return Fact{}, false
}

// Signature returns the State's signature dated on or before d (zero: any).
func (s *State) Signature(d events.Date) (Fact, bool) { return s.first(events.Signed, d) }

// Membership is one period in which a State is bound: from its deposit until
// a withdrawal takes effect (zero: not withdrawn).
type Membership struct {
	Deposit   Fact
	Notified  events.Date // withdrawal instrument received; zero if none
	Effective events.Date // withdrawal takes effect; zero if none
}

// Memberships returns the State's periods as a party, in date order: each
// deposit, with the first withdrawal notified after it (and before the next
// deposit).
func (s *State) Memberships() []Membership {
	deps := s.facts[events.Deposited]
	wds := s.facts[events.WithdrawalNotified]
	out := make([]Membership, 0, len(deps))
	for i, dep := range deps {
		m := Membership{Deposit: dep}
		for _, w := range wds {
			if w.Date < dep.Date || (i+1 < len(deps) && w.Date >= deps[i+1].Date) {
				continue
			}
			m.Notified = w.Date
			m.Effective = WithdrawalEffective(w.Date)
			break
		}
		out = append(out, m)
	}
	return out
}

// MembershipAt returns the membership in force or pending at d: the latest
// deposit dated on or before d whose withdrawal has not taken effect by d.
func (s *State) MembershipAt(d events.Date) (Membership, bool) {
	ms := s.Memberships()
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.Deposit.Date > d {
			continue
		}
		if m.Effective != 0 && m.Effective <= d {
			return Membership{}, false
		}
		return m, true
	}
	return Membership{}, false
}

// LastMembership returns the latest membership dated on or before d, even
// one that ended by withdrawal.
func (s *State) LastMembership(d events.Date) (Membership, bool) {
	ms := s.Memberships()
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Deposit.Date <= d {
			return ms[i], true
		}
	}
	return Membership{}, false
}

// Clone returns a deep copy of the aggregate, for deciding a batch of
// events without touching the original.
func (s *State) Clone() *State {
	c := &State{ISO3: s.ISO3, Version: s.Version, facts: make(map[events.Type][]Fact, len(s.facts)),
		known: make(map[uuid.UUID]events.Type, len(s.known)), Retracted: make(map[uuid.UUID]Fact, len(s.Retracted))}
	for t, fs := range s.facts {
		c.facts[t] = append([]Fact(nil), fs...)
	}
	for k, v := range s.known {
		c.known[k] = v
	}
	for k, v := range s.Retracted {
		c.Retracted[k] = v
	}
	return c
}

// factIndex returns where the live fact id, of type t dated d, stands in
// the list of its type, or -1.
func (s *State) factIndex(id uuid.UUID, t events.Type, d events.Date) int {
	fs := s.facts[t]
	for i := sort.Search(len(fs), func(i int) bool { return fs[i].Date >= d }); i < len(fs) && fs[i].Date == d; i++ {
		if fs[i].ID == id {
			return i
		}
	}
	return -1
}

// locate returns the type of the live fact id and where it stands in the
// list of its type (-1: it is not live).
func (s *State) locate(id uuid.UUID) (events.Type, int) {
	t, ok := s.known[id]
	if !ok {
		return "", -1
	}
	for i, f := range s.facts[t] {
		if f.ID == id {
			return t, i
		}
	}
	return t, -1
}

// appliedFact returns the fact id dated d, live or retracted.
func (s *State) appliedFact(id uuid.UUID, d events.Date) (Fact, bool) {
	t := s.known[id]
	if i := s.factIndex(id, t, d); i >= 0 {
		return s.facts[t][i], true
	}
	f, ok := s.Retracted[id]
	return f, ok
}

// unapply takes back the fact id dated d, not stored, that Apply folded in
// after every other event the aggregate holds: the aggregate is again as it
// was before.
func (s *State) unapply(id uuid.UUID, d events.Date) {
	t := s.known[id]
	delete(s.known, id)
	i := s.factIndex(id, t, d)
	if i < 0 {
		return
	}
	fs := s.facts[t]
	copy(fs[i:], fs[i+1:])
	fs[len(fs)-1] = Fact{}
	if fs = fs[:len(fs)-1]; len(fs) == 0 {
		delete(s.facts, t)
		return
	}
	s.facts[t] = fs
}

// unretract takes back the retraction id of target, not stored, that Apply
// folded in after every other event the aggregate holds: target, of type t,
// goes back where it stood in the list of its type (at; -1 when the
// retraction took nothing back).
func (s *State) unretract(id, target uuid.UUID, t events.Type, at int) {
	delete(s.known, id)
	f, ok := s.Retracted[target]
	if !ok || at < 0 {
		return
	}
	delete(s.Retracted, target)
	fs := append(s.facts[t], Fact{})
	copy(fs[at+1:], fs[at:])
	fs[at] = f
	s.facts[t] = fs
}

// stamp gives the event id dated d, applied before it was stored, the
// stream sequence seq it was stored at.
func (s *State) stamp(id uuid.UUID, d events.Date, seq uint64) {
	if seq > s.Version {
		s.Version = seq
	}
	t := s.known[id]
	if t == events.Retracted {
		return
	}
	if i := s.factIndex(id, t, d); i >= 0 {
		s.facts[t][i].Seq = seq
		return
	}
	if f, ok := s.Retracted[id]; ok && f.Seq == 0 {
		f.Seq = seq
		s.Retracted[id] = f
	}
}

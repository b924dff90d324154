package compliance

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// SubjectPrefix is the prefix of every compliance event subject.
const SubjectPrefix = "ccm.compliance."

// Subject returns the subject of a compliance event:
// ccm.compliance.<scope>.<kind>.
func Subject(scope string, k Kind) string { return SubjectPrefix + scope + "." + string(k) }

// ScopeFilter returns the wildcard subject of every compliance event of one
// scope.
func ScopeFilter(scope string) string { return SubjectPrefix + scope + ".>" }

// Event is a derived compliance event as published: a transition, or the
// revocation of one published earlier. Its JSON form is a public contract
// (docs/services.md).
type Event struct {
	// ID is deterministic: the same transition (key and generation) always
	// has the same id, which is also its Nats-Msg-Id.
	ID    uuid.UUID   `json:"id"`
	Kind  Kind        `json:"kind"`
	State string      `json:"state"` // ISO3, or "convention"
	Date  events.Date `json:"date"`
	Rule  string      `json:"rule"`
	// Deadline is the deadline or due date concerned, if any.
	Deadline events.Date `json:"deadline,omitempty"`
	// Year is the calendar year an annual report covers.
	Year   int     `json:"year,omitempty"`
	Causes []Cause `json:"causes"`
	// Key identifies the transition; Generation counts how many times it
	// was revoked before this event (0 at first).
	Key        string `json:"key"`
	Generation int    `json:"generation,omitempty"`
	// Correction is true when the event corrects what was published: a
	// transition learned after its date had passed on the projector's
	// clock (a late-recorded, backdated event), or a revocation.
	Correction bool `json:"correction,omitempty"`
	// Corrects is the id of the event this one corrects: for a revocation,
	// the transition revoked; for a late transition, the revoked one of the
	// same kind and rule it replaces, if any.
	Corrects *uuid.UUID `json:"corrects,omitempty"`
	// Revoked marks a revocation: the transition Corrects did not happen
	// after all, given what the ledger learned since.
	Revoked bool `json:"revoked,omitempty"`
	// RecordedFromSeq is the stream sequence of the log up to which the
	// projector had read when it derived the event.
	RecordedFromSeq uint64 `json:"recorded_from_seq"`
	// Published is the projector's clock when it published the event.
	Published time.Time `json:"published"`
}

// Subject returns the event's subject.
func (e Event) Subject() string { return Subject(e.State, e.Kind) }

// idNamespace is the namespace of compliance event ids. It never changes.
var idNamespace = uuid.MustParse("a8f1c6e2-0b7d-5c4e-9f3a-6d2b1e0c7a54")

// EventID returns the id of generation gen of the transition with key.
func EventID(key string, gen int) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte("ccm-compliance/1\x00assert\x00"+key+"\x00"+strconv.Itoa(gen)))
}

// RevocationID returns the id of the revocation of generation gen of the
// transition with key.
func RevocationID(key string, gen int) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte("ccm-compliance/1\x00revoke\x00"+key+"\x00"+strconv.Itoa(gen)))
}

// Published is what has been published, as read back from the compliance
// stream: for each transition key, the generation in force and whether it
// stands. It decides what to publish next (Plan) so that each transition is
// published once. It is not safe for concurrent use.
type Published struct {
	keys   map[string]*keyState
	ids    map[uuid.UUID]bool
	count  int
	maxSeq uint64
}

type keyState struct {
	scope string
	next  int   // generation of the next assertion
	live  Event // the standing assertion; ID is uuid.Nil when none
	// seq is the latest log sequence an event of this key was derived
	// from: a derivation from an earlier point of the log must not undo
	// it.
	seq uint64
}

// NewPublished returns an empty record.
func NewPublished() *Published {
	return &Published{keys: map[string]*keyState{}, ids: map[uuid.UUID]bool{}}
}

// Has reports whether an event with this id was observed.
func (p *Published) Has(id uuid.UUID) bool { return p.ids[id] }

// Len returns the number of events observed.
func (p *Published) Len() int { return p.count }

// MaxSeq returns the latest log sequence any observed event was derived
// from. A projector whose fold is behind it is behind another projector.
func (p *Published) MaxSeq() uint64 { return p.maxSeq }

// Observe records a published event, read from the stream or just
// acknowledged by it. Observing an event twice changes nothing.
func (p *Published) Observe(e Event) {
	if p.ids[e.ID] {
		return
	}
	p.ids[e.ID] = true
	p.count++
	ks, ok := p.keys[e.Key]
	if !ok {
		ks = &keyState{scope: e.State}
		p.keys[e.Key] = ks
	}
	ks.seq = max(ks.seq, e.RecordedFromSeq)
	p.maxSeq = max(p.maxSeq, e.RecordedFromSeq)
	if e.Revoked {
		if ks.live.ID != uuid.Nil && ks.live.Generation == e.Generation {
			ks.live = Event{}
		}
		if e.Generation+1 > ks.next {
			ks.next = e.Generation + 1
		}
		return
	}
	if e.Generation >= ks.next {
		ks.live = e
		ks.next = e.Generation
	}
}

// Standing returns the transitions of scope published and not revoked, by
// key.
func (p *Published) Standing(scope string) map[string]Event {
	out := map[string]Event{}
	for k, ks := range p.keys {
		if ks.scope == scope && ks.live.ID != uuid.Nil {
			out[k] = ks.live
		}
	}
	return out
}

// PlanOptions say how to mark the events of a plan.
type PlanOptions struct {
	// CorrectBefore marks as corrections the new transitions dated on or
	// before it: the projector's clock had passed their date before the
	// ledger knew of them. Zero marks none (a first run, a catch-up on
	// dates passing).
	CorrectBefore events.Date
	// Seq is the stream sequence of the log the derivation stands for,
	// and Clock the date up to which it derived.
	Seq   uint64
	Clock events.Date
	// Now is the projector's clock.
	Now time.Time
}

// Plan returns the events to publish for one scope so that what stands
// published equals the derived transitions: a revocation for each standing
// transition no longer derived (first), then each derived transition not
// standing, in date order. An empty plan means the scope is up to date.
//
// A derivation never undoes what was derived from a later point of the log
// (o.Seq before the event's RecordedFromSeq) or revokes a transition dated
// after o.Clock: a projector behind another one, or restarted from an older
// checkpoint, leaves such keys alone until it has caught up.
func (p *Published) Plan(scope string, derived []Transition, o PlanOptions) []Event {
	standing := p.Standing(scope)
	want := map[string]bool{}
	for _, t := range derived {
		want[t.Key] = true
	}
	var revs []Event
	for k, e := range standing {
		if want[k] || p.keys[k].seq > o.Seq || e.Date > o.Clock {
			continue
		}
		old := e.ID
		revs = append(revs, Event{
			ID: RevocationID(k, e.Generation), Kind: e.Kind, State: e.State, Date: e.Date, Rule: e.Rule,
			Deadline: e.Deadline, Year: e.Year, Causes: e.Causes, Key: k, Generation: e.Generation,
			Correction: true, Corrects: &old, Revoked: true, RecordedFromSeq: o.Seq, Published: o.Now.UTC(),
		})
	}
	sort.Slice(revs, func(i, j int) bool {
		if revs[i].Date != revs[j].Date {
			return revs[i].Date < revs[j].Date
		}
		return revs[i].Key < revs[j].Key
	})
	// A late transition replaces a revoked one of the same kind and rule.
	replaced := map[string][]uuid.UUID{}
	for _, r := range revs {
		k := string(r.Kind) + "|" + r.Rule
		replaced[k] = append(replaced[k], *r.Corrects)
	}
	out := revs
	for _, t := range derived {
		if _, ok := standing[t.Key]; ok {
			continue
		}
		gen := 0
		if ks, ok := p.keys[t.Key]; ok {
			if ks.seq > o.Seq {
				continue // revoked from a later point of the log
			}
			gen = ks.next
		}
		e := Event{
			ID: EventID(t.Key, gen), Kind: t.Kind, State: t.Scope, Date: t.Date, Rule: t.Rule, Deadline: t.Deadline,
			Year: t.Year, Causes: t.Causes, Key: t.Key, Generation: gen, RecordedFromSeq: o.Seq, Published: o.Now.UTC(),
		}
		if o.CorrectBefore != 0 && t.Date <= o.CorrectBefore {
			e.Correction = true
			k := string(t.Kind) + "|" + t.Rule
			if ids := replaced[k]; len(ids) > 0 {
				id := ids[0]
				e.Corrects = &id
				replaced[k] = ids[1:]
			}
		}
		out = append(out, e)
	}
	return out
}

// Summary says an event in one line for people, e.g. "SWE entered into
// force on 2012-10-01 (art17-entry-into-force)".
func (e Event) Summary() string {
	var b strings.Builder
	if e.Revoked {
		b.WriteString("REVOKED: ")
	} else if e.Correction {
		b.WriteString("correction: ")
	}
	b.WriteString(e.State)
	b.WriteByte(' ')
	switch e.Kind {
	case EnteredIntoForce:
		b.WriteString("entered into force on " + e.Date.String())
	case DeadlineApproaching:
		b.WriteString("deadline " + e.Deadline.String() + " approaching (" + e.Date.String() + ")")
	case DeadlineMissed:
		b.WriteString("missed the deadline " + e.Deadline.String() + " (overdue from " + e.Date.String() + ")")
	case ObligationFulfilled:
		b.WriteString("fulfilled its obligation on " + e.Date.String())
	case ReportOverdue:
		if e.Year != 0 {
			b.WriteString("annual report for " + strconv.Itoa(e.Year) + " overdue (due " + e.Deadline.String() + ")")
		} else {
			b.WriteString("initial report overdue (due " + e.Deadline.String() + ")")
		}
	case WithdrawalEffective:
		b.WriteString("withdrawal effective on " + e.Date.String())
	default:
		b.WriteString(string(e.Kind) + " on " + e.Date.String())
	}
	b.WriteString(" [" + e.Rule + "]")
	return b.String()
}

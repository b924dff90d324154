package projections

import (
	"sort"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Fold is the ledger's knowledge at one point of the log: the facts of every
// State and of the Convention, from every event up to Seq. It is not safe
// for concurrent use; Clone it to share.
type Fold struct {
	scopes map[string]*aggregates.State
	// Seq is the stream sequence of the last event applied (the "known
	// at" point the fold stands for), and Time its record time.
	Seq  uint64
	Time time.Time
	// Events counts the events applied.
	Events int
	// Quarantined counts the stored messages up to Seq that no fold counts
	// (see aggregates.Gate).
	Quarantined int
}

// NewFold returns an empty fold.
func NewFold() *Fold { return &Fold{scopes: map[string]*aggregates.State{}} }

// Apply folds one stored event. Events must come in stream order.
func (f *Fold) Apply(e events.Envelope) {
	s, ok := f.scopes[e.Scope()]
	if !ok {
		s = aggregates.NewState(e.Scope())
		f.scopes[e.Scope()] = s
	}
	s.Apply(e)
	f.Events++
	if e.Seq > f.Seq {
		f.Seq = e.Seq
		f.Time = e.Recorded
	}
}

// State returns the aggregate of a State (or of events.ConventionScope); an
// empty one when the ledger knows nothing about it. Do not modify it.
func (f *Fold) State(scope string) *aggregates.State {
	if s, ok := f.scopes[scope]; ok {
		return s
	}
	return aggregates.NewState(scope)
}

// Scopes returns the codes of every State the fold knows something about,
// sorted, without the Convention scope.
func (f *Fold) Scopes() []string { return stateCodes(f.scopes) }

// stateCodes returns the keys of a map by scope, sorted, without the
// Convention scope.
func stateCodes[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != events.ConventionScope {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Convention returns what the fold knows of the Convention as of asOf: its
// entry into force is derived from the instruments deposited on or before
// asOf (before the thirtieth, it is not yet determined).
func (f *Fold) Convention(asOf events.Date) aggregates.Convention {
	var deps []events.Date
	for name, s := range f.scopes {
		if name == events.ConventionScope {
			continue
		}
		for _, d := range s.Facts(events.Deposited) {
			if d.Date <= asOf {
				deps = append(deps, d.Date)
			}
		}
	}
	eif, thirtieth, _ := aggregates.ConventionEntryIntoForce(deps)
	return aggregates.Convention{EntryIntoForce: eif, ThirtiethDeposit: thirtieth}
}

// Meeting is a meeting of the Convention as recorded.
type Meeting struct {
	Code   string      `json:"code"`
	Name   string      `json:"name"`
	City   string      `json:"city"`
	Start  events.Date `json:"start"`
	End    events.Date `json:"end"`
	Source string      `json:"source,omitempty"`
	Seq    uint64      `json:"seq,omitempty"`
}

// Meetings returns every meeting recorded, in date order.
func (f *Fold) Meetings() []Meeting {
	fs := f.State(events.ConventionScope).Facts(events.MeetingHeld)
	out := make([]Meeting, 0, len(fs))
	for _, x := range fs {
		m := x.Payload.(*events.Meeting)
		out = append(out, Meeting{Code: m.Code, Name: m.Name, City: m.City, Start: m.Start, End: m.End, Source: x.Source, Seq: x.Seq})
	}
	return out
}

// Meeting returns the recorded meeting with the given code.
func (f *Fold) Meeting(code string) (Meeting, bool) {
	for _, m := range f.Meetings() {
		if m.Code == code {
			return m, true
		}
	}
	return Meeting{}, false
}

package aggregates

import (
	"sort"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// StoredRetraction is a retraction as the log holds it: its own id, the fact
// it takes back and its stream sequence.
type StoredRetraction struct {
	ID     uuid.UUID
	Target uuid.UUID
	Seq    uint64
}

// KnownAt returns the aggregate as a fold of the log would have built it
// from the events stored up to seq at, keeping only the facts held by upTo
// (dated on or before it, or see HeldFrom; retractions always count). s must be the aggregate of a read
// of the whole log in stream order, and rets every retraction it applied,
// in stream order. The result shares nothing mutable with s.
//
// It costs one pass over s's facts, against one pass over the whole log for
// a fold.
func (s *State) KnownAt(at uint64, upTo events.Date, rets []StoredRetraction) *State {
	return s.knownAt(at, upTo, rets, true)
}

// FactsKnownAt is KnownAt for deriving a status: the same live facts, but
// no record of ids or retracted facts (Knows and Retracted answer nothing),
// and, when nothing after at counts, lists shared with s (read-only). It
// is several times cheaper than KnownAt; never decide on it.
func (s *State) FactsKnownAt(at uint64, upTo events.Date, rets []StoredRetraction) *State {
	if at < s.Version {
		return s.knownAt(at, upTo, rets, false)
	}
	v := NewState(s.ISO3)
	for t, fs := range s.facts {
		n := sort.Search(len(fs), func(i int) bool { return fs[i].Date > upTo })
		held := fs[:n:n]
		if n > 0 {
			v.Version = max(v.Version, fs[n-1].Seq)
		}
		if heldEarly[t] {
			held = appendHeldEarly(held, fs[n:], upTo)
			for _, f := range held[n:] {
				v.Version = max(v.Version, f.Seq)
			}
		}
		if len(held) > 0 {
			v.facts[t] = held
		}
	}
	return v
}

// appendHeldEarly appends to held the facts of later, dated after upTo,
// that a view as of upTo holds all the same (see HeldFrom). held is copied
// before it grows, so that a list shared with the aggregate is never
// written.
func appendHeldEarly(held, later []Fact, upTo events.Date) []Fact {
	for _, f := range later {
		if f.HeldFrom() <= upTo {
			held = append(held, f)
		}
	}
	return held
}

func (s *State) knownAt(at uint64, upTo events.Date, rets []StoredRetraction, ids bool) *State {
	v := NewState(s.ISO3)
	keep := func(f Fact) bool { return f.Seq <= at && f.HeldFrom() <= upTo }
	for t, fs := range s.facts {
		var out []Fact
		for _, f := range fs {
			if keep(f) {
				out = append(out, f)
				if ids {
					v.known[f.ID] = t
				}
				v.Version = max(v.Version, f.Seq)
			}
		}
		if out != nil {
			v.facts[t] = out
		}
	}
	taken := map[uuid.UUID]bool{}
	for _, r := range rets {
		if r.Seq > at {
			break
		}
		if ids {
			v.known[r.ID] = events.Retracted
		}
		v.Version = max(v.Version, r.Seq)
		taken[r.Target] = true
	}
	for id, f := range s.Retracted {
		if !keep(f) {
			continue
		}
		v.Version = max(v.Version, f.Seq)
		switch {
		case !taken[id]:
			v.insert(f)
		case ids:
			v.Retracted[id] = f
		}
		if ids {
			v.known[id] = f.Type
		}
	}
	return v
}

// insert puts a live fact where Apply would have: in valid-date order, then
// stream order.
func (s *State) insert(f Fact) {
	fs := s.facts[f.Type]
	i := 0
	for i < len(fs) && (fs[i].Date < f.Date || fs[i].Date == f.Date && fs[i].Seq < f.Seq) {
		i++
	}
	fs = append(fs, Fact{})
	copy(fs[i+1:], fs[i:])
	fs[i] = f
	s.facts[f.Type] = fs
}

// LastDate returns the latest valid date of any fact s holds, live or
// retracted: a view dated on or after it keeps every fact.
func (s *State) LastDate() events.Date {
	var last events.Date
	for _, fs := range s.facts {
		if n := len(fs); n > 0 {
			last = max(last, fs[n-1].Date)
		}
	}
	for _, f := range s.Retracted {
		last = max(last, f.Date)
	}
	return last
}

package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Locator is a Source that can say where a read of the log ends without
// reading it. On such a Source, Engine.Status reads only what a State's
// status stands on (see statusSubjects) instead of folding the whole log.
type Locator interface {
	// Last returns the stream sequence and the record time of the last
	// stored message (an event or not, on any subject) within r's To and
	// Until: the end of a read of r, the Seq and Time of its fold. It is 0
	// and the zero time when there is none. located is false when the
	// source cannot say without reading the log.
	Last(ctx context.Context, r Range) (seq uint64, recorded time.Time, located bool, err error)
}

// depositBasis lists the types of the events of other States that decide
// whether their deposits count for the Convention's entry into force
// (Fold.Convention: the live deposits the rules admit where they stand).
// The rules decide a deposit on the State's deposits and withdrawals
// (RuleSecondDeposit) and its signature (RuleAccessionBySignatory,
// RuleRatificationUnsigned); a withdrawal on its deposits and withdrawals;
// a signature on its signatures and deposits; a retraction of any of these
// on the State's other signatures, deposits and withdrawals
// (RuleRetractionBreaksHistory: no other fact rests on them, and their
// verdicts rest on no other fact). The Convention's own subjects (its
// meetings and coverage) are read whole.
//
// One more rule reads every event of a State: an event whose id an earlier
// event of its State has is a duplicate. The events of these types of
// another State are therefore judged as a fold of the whole log judges them
// only while none of them shares its id with one of the State's other
// events. With ids derived from the content (events.DeriveID: the type is
// part of it) none can; so a State with an event of these types whose id is
// not derived from its content is read whole (see Engine.scopedStatus). An
// event of another type that carries, forged, the derived id of one of
// these (which no input and no Ledger accepts: events.New) is the one case
// left open.
var depositBasis = []events.Type{events.Signed, events.Deposited, events.WithdrawalNotified, events.Retracted}

// statusSubjects returns the subject filters of the events a status of
// iso3 stands on: every subject of the State and of the Convention (whose
// coverage events say what is unknown), and the subjects of the
// depositBasis types of every scope.
func statusSubjects(iso3 string) []string {
	out := []string{events.ScopeFilter(iso3), events.ScopeFilter(events.ConventionScope)}
	for _, t := range depositBasis {
		out = append(out, events.SubjectPrefix+"*."+string(t))
	}
	return out
}

// wholeStateReads is the most States whose subjects a scoped status reads
// by name; beyond, it reads the log.
const wholeStateReads = 32

// scopedStatus returns the status of iso3 known at b from a read of the
// subjects it stands on (statusSubjects) up to the end of a fold known at
// b, which loc locates. located is false when loc cannot locate it: the
// caller folds the log.
//
// The State's events are judged as a fold judges them (aggregates.Gate:
// only the events of their scope count). Another State's events of the
// depositBasis types are judged among themselves, which is how a fold
// judges them unless one of them shares its id with another event of the
// State; a State with one whose id is not derived from its content is read
// again whole (see depositBasis).
func (e *Engine) scopedStatus(ctx context.Context, loc Locator, iso3 string, b Bounds) (_ Status, located bool, _ error) {
	f, located, err := e.scopedFold(ctx, loc, iso3, b, nil)
	if err != nil || !located {
		return Status{}, located, err
	}
	return statusOf(f, f.Convention(b.AsOf), iso3, b.AsOf, e.opt), true, nil
}

// scopedFold is the fold a scoped status derives from (see scopedStatus);
// own, when set, receives each of the State's events the rules admit, in
// stream order, whatever its date.
func (e *Engine) scopedFold(ctx context.Context, loc Locator, iso3 string, b Bounds, own func(events.Envelope)) (_ *Fold, located bool, _ error) {
	seq, at, located, err := loc.Last(ctx, b.rng())
	if err != nil {
		return nil, false, fmt.Errorf("locate the end of the log known at the bounds: %w", err)
	}
	if !located {
		return nil, false, nil
	}
	f := NewFold()
	if seq > 0 {
		// Up to the message located, whatever is stored meanwhile.
		r := Range{Subjects: statusSubjects(iso3), To: seq, Until: b.KnownAtTime}
		ownSubjects := events.ScopeFilter(iso3)
		gate := aggregates.NewGate(nil)
		unsure := map[string]bool{}
		r.Quarantine = func(q events.Quarantined) {
			if subjectMatches(ownSubjects, q.Subject) {
				f.Quarantined++
			}
		}
		_, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
			if !matchesAny(r.Subjects, ev.Subject()) {
				return nil // what a source reads beyond the subjects
			}
			if ev.State == "" {
				// The Convention's own events (its coverage), judged
				// among themselves as a fold judges them.
				if gate.Admit(ev) {
					keep(f, ev, b.AsOf)
				}
				return nil
			}
			mine := ev.State == iso3
			if !mine && !derivedID(ev) {
				unsure[ev.State] = true
			}
			if !gate.Admit(ev) {
				if mine {
					f.Quarantined++
				}
				return nil
			}
			if mine && own != nil {
				own(ev)
			}
			keep(f, ev, b.AsOf)
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("read the log: %w", err)
		}
		if len(unsure) > 0 {
			if err := e.rereadStates(ctx, f, sortedKeys(unsure), Range{To: seq, Until: b.KnownAtTime}, b.AsOf); err != nil {
				return nil, false, err
			}
		}
	}
	f.Seq, f.Time = seq, at
	return f, true, nil
}

// rereadStates replaces the facts of the given States in f with a read of
// all their events within r through a gate: by their subjects, or, for
// many States, the whole log.
func (e *Engine) rereadStates(ctx context.Context, f *Fold, states []string, r Range, upTo events.Date) error {
	want := map[string]bool{}
	for _, s := range states {
		want[s] = true
		delete(f.scopes, s)
		if len(states) <= wholeStateReads {
			r.Subjects = append(r.Subjects, events.ScopeFilter(s))
		}
	}
	gate := aggregates.NewGate(nil)
	_, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
		if want[ev.State] && gate.Admit(ev) {
			keep(f, ev, upTo)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the events of %s: %w", strings.Join(states, ", "), err)
	}
	return nil
}

// keep applies an admitted event to f as readFold does: the facts held by
// upTo, and every retraction.
func keep(f *Fold, ev events.Envelope, upTo events.Date) {
	if aggregates.HeldBy(ev, upTo) || ev.Type == events.Retracted {
		f.Apply(ev)
	}
}

// derivedID reports whether ev's id is the one derived from its content.
func derivedID(ev events.Envelope) bool {
	return ev.ID.Version() == 5 && ev.ID == events.DeriveIDAt(ev.Type, ev.State, ev.Date, ev.Precision, ev.Data(), ev.Source)
}

// matchesAny reports whether subject matches one of filters.
func matchesAny(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

// subjectMatches reports whether subject matches the NATS subject filter:
// token by token, '*' standing for any one token and a last '>' for one
// or more.
func subjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		if ft == ">" && !fmore {
			return subject != ""
		}
		st, srest, smore := strings.Cut(subject, ".")
		if st == "" || (ft != "*" && ft != st) {
			return false
		}
		if !fmore || !smore {
			return !fmore && !smore
		}
		filter, subject = frest, srest
	}
}

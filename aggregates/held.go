package aggregates

import "github.com/ccm-ledger/ccm-ledger/events"

// HeldFrom is the first day as of which a view of the facts dated on or
// before a day holds a fact of type t dated date with precision p.
//
// A fact counts from its date, the latest day its source allows. A
// completion (Articles 3 and 4) or a report (Article 7) known to less than
// the day is held from the earliest day it may have happened instead: a
// status as of a day in its range must see it, to say uncertain rather
// than overdue or late. Every status compares such a fact's date with the
// day asked before counting it (see projections' obligation and article7);
// other readers of these types must too.
func HeldFrom(t events.Type, p events.Precision, date events.Date) events.Date {
	if p == events.Day || !heldEarly[t] {
		return date
	}
	return p.Earliest(date)
}

// HeldBy reports whether a view of the facts dated on or before upTo holds
// the event.
func HeldBy(e events.Envelope, upTo events.Date) bool {
	return HeldFrom(e.Type, e.Precision, e.Date) <= upTo
}

// HeldFrom is the first day as of which a view holds f (see HeldFrom).
func (f Fact) HeldFrom() events.Date { return HeldFrom(f.Type, f.Precision, f.Date) }

// heldEarly lists the types whose absence a status reads as a deadline
// missed.
var heldEarly = map[events.Type]bool{
	events.StockpileDestructionCompleted: true,
	events.ClearanceCompleted:            true,
	events.ReportSubmitted:               true,
}

package events

import (
	"strconv"
	"strings"
)

// FactClass names a class of facts whose completeness a coverage-declared
// event states. The names are permanent strings of the wire format.
type FactClass string

// The classes of facts, and the event types each holds.
const (
	TreatyFacts    FactClass = "treaty"           // signed, deposited, withdrawal-notified
	Article3Facts  FactClass = "article3"         // stockpile-declared, -destroyed, -destruction-completed, retention-declared
	Article4Facts  FactClass = "article4"         // contamination-declared, clearance-completed
	Article5Facts  FactClass = "article5"         // victims-declared
	Article6Facts  FactClass = "article6"         // assistance-requested, assistance-provided
	InitialReports FactClass = "article7-initial" // report-submitted, initial
	AnnualReports  FactClass = "article7-annual"  // report-submitted, annual
	Article9Facts  FactClass = "article9"         // legislation-status
	ExtensionFacts FactClass = "extensions"       // extension-granted
	MeetingFacts   FactClass = "meetings"         // meeting-held
)

// FactClasses returns every class in a stable order.
func FactClasses() []FactClass {
	return []FactClass{TreatyFacts, Article3Facts, Article4Facts, Article5Facts, Article6Facts,
		InitialReports, AnnualReports, Article9Facts, ExtensionFacts, MeetingFacts}
}

// Known reports whether c is a class of the wire format.
func (c FactClass) Known() bool {
	for _, k := range FactClasses() {
		if c == k {
			return true
		}
	}
	return false
}

// Coverage is the payload of a coverage-declared event: the ledger holds
// every fact of the class from the event's date through Through. Where a
// status rests on the absence of such a fact after Through, it is unknown.
type Coverage struct {
	Facts   FactClass `json:"facts"`
	Through Date      `json:"through"`
}

func (p *Coverage) check(e *Envelope) []fieldProblem {
	var probs []fieldProblem
	switch {
	case p.Facts == "":
		probs = append(probs, fieldProblem{"data.facts", "is required (" + classList() + ")"})
	case !p.Facts.Known():
		probs = append(probs, fieldProblem{"data.facts", strconv.Quote(string(p.Facts)) + " is not a class of facts (" + classList() + ")"})
	}
	switch {
	case p.Through == 0:
		probs = append(probs, fieldProblem{"data.through", "is required (the last day the record is complete for the class)"})
	case e.Date != 0 && p.Through < e.Date:
		probs = append(probs, fieldProblem{"data.through", "must not be before the event's date, the first day of the period covered"})
	}
	return probs
}

func classList() string {
	names := make([]string, 0, len(FactClasses()))
	for _, c := range FactClasses() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

func (p *Coverage) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"facts":`...)
	dst = appendJSONString(dst, string(p.Facts))
	dst = append(dst, `,"through":`...)
	dst = appendDate(dst, p.Through)
	return append(dst, '}')
}

package projections

import (
	"sort"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// DiffSummary is a Diff read as an auditor would write it: who joined and
// who withdrew in the period, who completed an obligation and who was
// granted more time, what is still pending at the end as far as the
// record's facts go, and what the record does not know there.
type DiffSummary struct {
	Joined    []DatedState `json:"joined"`    // instruments deposited in the period
	Withdrawn []DatedState `json:"withdrawn"` // withdrawals notified in the period (dated at the notification)
	// Article3Completed and Article4Completed: completions in the period.
	Article3Completed []DatedState `json:"article3_completed"`
	Article4Completed []DatedState `json:"article4_completed"`
	Extensions        []Extension  `json:"extensions"` // extensions granted in the period
	// Article3Pending and Article4Pending: obligations open at the end,
	// pending or overdue, by the record's facts (its last known status
	// where the record does not reach the end).
	Article3Pending []string `json:"article3_pending"`
	Article4Pending []string `json:"article4_pending"`
	// NotKnown lists the classes of facts the record is not complete for
	// at the end, each with the last day it is, and how many States'
	// statuses are unknown because of it.
	NotKnown []NotKnown `json:"not_known"`
}

// DatedState is a State and a date.
type DatedState struct {
	State string      `json:"state"`
	Date  events.Date `json:"date"`
}

// Extension is an extension granted: to whom, for which article, when and
// until when.
type Extension struct {
	State   string      `json:"state"`
	Article int         `json:"article"`
	Granted events.Date `json:"granted"`
	Until   events.Date `json:"until"`
}

// NotKnown is a class of facts the record does not reach at a date.
type NotKnown struct {
	Facts   events.FactClass `json:"facts"`
	Through events.Date      `json:"through"`
	// States counts the States whose status in the class is unknown.
	States int `json:"states"`
}

// summarize reads d's period events and the statuses at its end.
func summarize(d *Diff, end []Status, cov Coverage) DiffSummary {
	s := DiffSummary{Joined: []DatedState{}, Withdrawn: []DatedState{}, Article3Completed: []DatedState{},
		Article4Completed: []DatedState{}, Extensions: []Extension{}, Article3Pending: []string{}, Article4Pending: []string{}, NotKnown: []NotKnown{}}
	for _, e := range d.Events {
		if e.Retracted {
			continue
		}
		at := DatedState{State: e.State, Date: e.Date}
		switch e.Type {
		case events.Deposited:
			s.Joined = append(s.Joined, at)
		case events.WithdrawalNotified:
			s.Withdrawn = append(s.Withdrawn, at)
		case events.StockpileDestructionCompleted:
			s.Article3Completed = append(s.Article3Completed, at)
		case events.ClearanceCompleted:
			s.Article4Completed = append(s.Article4Completed, at)
		case events.ExtensionGranted:
			if x, ok := e.payload.(*events.Extension); ok {
				s.Extensions = append(s.Extensions, Extension{State: e.State, Article: x.Article, Granted: e.Date, Until: x.Until})
			}
		}
	}
	unknown := map[events.FactClass]int{}
	for _, st := range end {
		if open(st.Article3) {
			s.Article3Pending = append(s.Article3Pending, st.State)
		}
		if open(st.Article4) {
			s.Article4Pending = append(s.Article4Pending, st.State)
		}
		for class, u := range unknownClasses(st) {
			if u {
				unknown[class]++
			}
		}
	}
	sort.Strings(s.Article3Pending)
	sort.Strings(s.Article4Pending)
	for _, class := range events.FactClasses() {
		if through, ok := cov[class]; ok && through < d.To.AsOf {
			s.NotKnown = append(s.NotKnown, NotKnown{Facts: class, Through: through, States: unknown[class]})
		}
	}
	return s
}

// open reports whether an obligation is pending or overdue by the facts.
func open(o Obligation) bool {
	st := o.Status
	if st == Unknown {
		st = o.LastKnown
	}
	return st == ObligationPending || st == ObligationOverdue
}

// unknownClasses says, by class of facts, whether st is unknown there.
func unknownClasses(st Status) map[events.FactClass]bool {
	annual := false
	for _, a := range st.Article7.Annual {
		annual = annual || a.Status == Unknown
	}
	return map[events.FactClass]bool{
		events.TreatyFacts:    st.TreatyStatus == Unknown,
		events.Article3Facts:  st.Article3.Status == Unknown,
		events.Article4Facts:  st.Article4.Status == Unknown,
		events.Article5Facts:  st.Article5.Status == Unknown,
		events.InitialReports: st.Article7.Initial.Status == Unknown,
		events.AnnualReports:  annual,
		events.Article9Facts:  st.Article9.Status == Unknown,
	}
}

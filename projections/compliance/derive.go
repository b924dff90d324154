package compliance

import (
	"sort"
	"strconv"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Kind names a kind of compliance transition. The names are permanent: they
// are the last token of the subjects ccm.compliance.<scope>.<kind>.
type Kind string

// The kinds of compliance transition.
const (
	// EnteredIntoForce: the Convention entered into force for a State
	// (Art. 17), or, in scope "convention", the Convention itself.
	EnteredIntoForce Kind = "entered-into-force"
	// DeadlineApproaching: a deadline of Art. 3, Art. 4 or the Art. 7
	// initial report is at most the lead away and the obligation is open.
	DeadlineApproaching Kind = "deadline-approaching"
	// DeadlineMissed: an Art. 3 or Art. 4 deadline passed with the
	// obligation open (the State became overdue).
	DeadlineMissed Kind = "deadline-missed"
	// ObligationFulfilled: stockpile destruction (Art. 3) or clearance
	// (Art. 4) completed.
	ObligationFulfilled Kind = "obligation-fulfilled"
	// ReportOverdue: an Art. 7 report (initial or annual) was not
	// submitted by its due date.
	ReportOverdue Kind = "report-overdue"
	// WithdrawalEffective: a State's withdrawal took effect (Art. 20).
	WithdrawalEffective Kind = "withdrawal-effective"
)

// Kinds returns every kind of transition in a stable order.
func Kinds() []Kind {
	return []Kind{EnteredIntoForce, DeadlineApproaching, DeadlineMissed, ObligationFulfilled, ReportOverdue, WithdrawalEffective}
}

// Known reports whether k is a kind of transition.
func (k Kind) Known() bool {
	for _, x := range Kinds() {
		if x == k {
			return true
		}
	}
	return false
}

// The rules a transition names: which article's rule made it happen.
const (
	RuleEntryIntoForce = "art17-entry-into-force"
	RuleArticle3       = "art3-stockpile-destruction"
	RuleArticle4       = "art4-clearance"
	RuleInitialReport  = "art7-initial-report"
	RuleAnnualReport   = "art7-annual-report"
	RuleWithdrawal     = "art20-withdrawal"
)

// DefaultLead is how long before a deadline a deadline-approaching
// transition happens, in days.
const DefaultLead = 180

// Options adjust the derivation.
type Options struct {
	// Lead is the number of days before a deadline at which
	// deadline-approaching happens; 0 means DefaultLead.
	Lead int
	// Projection is passed to the status derivation (the annual-report
	// rule).
	Projection projections.Options
}

func (o Options) lead() int {
	if o.Lead <= 0 {
		return DefaultLead
	}
	return o.Lead
}

// Cause is an event a transition derives from.
type Cause struct {
	ID    uuid.UUID   `json:"id"`
	Type  events.Type `json:"type"`
	State string      `json:"state,omitempty"`
	Date  events.Date `json:"date"`
	Seq   uint64      `json:"seq"`
}

// Transition is one change in a State's compliance that happened on Date,
// derived from the facts the fold holds.
type Transition struct {
	// Key identifies the transition across derivations: its scope, kind,
	// rule and what it is about (a date, a deadline or a report year). The
	// same transition always has the same key, whatever else the fold
	// learned, so that it is published once.
	Key   string
	Kind  Kind
	Scope string // an ISO3 code, or events.ConventionScope
	// Date is the valid date the transition took effect.
	Date events.Date
	Rule string
	// Deadline is the deadline or due date concerned, if any.
	Deadline events.Date
	// Year is the calendar year an annual report covers (annual
	// report-overdue only).
	Year   int
	Causes []Cause
}

// DeriveAll returns the transitions of every scope the fold knows, dated on
// or before upTo, by scope and then date.
func DeriveAll(f *projections.Fold, upTo events.Date, opt Options) []Transition {
	var out []Transition
	for _, sc := range Scopes(f) {
		out = append(out, Derive(f, sc, upTo, opt)...)
	}
	return out
}

// Scopes returns the scopes that can have transitions: every State the fold
// knows, and the Convention.
func Scopes(f *projections.Fold) []string {
	return append(f.Scopes(), events.ConventionScope)
}

// Derive returns the transitions of one scope (an ISO3 code or
// events.ConventionScope) dated on or before upTo, in date order (then by
// key). It is a pure function of the facts: the transitions dated on or
// before a date depend only on the facts dated on or before it, so a later
// upTo only adds transitions.
//
// A State's transitions are the changes of its status (projections.StatusOf)
// between consecutive critical dates: the dates of its facts and the dates
// the Convention's rules derive from them (entry into force, deadlines and
// the day after them, report due dates and the day after them, the start of
// each deadline's lead, withdrawal effective).
func Derive(f *projections.Fold, scope string, upTo events.Date, opt Options) []Transition {
	if upTo < events.Adoption {
		return nil
	}
	var out []Transition
	if scope == events.ConventionScope {
		out = conventionTransitions(f, upTo)
	} else {
		out = stateTransitions(f, scope, upTo, opt)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Date != out[j].Date {
			return out[i].Date < out[j].Date
		}
		return out[i].Key < out[j].Key
	})
	// The same key twice (an obligation completed, opened again by newly
	// found stocks and missed again on the same deadline) is numbered in
	// date order.
	seen := map[string]int{}
	for i := range out {
		seen[out[i].Key]++
		if n := seen[out[i].Key]; n > 1 {
			out[i].Key += "#" + strconv.Itoa(n)
		}
	}
	return out
}

func conventionTransitions(f *projections.Fold, upTo events.Date) []Transition {
	conv := f.Convention(upTo)
	if conv.EntryIntoForce == 0 || conv.EntryIntoForce > upTo {
		return nil
	}
	// The cause is the thirtieth instrument, in valid-date order then
	// stream order.
	type dep struct {
		scope string
		fact  aggregates.Fact
	}
	var deps []dep
	for _, sc := range f.Scopes() {
		for _, d := range f.State(sc).Facts(events.Deposited) {
			if d.Date <= upTo {
				deps = append(deps, dep{sc, d})
			}
		}
	}
	sort.Slice(deps, func(i, j int) bool {
		if deps[i].fact.Date != deps[j].fact.Date {
			return deps[i].fact.Date < deps[j].fact.Date
		}
		return deps[i].fact.Seq < deps[j].fact.Seq
	})
	var causes []Cause
	if len(deps) >= aggregates.InstrumentsForEntryIntoForce {
		d := deps[aggregates.InstrumentsForEntryIntoForce-1]
		causes = []Cause{causeOf(d.scope, d.fact)}
	}
	return []Transition{{
		Key:   key(events.ConventionScope, EnteredIntoForce, RuleEntryIntoForce, conv.EntryIntoForce.String()),
		Kind:  EnteredIntoForce,
		Scope: events.ConventionScope,
		Date:  conv.EntryIntoForce,
		Rule:  RuleEntryIntoForce,
		// The Convention's own entry into force is a fact about every
		// State Party; its cause is the thirtieth instrument.
		Causes: causes,
	}}
}

func key(scope string, k Kind, rule, about string) string {
	return scope + "|" + string(k) + "|" + rule + "|" + about
}

func causeOf(scope string, f aggregates.Fact) Cause {
	c := Cause{ID: f.ID, Type: f.Type, Date: f.Date, Seq: f.Seq}
	if scope != "" {
		c.State = scope
	}
	return c
}

// point is a State's status on one critical date.
type point struct {
	date events.Date
	st   projections.Status
}

func stateTransitions(f *projections.Fold, iso3 string, upTo events.Date, opt Options) []Transition {
	s := f.State(iso3)
	dates := criticalDates(f, s, upTo, opt)
	if len(dates) == 0 {
		return nil
	}
	pts := make([]point, len(dates))
	for i, d := range dates {
		pts[i] = point{d, projections.StatusOf(f, iso3, d, opt.Projection)}
	}
	// Before the Convention's adoption nothing about any State held.
	prev := projections.StatusOf(f, iso3, events.Adoption-1, opt.Projection)
	var out []Transition
	add := func(k Kind, rule string, d, deadline events.Date, year int, about string, causes []Cause) {
		out = append(out, Transition{Key: key(iso3, k, rule, about), Kind: k, Scope: iso3, Date: d, Rule: rule,
			Deadline: deadline, Year: year, Causes: sortCauses(causes)})
	}
	for _, p := range pts {
		c, d := p.st, p.date
		if c.TreatyStatus == projections.TreatyParty && prev.TreatyStatus != projections.TreatyParty && prev.TreatyStatus != projections.TreatyWithdrawing {
			add(EnteredIntoForce, RuleEntryIntoForce, d, 0, 0, d.String(), depositCause(s, c.Deposited))
		}
		if c.TreatyStatus == projections.TreatyWithdrawn && prev.TreatyStatus != projections.TreatyWithdrawn {
			add(WithdrawalEffective, RuleWithdrawal, d, 0, 0, d.String(), factsOn(s, events.WithdrawalNotified, c.WithdrawalNotified))
		}
		for _, a := range []struct {
			rule       string
			cur, prev  projections.Obligation
			declared   events.Type
			completion events.Type
			article    int
		}{
			{RuleArticle3, c.Article3, prev.Article3, events.StockpileDeclared, events.StockpileDestructionCompleted, 3},
			{RuleArticle4, c.Article4, prev.Article4, events.ContaminationDeclared, events.ClearanceCompleted, 4},
		} {
			if a.cur.Status == projections.ObligationOverdue && a.prev.Status != projections.ObligationOverdue {
				add(DeadlineMissed, a.rule, d, a.cur.Deadline, 0, d.String()+"/"+a.cur.Deadline.String(),
					obligationCauses(s, c, a.cur, a.declared, a.article))
			}
			if a.cur.Status == projections.ObligationCompleted && a.prev.Status != projections.ObligationCompleted {
				add(ObligationFulfilled, a.rule, d, 0, 0, d.String(), factsOn(s, a.completion, a.cur.Completed))
			}
		}
		if c.Article7.Initial.Status == projections.ReportLate && prev.Article7.Initial.Status != projections.ReportLate {
			due := c.Article7.Initial.Due
			add(ReportOverdue, RuleInitialReport, d, due, 0, "initial/"+due.String(), depositCause(s, c.Deposited))
		}
		wasLate := map[int]bool{}
		for _, a := range prev.Article7.Annual {
			wasLate[a.Year] = a.Status == projections.ReportLate
		}
		for _, a := range c.Article7.Annual {
			if a.Status == projections.ReportLate && !wasLate[a.Year] {
				add(ReportOverdue, RuleAnnualReport, d, a.Due, a.Year, strconv.Itoa(a.Year)+"/"+a.Due.String(), depositCause(s, c.Deposited))
			}
		}
		prev = c
	}
	out = append(out, approaching(s, iso3, pts, opt.lead())...)
	return out
}

// approaching derives deadline-approaching: for each deadline X of Art. 3,
// Art. 4 and the Art. 7 initial report, on the first critical date on or
// after X minus the lead, and not after X, on which the State is bound, the
// obligation open and X its deadline. A deadline set or an obligation opened
// within the lead is approaching from that day on.
func approaching(s *aggregates.State, iso3 string, pts []point, lead int) []Transition {
	type obl struct {
		rule     string
		open     func(projections.Status) (events.Date, bool)
		declared events.Type
		article  int
	}
	bound := func(st projections.Status) bool {
		return st.TreatyStatus == projections.TreatyParty || st.TreatyStatus == projections.TreatyWithdrawing
	}
	obls := []obl{
		{RuleArticle3, func(st projections.Status) (events.Date, bool) {
			return st.Article3.Deadline, st.Article3.Status == projections.ObligationPending && bound(st)
		}, events.StockpileDeclared, 3},
		{RuleArticle4, func(st projections.Status) (events.Date, bool) {
			return st.Article4.Deadline, st.Article4.Status == projections.ObligationPending && bound(st)
		}, events.ContaminationDeclared, 4},
		{RuleInitialReport, func(st projections.Status) (events.Date, bool) {
			ini := st.Article7.Initial
			return ini.Due, ini.Status == projections.ReportNotDue && ini.Submitted == 0 && bound(st)
		}, "", 7},
	}
	var out []Transition
	for _, o := range obls {
		done := map[events.Date]bool{}
		for _, p := range pts {
			x, open := o.open(p.st)
			if !open || x == 0 || done[x] || p.date < x.AddDate(0, 0, -lead) || p.date > x {
				continue
			}
			done[x] = true
			var causes []Cause
			switch o.article {
			case 3:
				causes = obligationCauses(s, p.st, p.st.Article3, o.declared, 3)
			case 4:
				causes = obligationCauses(s, p.st, p.st.Article4, o.declared, 4)
			default:
				causes = depositCause(s, p.st.Deposited)
			}
			out = append(out, Transition{Key: key(iso3, DeadlineApproaching, o.rule, x.String()), Kind: DeadlineApproaching,
				Scope: iso3, Date: p.date, Rule: o.rule, Deadline: x, Causes: sortCauses(causes)})
		}
	}
	return out
}

// statusTypes are the event types whose facts the derived transitions rest
// on: the dates of other facts (assistance, legislation, destruction in
// progress, victims, retention, meetings) change no status compared here.
var statusTypes = []events.Type{
	events.Signed, events.Deposited, events.WithdrawalNotified,
	events.StockpileDeclared, events.StockpileDestructionCompleted,
	events.ContaminationDeclared, events.ClearanceCompleted,
	events.ReportSubmitted, events.ExtensionGranted,
}

// criticalDates returns the sorted dates, from adoption to upTo, on which a
// State's status can change or a lead can start.
func criticalDates(f *projections.Fold, s *aggregates.State, upTo events.Date, opt Options) []events.Date {
	set := map[events.Date]bool{}
	add := func(d events.Date) {
		if d >= events.Adoption && d <= upTo {
			set[d] = true
		}
	}
	deadline := func(d events.Date) {
		if d != 0 {
			add(d)
			add(d.AddDate(0, 0, 1))
			add(d.AddDate(0, 0, -opt.lead()))
		}
	}
	for _, t := range statusTypes {
		for _, x := range s.Facts(t) {
			add(x.Date)
		}
	}
	conv := f.Convention(upTo)
	add(conv.EntryIntoForce)
	rule := opt.Projection.AnnualRule
	if rule.FirstYear == nil {
		rule = aggregates.DefaultAnnualRule
	}
	for _, m := range s.Memberships() {
		add(m.Effective)
		eif := conv.EntryIntoForceFor(m.Deposit.Date)
		if eif == 0 {
			continue
		}
		add(eif)
		deadline(aggregates.InitialReportDue(eif))
		deadline(aggregates.Article3Deadline(eif))
		deadline(aggregates.Article4Deadline(eif, 0))
		for _, c := range s.Facts(events.ContaminationDeclared) {
			deadline(aggregates.Article4Deadline(eif, c.Payload.(*events.Contamination).HostilitiesEnded))
		}
		// An annual report has no lead: only the day it falls overdue.
		for y := rule.FirstYear(eif); y < upTo.Year(); y++ {
			add(aggregates.AnnualReportDue(y).AddDate(0, 0, 1))
		}
	}
	for _, x := range s.Facts(events.ExtensionGranted) {
		deadline(x.Payload.(*events.Extension).Until)
	}
	out := make([]events.Date, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func depositCause(s *aggregates.State, deposited events.Date) []Cause {
	return factsOn(s, events.Deposited, deposited)
}

// factsOn returns the live facts of type t dated d.
func factsOn(s *aggregates.State, t events.Type, d events.Date) []Cause {
	var out []Cause
	for _, x := range s.Facts(t) {
		if x.Date == d {
			out = append(out, causeOf("", x))
		}
	}
	return out
}

// obligationCauses names the facts an Art. 3 or 4 deadline rests on: the
// deposit (the deadline runs from entry into force), the declaration that
// opened the obligation and the extension that set the deadline, if any.
func obligationCauses(s *aggregates.State, st projections.Status, o projections.Obligation, declared events.Type, article int) []Cause {
	out := depositCause(s, st.Deposited)
	out = append(out, factsOn(s, declared, o.Declared)...)
	if o.Extended {
		for _, x := range s.Facts(events.ExtensionGranted) {
			p := x.Payload.(*events.Extension)
			if p.Article == article && p.Until == o.Deadline && x.Date <= st.AsOf {
				out = append(out, causeOf("", x))
			}
		}
	}
	return out
}

func sortCauses(cs []Cause) []Cause {
	if cs == nil {
		return []Cause{}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
	return cs
}

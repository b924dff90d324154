package projections

import (
	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Treaty statuses of a State as of a date.
const (
	TreatyNone        = "none"        // neither signed nor deposited
	TreatySignatory   = "signatory"   // signed, no instrument deposited
	TreatyDeposited   = "deposited"   // instrument deposited, not yet in force for it
	TreatyParty       = "party"       // in force for it
	TreatyWithdrawing = "withdrawing" // withdrawal notified, not yet effective
	TreatyWithdrawn   = "withdrawn"   // withdrawal effective
)

// Obligation statuses (Articles 3 and 4).
const (
	ObligationNone      = "none"
	ObligationPending   = "pending"
	ObligationCompleted = "completed"
	ObligationOverdue   = "overdue"
	// ObligationUncertain: past the deadline, with a completion known only
	// to a range that holds the date asked (CompletedEarliest to
	// Completed): it may or may not have come yet.
	ObligationUncertain = "uncertain"
)

// Report statuses (Article 7). A report is uncertain when its date is known
// only to a range that holds its due date, or, past the due date, the date
// asked.
const (
	ReportNotDue        = "not-due"
	ReportSubmitted     = "submitted"
	ReportSubmittedLate = "submitted-late"
	ReportLate          = "late"
	// ReportUncertain: submitted on a day from SubmittedEarliest to
	// Submitted, a range that holds the due date or the date asked.
	ReportUncertain = "uncertain"
)

// Status is one State's state of compliance as of a date, as the ledger knew
// it at a point of the log. Its JSON form is the public output of
// `ccm status --format json` and of GET /v1/states/{iso3}.
type Status struct {
	State        string      `json:"state"`
	Name         string      `json:"name"`
	Region       string      `json:"region"`
	AsOf         events.Date `json:"as_of"`
	KnownAt      KnownAt     `json:"known_at"`
	TreatyStatus string      `json:"treaty_status"`
	// TreatyLastKnown is the treaty status the ledger's facts give when
	// TreatyStatus is unknown (the record is not complete up to AsOf).
	TreatyLastKnown     string      `json:"treaty_last_known,omitempty"`
	Signed              events.Date `json:"signed"`
	Deposited           events.Date `json:"deposited"`
	Instrument          string      `json:"instrument"`
	EntryIntoForce      events.Date `json:"entry_into_force"`
	WithdrawalNotified  events.Date `json:"withdrawal_notified"`
	WithdrawalEffective events.Date `json:"withdrawal_effective"`
	Article3            Obligation  `json:"article3"`
	Article4            Obligation  `json:"article4"`
	Article5            Article5    `json:"article5"`
	Article6            Article6    `json:"article6"`
	Article7            Article7    `json:"article7"`
	Article9            Article9    `json:"article9"`
	// Coverage says, by class of facts, through which day the record is
	// complete (absent: the ledger declares no coverage, and is taken as
	// complete). A status resting on a fact missing after that day is
	// unknown.
	Coverage Coverage `json:"coverage,omitempty"`
}

// KnownAt says which point of the log a view stands for: the last stream
// sequence and its record time.
type KnownAt struct {
	Seq  uint64 `json:"seq"`
	Time string `json:"time,omitempty"`
	// Quarantined counts the stored messages up to Seq that the view does
	// not count: not events of their subjects, or events the Convention's
	// rules reject where they stand in the log (`ccm verify` lists them).
	Quarantined int `json:"quarantined,omitempty"`
}

// Obligation is the status of an Article 3 or Article 4 obligation.
type Obligation struct {
	Status string `json:"status"`
	// Deadline, extended by any extension granted by the date.
	Deadline events.Date `json:"deadline"`
	// Declared is the last declaration (stockpile or contamination), and
	// Completed the completion that followed it, if any.
	Declared  events.Date `json:"declared"`
	Completed events.Date `json:"completed"`
	// CompletedEarliest is the first day the completion may have come,
	// when its date is known to less than the day (Completed is the last).
	CompletedEarliest events.Date `json:"completed_earliest,omitempty"`
	Extended          bool        `json:"extended"`
	// LastKnown is the status the ledger's facts give when Status is
	// unknown.
	LastKnown string `json:"last_known,omitempty"`
	// Retained is true when the State declared stockpiles retained under
	// Art. 3(6) (Article 3 only).
	Retained bool `json:"retained,omitempty"`
}

// Article5 is the status of victim assistance obligations.
type Article5 struct {
	Status    string      `json:"status"` // none, active or unknown
	Declared  events.Date `json:"declared"`
	LastKnown string      `json:"last_known,omitempty"`
}

// Article6 is what a State reported under Article 6 (international
// cooperation and assistance): the first request for assistance and the
// first report of assistance provided, dated on or before the date (null
// when none). It is derived for every State, party or not.
type Article6 struct {
	Requested events.Date `json:"requested"`
	Provided  events.Date `json:"provided"`
}

// Article7 is the status of transparency reporting.
type Article7 struct {
	Initial ReportStatus   `json:"initial"`
	Annual  []ReportStatus `json:"annual"`
	// Rule names the annual-report rule applied (see aggregates.AnnualRule).
	Rule string `json:"rule"`
}

// ReportStatus is the status of one Article 7 report.
type ReportStatus struct {
	Year      int         `json:"year,omitempty"` // the calendar year an annual report covers
	Due       events.Date `json:"due"`
	Submitted events.Date `json:"submitted"`
	// SubmittedEarliest is the first day the report may have come, when
	// its date is known to less than the day (Submitted is the last).
	SubmittedEarliest events.Date `json:"submitted_earliest,omitempty"`
	Status            string      `json:"status"`
	LastKnown         string      `json:"last_known,omitempty"`
}

// Article9 is the status of national implementation measures.
type Article9 struct {
	Status    string      `json:"status"` // none, in-progress, adopted, deemed-adequate or unknown
	Since     events.Date `json:"since"`
	LastKnown string      `json:"last_known,omitempty"`
}

// Options adjust how views are derived.
type Options struct {
	// AnnualRule decides the first annual Article 7 report owed; the zero
	// value means aggregates.DefaultAnnualRule.
	AnnualRule aggregates.AnnualRule
}

func (o Options) annualRule() aggregates.AnnualRule {
	if o.AnnualRule.FirstYear == nil {
		return aggregates.DefaultAnnualRule
	}
	return o.AnnualRule
}

// StatusOf derives a State's status as of asOf from the fold. It never fails:
// a State the ledger knows nothing about has status none throughout. The
// caller checks that iso3 is a State (events.LookupState).
func StatusOf(f *Fold, iso3 string, asOf events.Date, opt Options) Status {
	return statusOf(f, f.Convention(asOf), iso3, asOf, opt)
}

func statusOf(f *Fold, conv aggregates.Convention, iso3 string, asOf events.Date, opt Options) Status {
	st := factsStatus(f, conv, iso3, asOf, opt)
	applyCoverage(&st, coverageAt(f, asOf), asOf)
	return st
}

// factsStatus is the status the facts of the fold give, as if the record
// were complete.
func factsStatus(f *Fold, conv aggregates.Convention, iso3 string, asOf events.Date, opt Options) Status {
	s := f.State(iso3)
	st := Status{State: iso3, AsOf: asOf, KnownAt: knownAt(f), TreatyStatus: TreatyNone,
		Article3: Obligation{Status: ObligationNone}, Article4: Obligation{Status: ObligationNone},
		Article5: Article5{Status: "none"}, Article9: Article9{Status: "none"},
		Article7: Article7{Initial: ReportStatus{Status: ReportNotDue}, Annual: []ReportStatus{}, Rule: opt.annualRule().Name}}
	if c, ok := events.LookupState(iso3); ok {
		st.Name, st.Region = c.Name, string(c.Region)
	}
	if r := s.Facts(events.AssistanceRequested); len(r) > 0 && r[0].Date <= asOf {
		st.Article6.Requested = r[0].Date
	}
	if p := s.Facts(events.AssistanceProvided); len(p) > 0 && p[0].Date <= asOf {
		st.Article6.Provided = p[0].Date
	}
	if sig, ok := s.Signature(asOf); ok {
		st.Signed = sig.Date
		st.TreatyStatus = TreatySignatory
	}
	m, bound := s.MembershipAt(asOf)
	if !bound {
		if last, ok := s.LastMembership(asOf); ok {
			st.TreatyStatus = TreatyWithdrawn
			st.Deposited, st.Instrument = last.Deposit.Date, string(last.Deposit.Instrument())
			st.EntryIntoForce = conv.EntryIntoForceFor(last.Deposit.Date)
			st.WithdrawalNotified, st.WithdrawalEffective = last.Notified, last.Effective
		}
		return st
	}
	st.Deposited, st.Instrument = m.Deposit.Date, string(m.Deposit.Instrument())
	eif := conv.EntryIntoForceFor(m.Deposit.Date)
	st.EntryIntoForce = eif
	switch {
	case m.Notified != 0 && m.Notified <= asOf:
		st.TreatyStatus = TreatyWithdrawing
		st.WithdrawalNotified, st.WithdrawalEffective = m.Notified, m.Effective
	case eif != 0 && eif <= asOf:
		st.TreatyStatus = TreatyParty
	default:
		st.TreatyStatus = TreatyDeposited
	}
	st.Article3 = article3(s, eif, asOf)
	st.Article4 = article4(s, eif, asOf)
	if v := s.Facts(events.VictimsDeclared); len(v) > 0 && v[0].Date <= asOf {
		st.Article5 = Article5{Status: "active", Declared: v[0].Date}
	}
	st.Article7 = article7(s, eif, asOf, opt.annualRule())
	if l, ok := lastOnOrBefore(s.Facts(events.LegislationStatus), asOf); ok {
		st.Article9 = Article9{Status: string(l.Payload.(*events.Legislation).Status), Since: l.Date}
	}
	return st
}

func knownAt(f *Fold) KnownAt {
	k := KnownAt{Seq: f.Seq, Quarantined: f.Quarantined}
	if !f.Time.IsZero() {
		k.Time = f.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	}
	return k
}

// lastOnOrBefore returns the last fact dated on or before d (facts are in
// date order).
func lastOnOrBefore(fs []aggregates.Fact, d events.Date) (aggregates.Fact, bool) {
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Date <= d {
			return fs[i], true
		}
	}
	return aggregates.Fact{}, false
}

// extendedDeadline applies the latest extension of an article granted on
// or before asOf to a base deadline.
func extendedDeadline(s *aggregates.State, article int, base, asOf events.Date) (events.Date, bool) {
	deadline, extended := base, false
	for _, x := range s.Facts(events.ExtensionGranted) {
		p := x.Payload.(*events.Extension)
		if x.Date <= asOf && p.Article == article && p.Until > deadline {
			deadline, extended = p.Until, true
		}
	}
	return deadline, extended
}

// obligation derives an Article 3 or 4 status from the last declaration and
// the last completion on or before asOf: completed when a completion
// follows the last declaration (a later declaration, of newly found stocks
// or newly contaminated areas, opens the obligation again), overdue when in
// force and past the deadline, pending otherwise. Past the deadline, a
// completion whose range holds asOf makes it uncertain.
func obligation(declared, completed []aggregates.Fact, eif, deadline, asOf events.Date, extended bool) Obligation {
	d, ok := lastOnOrBefore(declared, asOf)
	if !ok {
		return Obligation{Status: ObligationNone}
	}
	o := Obligation{Status: ObligationPending, Declared: d.Date, Deadline: deadline, Extended: extended}
	if c, ok := lastOnOrBefore(completed, asOf); ok && c.Date >= d.Date {
		o.Status, o.Completed, o.CompletedEarliest = ObligationCompleted, c.Date, earliestOf(c)
		return o
	}
	if eif == 0 || eif > asOf || deadline == 0 || deadline >= asOf {
		return o
	}
	o.Status = ObligationOverdue
	if c, ok := mayHaveCome(completed, d.Date, asOf); ok {
		o.Status, o.Completed, o.CompletedEarliest = ObligationUncertain, c.Date, earliestOf(c)
	}
	return o
}

// mayHaveCome returns the first fact dated after asOf that may have
// happened by it (its range holds asOf) and after since.
func mayHaveCome(fs []aggregates.Fact, since, asOf events.Date) (aggregates.Fact, bool) {
	for _, f := range fs {
		if f.Date > asOf && f.Date >= since && f.HeldFrom() <= asOf {
			return f, true
		}
	}
	return aggregates.Fact{}, false
}

// earliestOf is the first day f may have happened on, when its date is
// known to less than the day; zero otherwise.
func earliestOf(f aggregates.Fact) events.Date {
	if e := f.Precision.Earliest(f.Date); e != f.Date {
		return e
	}
	return 0
}

func article3(s *aggregates.State, eif, asOf events.Date) Obligation {
	deadline, extended := extendedDeadline(s, 3, aggregates.Article3Deadline(eif), asOf)
	o := obligation(s.Facts(events.StockpileDeclared), s.Facts(events.StockpileDestructionCompleted), eif, deadline, asOf, extended)
	if r := s.Facts(events.RetentionDeclared); len(r) > 0 && r[0].Date <= asOf {
		o.Retained = true
	}
	return o
}

func article4(s *aggregates.State, eif, asOf events.Date) Obligation {
	declared := s.Facts(events.ContaminationDeclared)
	completed := s.Facts(events.ClearanceCompleted)
	// The deadline runs from entry into force, or from the end of the
	// hostilities for areas contaminated after it: the earliest deadline
	// among the areas declared since the last completion governs.
	var lastDone events.Date
	if c, ok := lastOnOrBefore(completed, asOf); ok {
		lastDone = c.Date
	}
	var base events.Date
	for _, d := range declared {
		if d.Date > asOf || (lastDone != 0 && d.Date <= lastDone) {
			continue
		}
		dl := aggregates.Article4Deadline(eif, d.Payload.(*events.Contamination).HostilitiesEnded)
		if base == 0 || (dl != 0 && dl < base) {
			base = dl
		}
	}
	if base == 0 {
		base = aggregates.Article4Deadline(eif, 0)
	}
	deadline, extended := extendedDeadline(s, 4, base, asOf)
	return obligation(declared, completed, eif, deadline, asOf, extended)
}

// reportOf is the status of a report due on due, submitted on a day from
// the submission's earliest to its date (none when zero), as of asOf: on
// time or late only when every day of the range agrees. maybe is a
// submission dated after asOf whose range holds it: past the due date, the
// report is uncertain rather than late.
func reportOf(due events.Date, sub, maybe aggregates.Fact, asOf events.Date) ReportStatus {
	late := due != 0 && due < asOf
	if sub.Date == 0 && maybe.Date != 0 && late {
		sub = maybe
	}
	r := ReportStatus{Due: due, Submitted: sub.Date, SubmittedEarliest: earliestOf(sub), Status: ReportNotDue}
	earliest := sub.Precision.Earliest(sub.Date)
	switch {
	case sub.Date > asOf:
		r.Status = ReportUncertain
	case sub.Date != 0 && (due == 0 || sub.Date <= due):
		r.Status = ReportSubmitted
	case sub.Date != 0 && earliest > due:
		r.Status = ReportSubmittedLate
	case sub.Date != 0:
		r.Status = ReportUncertain
	case late:
		r.Status = ReportLate
	}
	return r
}

// submissions are the first initial report and the first annual report of
// each year, dated on or before a day (on) or after it but in a range that
// holds it (maybe).
type submissions struct {
	initial, maybeInitial aggregates.Fact
	annual, maybeAnnual   map[int]aggregates.Fact
}

func submissionsOf(s *aggregates.State, asOf events.Date) submissions {
	subs := submissions{annual: map[int]aggregates.Fact{}, maybeAnnual: map[int]aggregates.Fact{}}
	for _, r := range s.Facts(events.ReportSubmitted) {
		on := r.Date <= asOf
		if !on && r.HeldFrom() > asOf {
			continue
		}
		p := r.Payload.(*events.Report)
		switch {
		case p.Kind == events.InitialReport && on && subs.initial.Date == 0:
			subs.initial = r
		case p.Kind == events.InitialReport && subs.maybeInitial.Date == 0:
			subs.maybeInitial = r
		case p.Kind == events.AnnualReport:
			firstOf(subs.annual, subs.maybeAnnual, on, p.Year, r)
		}
	}
	return subs
}

// firstOf notes r as the first report of its year, on or before the day
// asked (on) or maybe by it.
func firstOf(annual, maybe map[int]aggregates.Fact, on bool, year int, r aggregates.Fact) {
	m := maybe
	if on {
		m = annual
	}
	if _, ok := m[year]; !ok {
		m[year] = r
	}
}

func article7(s *aggregates.State, eif, asOf events.Date, rule aggregates.AnnualRule) Article7 {
	a := Article7{Rule: rule.Name, Annual: []ReportStatus{}}
	subs := submissionsOf(s, asOf)
	a.Initial = reportOf(aggregates.InitialReportDue(eif), subs.initial, subs.maybeInitial, asOf)
	if eif == 0 || eif > asOf {
		return a
	}
	for y := rule.FirstYear(eif); y < asOf.Year(); y++ {
		r := reportOf(aggregates.AnnualReportDue(y), subs.annual[y], subs.maybeAnnual[y], asOf)
		r.Year = y
		a.Annual = append(a.Annual, r)
	}
	return a
}

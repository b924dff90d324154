package projections

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Diff is what changed between two points of view: in each list of the
// Convention-wide tables, and in each State's status. Its JSON form is the
// output of `ccm diff --format json`; lists are in the order of the
// Report, entries sorted by State, States by code.
type Diff struct {
	From   DiffPoint     `json:"from"`
	To     DiffPoint     `json:"to"`
	Tables []TableChange `json:"tables"`
	States []StateChange `json:"states"`
	// Events lists every event dated in the period (after From.AsOf, up to
	// To.AsOf), as known at To, in date order: the activity behind the
	// changes, including what left no trace at the end points (a
	// completion followed by newly found stocks).
	Events []PeriodEvent `json:"events"`
	// Summary reads the period as an auditor would (see DiffSummary).
	Summary DiffSummary `json:"summary"`
}

// PeriodEvent is one event dated in a Diff's period.
type PeriodEvent struct {
	EventRef
	Summary string `json:"summary"`
	payload events.Payload
}

// DiffPoint is one end of a Diff.
type DiffPoint struct {
	AsOf events.Date `json:"as_of"`
	// Meeting is the meeting whose last day is AsOf, if any.
	Meeting string  `json:"meeting,omitempty"`
	KnownAt KnownAt `json:"known_at"`
}

// TableChange is the change of one list of the Report, named as in its
// JSON ("states_parties", "article3.completed", ...): how many States it
// held before and after, and who joined and left it.
type TableChange struct {
	List    string      `json:"list"`
	Before  int         `json:"before"`
	After   int         `json:"after"`
	Added   []DiffEntry `json:"added"`
	Removed []DiffEntry `json:"removed"`
}

// DiffEntry is a State that joined or left a list, with the cause.
type DiffEntry struct {
	State string `json:"state"`
	Cause
}

// StateChange lists the fields of one State's status that changed.
type StateChange struct {
	State   string        `json:"state"`
	Name    string        `json:"name"`
	Changes []FieldChange `json:"changes"`
}

// FieldChange is one field of a status that changed, from and to (an
// empty string for no value), with its cause. Fields are named as in the
// Status JSON; "article7.annual.2011" is the annual report covering 2011.
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
	Cause
}

// Cause says why a change happened: on Date, because of the recorded
// events listed, or by a rule of the Convention (Rule names it, and Events
// are the facts the derived date comes from). Rule "recorded-later" marks a
// change that is not in the world but in the ledger's knowledge: facts
// recorded (or retracted) between the two known-at points.
type Cause struct {
	Date   events.Date `json:"date"`
	Rule   string      `json:"rule,omitempty"`
	Events []EventRef  `json:"events"`
}

// EventRef identifies a recorded event.
type EventRef struct {
	ID     string      `json:"id"`
	Type   events.Type `json:"type"`
	State  string      `json:"state,omitempty"`
	Date   events.Date `json:"date"`
	Seq    uint64      `json:"seq"`
	Source string      `json:"source"`
	// Retracted marks a fact that counted at the earlier point and was
	// retracted since.
	Retracted bool `json:"retracted,omitempty"`
}

func refOf(scope string, f aggregates.Fact) EventRef {
	r := EventRef{ID: f.ID.String(), Type: f.Type, Date: f.Date, Seq: f.Seq, Source: f.Source}
	if scope != events.ConventionScope {
		r.State = scope
	}
	return r
}

// The causes that are not recorded events.
const (
	// RuleRecordedLater: the change comes from what the ledger learned
	// between the two known-at points.
	RuleRecordedLater = "recorded-later"
	// RuleConventionEntryIntoForce: the thirtieth instrument fixed the
	// Convention's entry into force, and with it the dates of the first
	// thirty States Parties.
	RuleConventionEntryIntoForce = "convention-entry-into-force"
	// RuleCalendar: a new reporting year began (30 April).
	RuleCalendar = "reporting-year"
)

// Diff compares the views at from and to: the Report's lists and every
// State's status. from.AsOf must not be after to.AsOf. Each change carries
// its cause: the last transition within (from.AsOf, to.AsOf] in the
// ledger as known at to, or the facts recorded or retracted between the
// two known-at points.
func (e *Engine) Diff(ctx context.Context, from, to Bounds) (Diff, error) {
	if err := from.check(); err != nil {
		return Diff{}, err
	}
	if err := to.check(); err != nil {
		return Diff{}, err
	}
	if from.AsOf > to.AsOf {
		return Diff{}, fmt.Errorf("diff: from (%s) is after to (%s)", from.AsOf, to.AsOf)
	}
	var ff, tf *Fold
	var err error
	if from.KnownAtSeq == to.KnownAtSeq && from.KnownAtTime.Equal(to.KnownAtTime) {
		if tf, err = e.readFold(ctx, to, to.AsOf); err != nil {
			return Diff{}, err
		}
		ff = tf
	} else {
		if ff, err = e.readFold(ctx, from, from.AsOf); err != nil {
			return Diff{}, err
		}
		if tf, err = e.readFold(ctx, to, to.AsOf); err != nil {
			return Diff{}, err
		}
	}
	d := diffOf(ff, from.AsOf, tf, to.AsOf, e.opt)
	d.Events = periodEvents(tf, from.AsOf, to.AsOf)
	var end []Status
	for _, st := range Statuses(tf, to.AsOf, e.opt) {
		if hasFactBy(tf, st.State, to.AsOf) {
			end = append(end, st)
		}
	}
	d.Summary = summarize(&d, end, coverageAt(tf, to.AsOf))
	return d, nil
}

// periodEvents lists the live facts of f dated in (d1, d2], in date order,
// then State, then stream order.
func periodEvents(f *Fold, d1, d2 events.Date) []PeriodEvent {
	out := []PeriodEvent{}
	scopes := append(f.Scopes(), events.ConventionScope)
	for _, scope := range scopes {
		s := f.State(scope)
		for _, t := range events.Types() {
			for _, x := range s.Facts(t) {
				if x.Date > d1 && x.Date <= d2 {
					out = append(out, PeriodEvent{EventRef: refOf(scope, x), Summary: summary(x.Type, x.Payload), payload: x.Payload})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		if a.State != b.State {
			return a.State < b.State
		}
		return a.Seq < b.Seq
	})
	return out
}

// diffOf compares the fold ff as of d1 with the fold tf as of d2.
func diffOf(ff *Fold, d1 events.Date, tf *Fold, d2 events.Date, opt Options) Diff {
	rf, sf := reportAndStatuses(ff, d1, opt)
	rt, st := reportAndStatuses(tf, d2, opt)
	d := Diff{From: DiffPoint{AsOf: d1, Meeting: rf.Meeting, KnownAt: rf.KnownAt}, To: DiffPoint{AsOf: d2, Meeting: rt.Meeting, KnownAt: rt.KnownAt},
		Tables: []TableChange{}, States: []StateChange{}}
	// A State is compared where a fact of it is dated by the date; one
	// with none has the status of a State the ledger knows nothing of
	// (statusOr), whatever the fold holds of it after the date.
	before := map[string]Status{}
	for _, s := range sf {
		if hasFactBy(ff, s.State, d1) {
			before[s.State] = s
		}
	}
	after := map[string]Status{}
	for _, s := range st {
		if hasFactBy(tf, s.State, d2) {
			after[s.State] = s
		}
	}
	scopes := map[string]bool{}
	for k := range before {
		scopes[k] = true
	}
	for k := range after {
		scopes[k] = true
	}
	lf, lt := reportLists(&rf), reportLists(&rt)
	tl := newTimelines(ff, d1, tf, d2, opt)
	for i, l := range lt {
		tc := TableChange{List: l.name, Before: len(*lf[i].list), After: len(*l.list), Added: []DiffEntry{}, Removed: []DiffEntry{}}
		was := setOf(*lf[i].list)
		is := setOf(*l.list)
		for _, iso3 := range *l.list {
			if !was[iso3] {
				tc.Added = append(tc.Added, DiffEntry{State: iso3, Cause: tl.of(iso3).listCause(i)})
			}
		}
		for _, iso3 := range *lf[i].list {
			if !is[iso3] {
				tc.Removed = append(tc.Removed, DiffEntry{State: iso3, Cause: tl.of(iso3).listCause(i)})
			}
		}
		d.Tables = append(d.Tables, tc)
	}
	for _, iso3 := range sortedKeys(scopes) {
		a, b := fieldsOf(statusOr(before, iso3, d1, rf.Coverage, opt)), fieldsOf(statusOr(after, iso3, d2, rt.Coverage, opt))
		var changes []FieldChange
		for _, name := range fieldNames(a, b) {
			if a[name] == b[name] {
				continue
			}
			changes = append(changes, FieldChange{Field: name, From: a[name], To: b[name], Cause: tl.of(iso3).fieldCause(name)})
		}
		if len(changes) == 0 {
			continue
		}
		sc := StateChange{State: iso3, Changes: changes}
		if c, ok := events.LookupState(iso3); ok {
			sc.Name = c.Name
		}
		d.States = append(d.States, sc)
	}
	return d
}

// statusOr returns the status of iso3 from m, or the status of a State the
// fold knows nothing about, under the fold's coverage.
func statusOr(m map[string]Status, iso3 string, asOf events.Date, cov Coverage, opt Options) Status {
	if s, ok := m[iso3]; ok {
		return s
	}
	st := factsStatus(NewFold(), aggregates.Convention{}, iso3, asOf, opt)
	applyCoverage(&st, cov, asOf)
	return st
}

// hasFactBy reports whether f holds a fact of iso3, live or retracted,
// dated on or before d.
func hasFactBy(f *Fold, iso3 string, d events.Date) bool {
	s := f.State(iso3)
	for _, t := range events.Types() {
		if fs := s.Facts(t); len(fs) > 0 && fs[0].Date <= d {
			return true
		}
	}
	for _, r := range s.Retracted {
		if r.Date <= d {
			return true
		}
	}
	return false
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

// namedList is one list of a Report with its JSON name.
type namedList struct {
	name string
	list *[]string
}

// reportLists returns the lists of a Report in the order of its JSON.
func reportLists(r *Report) []namedList {
	return []namedList{
		{"states_parties", &r.StatesParties}, {"in_force", &r.InForce}, {"not_in_force", &r.NotInForce},
		{"signatories", &r.Signatories}, {"withdrawing", &r.Withdrawing}, {"withdrawn", &r.Withdrawn},
		{"article3.obligations", &r.Article3.Obligations}, {"article3.overdue", &r.Article3.Overdue},
		{"article3.completed", &r.Article3.Completed}, {"article3.retaining", &r.Article3.Retaining},
		{"article3.uncertain", &r.Article3.Uncertain},
		{"article4.obligations", &r.Article4.Obligations}, {"article4.overdue", &r.Article4.Overdue},
		{"article4.completed", &r.Article4.Completed}, {"article4.uncertain", &r.Article4.Uncertain},
		{"article5.obligations", &r.Article5.Obligations},
		{"article6.requested", &r.Article6.Requested}, {"article6.provided", &r.Article6.Provided},
		{"article7.initial_submitted", &r.Article7.InitialSubmitted}, {"article7.initial_late", &r.Article7.InitialLate},
		{"article7.initial_not_due", &r.Article7.InitialNotDue}, {"article7.initial_uncertain", &r.Article7.InitialUncertain},
		{"article7.annual_due", &r.Article7.AnnualDue},
		{"article7.annual_submitted", &r.Article7.AnnualSubmitted}, {"article7.annual_late", &r.Article7.AnnualLate},
		{"article7.annual_uncertain", &r.Article7.AnnualUncertain},
		{"article9.adopted", &r.Article9.Adopted}, {"article9.in_progress", &r.Article9.InProgress},
		{"article9.deemed_adequate", &r.Article9.DeemedAdequate},
		{"unknown.treaty", &r.Unknown.Treaty}, {"unknown.article3", &r.Unknown.Article3},
		{"unknown.article4", &r.Unknown.Article4}, {"unknown.article5", &r.Unknown.Article5},
		{"unknown.article7_initial", &r.Unknown.Article7Initial}, {"unknown.article7_annual", &r.Unknown.Article7Annual},
		{"unknown.article9", &r.Unknown.Article9},
	}
}

// listsOf returns the lists of the Report a status puts its State in, as
// a bit set in the order of reportLists.
func listsOf(st Status, asOf events.Date, opt Options) uint64 {
	r := Tables([]Status{st}, asOf, 0, "", KnownAt{}, opt)
	var bits uint64
	for i, l := range reportLists(&r) {
		if len(*l.list) > 0 {
			bits |= 1 << i
		}
	}
	return bits
}

// fieldOrder is the order of the fields Diff and Replay compare; annual
// reports (article7.annual.YYYY) follow article7.initial, by year.
var fieldOrder = []string{
	"treaty_status", "signed", "deposited", "entry_into_force", "withdrawal_effective",
	"article3.status", "article3.deadline", "article3.retained",
	"article4.status", "article4.deadline",
	"article5.status",
	"article6.requested", "article6.provided",
	"article7.initial",
	"article9.status",
}

const annualPrefix = "article7.annual."

// annualAfter is the index in fieldOrder of the field annual reports follow.
var annualAfter = slices.Index(fieldOrder, "article7.initial")

// fieldsOf flattens the parts of a status that Diff and Replay compare. A
// missing key stands for the empty value. An annual report that is not
// yet due (and not submitted) is left out, so a new calendar year is not a
// change.
func fieldsOf(st Status) map[string]string {
	m := map[string]string{
		"treaty_status":        st.TreatyStatus,
		"signed":               st.Signed.String(),
		"deposited":            st.Deposited.String(),
		"entry_into_force":     st.EntryIntoForce.String(),
		"withdrawal_effective": st.WithdrawalEffective.String(),
		"article3.status":      st.Article3.Status,
		"article3.deadline":    st.Article3.Deadline.String(),
		"article4.status":      st.Article4.Status,
		"article4.deadline":    st.Article4.Deadline.String(),
		"article5.status":      st.Article5.Status,
		"article6.requested":   st.Article6.Requested.String(),
		"article6.provided":    st.Article6.Provided.String(),
		"article7.initial":     st.Article7.Initial.Status,
		"article9.status":      st.Article9.Status,
	}
	if st.Article3.Retained {
		m["article3.retained"] = "true"
	}
	for _, a := range st.Article7.Annual {
		if a.Status != ReportNotDue {
			m[annualPrefix+strconv.Itoa(a.Year)] = a.Status
		}
	}
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// fieldNames returns the names present in a or b in the fields' order.
func fieldNames(a, b map[string]string) []string {
	rank := func(name string) (int, int) {
		if y, ok := strings.CutPrefix(name, annualPrefix); ok {
			n, _ := strconv.Atoi(y)
			return 2*annualAfter + 1, n
		}
		for i, f := range fieldOrder {
			if f == name {
				return 2 * i, 0
			}
		}
		return 2 * len(fieldOrder), 0
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ri, yi := rank(out[i])
		rj, yj := rank(out[j])
		if ri != rj {
			return ri < rj
		}
		if yi != yj {
			return yi < yj
		}
		return out[i] < out[j]
	})
	return out
}

// timelines attributes the changes of each State between two points.
type timelines struct {
	ff, tf *Fold
	d1, d2 events.Date
	opt    Options
	conv   map[events.Date]aggregates.Convention
	byIso  map[string]*timeline
}

func newTimelines(ff *Fold, d1 events.Date, tf *Fold, d2 events.Date, opt Options) *timelines {
	return &timelines{ff: ff, tf: tf, d1: d1, d2: d2, opt: opt, conv: map[events.Date]aggregates.Convention{}, byIso: map[string]*timeline{}}
}

func (t *timelines) convAt(d events.Date) aggregates.Convention {
	c, ok := t.conv[d]
	if !ok {
		c = t.tf.Convention(d)
		t.conv[d] = c
	}
	return c
}

// timeline is one State's status in the later fold at every date where it
// may change within (d1, d2].
type timeline struct {
	t    *timelines
	iso3 string
	// points[0] is as of d1; the others at each candidate date.
	points []tlPoint
}

type tlPoint struct {
	date   events.Date
	fields map[string]string
	lists  uint64
}

func (t *timelines) of(iso3 string) *timeline {
	if tl, ok := t.byIso[iso3]; ok {
		return tl
	}
	tl := &timeline{t: t, iso3: iso3}
	at := func(d events.Date) tlPoint {
		st := statusOf(t.tf, t.convAt(d), iso3, d, t.opt)
		return tlPoint{date: d, fields: fieldsOf(st), lists: listsOf(st, d, t.opt)}
	}
	tl.points = append(tl.points, at(t.d1))
	for _, d := range changeDates(t.tf, iso3, t.d1, t.d2, t.opt) {
		tl.points = append(tl.points, at(d))
	}
	t.byIso[iso3] = tl
	return tl
}

// changeDates returns every date in (from, to] on which a State's status
// or its place in the Report's lists may change: its facts' dates, the
// dates the rules derive from them (and the day after each due date and
// deadline), the Convention's entry into force and the thirtieth
// instrument, the start of each reporting year (30 April), and the day
// after each day the record is declared complete through (what rests on a
// missing fact becomes unknown then).
func changeDates(f *Fold, iso3 string, from, to events.Date, opt Options) []events.Date {
	set := map[events.Date]bool{}
	add := func(d events.Date) {
		if d > from && d <= to {
			set[d] = true
		}
	}
	s := f.State(iso3)
	for _, t := range events.Types() {
		for _, x := range s.Facts(t) {
			add(x.Date)
		}
	}
	for _, x := range f.State(events.ConventionScope).Facts(events.CoverageDeclared) {
		add(x.Date)
		add(x.Payload.(*events.Coverage).Through.AddDate(0, 0, 1))
	}
	conv := f.Convention(to)
	add(conv.EntryIntoForce)
	add(conv.ThirtiethDeposit)
	for _, dd := range derivedDates(f, iso3, conv, to, opt) {
		add(dd.Date)
		if dd.late {
			add(dd.Date.AddDate(0, 0, 1))
		}
	}
	for y := from.Year(); y <= to.Year(); y++ {
		add(events.MakeDate(y, 4, 30))
		add(events.MakeDate(y, 5, 1))
		add(events.MakeDate(y, 1, 1))
	}
	out := make([]events.Date, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// lastChange returns the index of the point at which value last changed,
// or 0 when it did not change within the timeline.
func (tl *timeline) lastChange(value func(tlPoint) string) int {
	last := 0
	for i := 1; i < len(tl.points); i++ {
		if value(tl.points[i]) != value(tl.points[i-1]) {
			last = i
		}
	}
	return last
}

func (tl *timeline) listCause(i int) Cause {
	bit := uint64(1) << i
	value := func(p tlPoint) string {
		if p.lists&bit != 0 {
			return "1"
		}
		return ""
	}
	return tl.cause(value, func(st Status, d events.Date) string {
		return value(tlPoint{lists: listsOf(st, d, tl.t.opt)})
	})
}

func (tl *timeline) fieldCause(name string) Cause {
	return tl.cause(func(p tlPoint) string { return p.fields[name] }, func(st Status, _ events.Date) string { return fieldsOf(st)[name] })
}

// cause explains the last change of a value: the facts dated on that day
// without which the value would not be what it is, else the rule that
// derives that date, else the facts recorded or retracted between the two
// known-at points.
func (tl *timeline) cause(value func(tlPoint) string, eval func(Status, events.Date) string) Cause {
	t := tl.t
	i := tl.lastChange(value)
	if i == 0 {
		return tl.knowledgeCause()
	}
	d := tl.points[i].date
	now := value(tl.points[i])
	s := t.tf.State(tl.iso3)
	c := Cause{Date: d, Events: []EventRef{}}
	var sameDay []aggregates.Fact
	for _, typ := range events.Types() {
		for _, x := range s.Facts(typ) {
			if x.Date != d {
				continue
			}
			sameDay = append(sameDay, x)
			w := without(t.tf, tl.iso3, x.ID)
			if eval(statusOf(w, w.Convention(d), tl.iso3, d, t.opt), d) != now {
				c.Events = append(c.Events, refOf(tl.iso3, x))
			}
		}
	}
	if len(c.Events) > 0 {
		sortRefs(c.Events)
		return c
	}
	conv := t.convAt(t.d2)
	var rules []string
	for _, dd := range derivedDates(t.tf, tl.iso3, conv, t.d2, t.opt) {
		if dd.Date == d || (dd.late && dd.Date.AddDate(0, 0, 1) == d) {
			rules = appendOnce(rules, dd.Kind)
			for _, x := range dd.From {
				c.Events = appendRef(c.Events, x)
			}
		}
	}
	if len(rules) > 0 {
		c.Rule = strings.Join(rules, ", ")
		sortRefs(c.Events)
		return c
	}
	if d == conv.ThirtiethDeposit {
		if x, ok := thirtiethDeposit(t.tf, t.d2); ok {
			c.Rule = RuleConventionEntryIntoForce
			c.Events = append(c.Events, x)
			return c
		}
	}
	if _, m, day := d.YMD(); (m == 4 && day == 30) || (m == 5 && day == 1) {
		c.Rule = RuleCalendar
		return c
	}
	for _, x := range sameDay {
		c.Events = append(c.Events, refOf(tl.iso3, x))
	}
	sortRefs(c.Events)
	return c
}

// knowledgeCause lists the facts of the State that the later point knows
// and the earlier does not (recorded later), and those the earlier knew
// and the later does not (retracted since), dated up to d1: with no
// transition after d1, only they can make the two points differ.
func (tl *timeline) knowledgeCause() Cause {
	t := tl.t
	c := Cause{Rule: RuleRecordedLater, Events: []EventRef{}}
	a, b := t.ff.State(tl.iso3), t.tf.State(tl.iso3)
	if t.ff == t.tf {
		return c
	}
	for _, typ := range events.Types() {
		for _, x := range b.Facts(typ) {
			if !a.Knows(x.ID) && x.Date <= t.d1 {
				c.Events = append(c.Events, refOf(tl.iso3, x))
			}
		}
		for _, x := range a.Facts(typ) {
			if _, gone := b.Retracted[x.ID]; gone && x.Date <= t.d1 {
				r := refOf(tl.iso3, x)
				r.Retracted = true
				c.Events = append(c.Events, r)
			}
		}
	}
	sortRefs(c.Events)
	if len(c.Events) > 0 {
		c.Date = c.Events[0].Date
	}
	return c
}

// without returns a view of f in which the fact id of iso3 does not count.
func without(f *Fold, iso3 string, id uuid.UUID) *Fold {
	s := f.State(iso3).Clone()
	s.Apply(events.Envelope{ID: uuid.NewSHA1(id, []byte("without")), Type: events.Retracted, State: iso3,
		Payload: &events.Retraction{Event: id, Reason: "counterfactual"}})
	w := &Fold{scopes: make(map[string]*aggregates.State, len(f.scopes)), Seq: f.Seq, Time: f.Time}
	for k, v := range f.scopes {
		w.scopes[k] = v
	}
	w.scopes[iso3] = s
	return w
}

// thirtiethDeposit returns the instrument that made thirty, among those
// dated on or before asOf (in date, then stream order).
func thirtiethDeposit(f *Fold, asOf events.Date) (EventRef, bool) {
	type dep struct {
		scope string
		fact  aggregates.Fact
	}
	var deps []dep
	for scope, s := range f.scopes {
		if scope == events.ConventionScope {
			continue
		}
		for _, x := range s.Facts(events.Deposited) {
			if x.Date <= asOf {
				deps = append(deps, dep{scope, x})
			}
		}
	}
	if len(deps) < aggregates.InstrumentsForEntryIntoForce {
		return EventRef{}, false
	}
	sort.Slice(deps, func(i, j int) bool {
		a, b := deps[i].fact, deps[j].fact
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return deps[i].scope < deps[j].scope
	})
	x := deps[aggregates.InstrumentsForEntryIntoForce-1]
	return refOf(x.scope, x.fact), true
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

func appendRef(l []EventRef, r EventRef) []EventRef {
	for _, x := range l {
		if x.ID == r.ID {
			return l
		}
	}
	return append(l, r)
}

// sortRefs orders event references by date, then sequence, then id.
func sortRefs(l []EventRef) {
	sort.Slice(l, func(i, j int) bool {
		if l[i].Date != l[j].Date {
			return l[i].Date < l[j].Date
		}
		if l[i].Seq != l[j].Seq {
			return l[i].Seq < l[j].Seq
		}
		return l[i].ID < l[j].ID
	})
}

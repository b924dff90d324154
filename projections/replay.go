package projections

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Step is one step of the walk through history: a recorded event, or a
// change that happens with no event (a State entering into force on its
// date, a report becoming late), with what it changed in its State's
// status. Its JSON form is the output of `ccm replay --format json`.
type Step struct {
	Date events.Date `json:"date"`
	// State is the scope of the step: an ISO3 code, or "convention" for the
	// Convention's own events (meetings).
	State string `json:"state"`
	// Event is the recorded event; nil for a derived step.
	Event   *EventRef `json:"event,omitempty"`
	Summary string    `json:"summary"`
	// Derived marks a change with no event of its own: Rule names the
	// rule (see the Derived* names, and RuleConventionEntryIntoForce), and
	// DerivedFrom lists the events the derived date comes from.
	Derived     bool       `json:"derived"`
	Rule        string     `json:"rule,omitempty"`
	DerivedFrom []EventRef `json:"derived_from,omitempty"`
	// Retracted is set for an event that a retraction known at the bound
	// took back: it changed nothing.
	Retracted *RetractionRef `json:"retracted,omitempty"`
	// Changes lists the fields of the State's status that changed, as of
	// the step's date (field names as in Diff).
	Changes []Change `json:"changes"`
}

// Change is one field of a status that changed.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Replay walks through the events known at b and dated on or before
// b.AsOf in valid-date order (then stream order), each with the change it
// caused in its State's status as of its date, and inserts the changes
// that happen with no event at their dates, marked derived. scope limits
// the steps to one State (ISO3) or to events.ConventionScope; "" gives
// them all. The walk itself always covers every State, since a State's
// entry into force depends on the others' deposits.
func (e *Engine) Replay(ctx context.Context, b Bounds, scope string) ([]Step, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if scope != "" && scope != events.ConventionScope {
		if _, ok := events.LookupState(scope); !ok {
			return nil, fmt.Errorf("replay of %q: %w", scope, ErrUnknownState)
		}
	}
	var (
		evs  []events.Envelope
		rets = map[uuid.UUID]events.Envelope{}
	)
	if _, err := e.read(ctx, b.rng(), func(ev events.Envelope) error {
		switch {
		case ev.Type == events.Retracted:
			rets[ev.Payload.(*events.Retraction).Event] = ev
		case ev.Date <= b.AsOf:
			evs = append(evs, ev)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].Date != evs[j].Date {
			return evs[i].Date < evs[j].Date
		}
		return evs[i].Seq < evs[j].Seq
	})
	return replay(evs, rets, b.AsOf, scope, e.opt), nil
}

func replay(evs []events.Envelope, rets map[uuid.UUID]events.Envelope, asOf events.Date, scope string, opt Options) []Step {
	// The final fold gives the dates on which a status may change with no
	// event.
	final := NewFold()
	for _, ev := range evs {
		if _, gone := rets[ev.ID]; !gone {
			final.Apply(ev)
		}
	}
	conv := final.Convention(asOf)
	derived := map[events.Date]map[string][]derivedDate{}
	for _, iso3 := range final.Scopes() {
		for _, dd := range derivedDates(final, iso3, conv, asOf, opt) {
			at := dd.Date
			if dd.late {
				at = at.AddDate(0, 0, 1)
			}
			if at > asOf {
				continue
			}
			if derived[at] == nil {
				derived[at] = map[string][]derivedDate{}
			}
			derived[at][iso3] = append(derived[at][iso3], dd)
		}
	}
	dates := map[events.Date]bool{}
	for d := range derived {
		dates[d] = true
	}
	for _, ev := range evs {
		dates[ev.Date] = true
	}
	order := make([]events.Date, 0, len(dates))
	for d := range dates {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })

	w := &walk{f: NewFold(), last: map[string]map[string]string{}, opt: opt, scope: scope, steps: []Step{}}
	next := 0
	for _, d := range order {
		// Changes that come with the date: derived, before the day's events.
		for _, iso3 := range sortedKeys(derived[d]) {
			w.check(iso3, d, derived[d][iso3])
		}
		for ; next < len(evs) && evs[next].Date == d; next++ {
			w.event(evs[next], rets, derived[d])
		}
	}
	return w.steps
}

// walk is the state of a replay: the fold of the events applied so far and
// each State's fields after its last step.
type walk struct {
	f     *Fold
	conv  map[events.Date]aggregates.Convention
	last  map[string]map[string]string
	opt   Options
	scope string
	steps []Step
}

func (w *walk) convAt(d events.Date) aggregates.Convention {
	if w.conv == nil {
		w.conv = map[events.Date]aggregates.Convention{}
	}
	c, ok := w.conv[d]
	if !ok {
		c = w.f.Convention(d)
		w.conv[d] = c
	}
	return c
}

func (w *walk) fields(iso3 string, d events.Date) map[string]string {
	return fieldsOf(statusOf(w.f, w.convAt(d), iso3, d, w.opt))
}

func (w *walk) lastOf(iso3 string, d events.Date) map[string]string {
	if l, ok := w.last[iso3]; ok {
		return l
	}
	return fieldsOf(statusOf(NewFold(), aggregates.Convention{}, iso3, d, w.opt))
}

func (w *walk) emit(s Step) {
	if w.scope == "" || w.scope == s.State {
		w.steps = append(w.steps, s)
	}
}

// check emits a derived step for iso3 when its status as of d differs from
// the one after its last step. dds are the derived dates that fall on d.
func (w *walk) check(iso3 string, d events.Date, dds []derivedDate) {
	now := w.fields(iso3, d)
	changes := changesOf(w.lastOf(iso3, d), now)
	w.last[iso3] = now
	if len(changes) == 0 {
		return
	}
	s := Step{Date: d, State: iso3, Derived: true, Changes: changes, Summary: "status changes with the passing of time"}
	var rules, sums []string
	for _, dd := range dds {
		rules = appendOnce(rules, dd.Kind)
		sums = appendOnce(sums, dd.Summary)
		for _, x := range dd.From {
			s.DerivedFrom = appendRef(s.DerivedFrom, x)
		}
	}
	if len(rules) > 0 {
		s.Rule, s.Summary = strings.Join(rules, ", "), strings.Join(sums, "; ")
		sortRefs(s.DerivedFrom)
	} else if _, m, day := d.YMD(); m == 5 && day == 1 {
		s.Rule = RuleCalendar
	}
	w.emit(s)
}

// event applies one event and emits its step, and the derived steps of the
// other States whose entry into force it fixed.
func (w *walk) event(ev events.Envelope, rets map[uuid.UUID]events.Envelope, dds map[string][]derivedDate) {
	sc := ev.Scope()
	ref := EventRef{ID: ev.ID.String(), Type: ev.Type, State: ev.State, Date: ev.Date, Seq: ev.Seq, Source: ev.Source}
	s := Step{Date: ev.Date, State: sc, Event: &ref, Summary: summary(ev.Type, ev.Payload), Changes: []Change{}}
	if r, gone := rets[ev.ID]; gone {
		s.Retracted = &RetractionRef{ID: r.ID.String(), Date: r.Date, Seq: r.Seq, Recorded: recordedText(r.Recorded),
			Reason: r.Payload.(*events.Retraction).Reason, Source: r.Source}
		w.emit(s)
		return
	}
	if sc == events.ConventionScope {
		w.f.Apply(ev)
		w.emit(s)
		return
	}
	d := ev.Date
	// A change the walk did not foresee (none should happen) is shown as
	// derived before the event, so that the event's own changes are its.
	if _, seen := w.last[sc]; seen {
		w.check(sc, d, dds[sc])
	}
	before := w.lastOf(sc, d)
	convBefore := w.convAt(d)
	w.f.Apply(ev)
	if ev.Type == events.Deposited {
		w.conv = nil
	}
	after := w.fields(sc, d)
	w.last[sc] = after
	s.Changes = changesOf(before, after)
	w.emit(s)
	if ev.Type != events.Deposited || w.convAt(d) == convBefore {
		return
	}
	// The thirtieth instrument fixes the Convention's entry into force:
	// the States that deposited before see their dates.
	for _, iso3 := range w.f.Scopes() {
		if iso3 == sc {
			continue
		}
		prev, ok := w.last[iso3]
		if !ok {
			continue
		}
		now := w.fields(iso3, d)
		changes := changesOf(prev, now)
		w.last[iso3] = now
		if len(changes) == 0 {
			continue
		}
		w.emit(Step{Date: d, State: iso3, Derived: true, Rule: RuleConventionEntryIntoForce, DerivedFrom: []EventRef{ref}, Changes: changes,
			Summary: "the thirtieth instrument fixes the Convention's entry into force (Art. 17(1))"})
	}
}

// changesOf lists the fields that differ, in the fields' order.
func changesOf(a, b map[string]string) []Change {
	out := []Change{}
	for _, name := range fieldNames(a, b) {
		if a[name] != b[name] {
			out = append(out, Change{Field: name, From: a[name], To: b[name]})
		}
	}
	return out
}

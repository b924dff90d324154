package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// History is a State's timeline as of a date: the events recorded about
// it, in valid-date order, with the dates the Convention's rules derive
// from them in between. Its JSON form is the output of `ccm history
// --format json`.
type History struct {
	State   string      `json:"state"`
	Name    string      `json:"name"`
	Region  string      `json:"region"`
	AsOf    events.Date `json:"as_of"`
	KnownAt KnownAt     `json:"known_at"`
	// Status is the State's status as of AsOf.
	Status  Status         `json:"status"`
	Entries []HistoryEntry `json:"entries"`
}

// The kinds of history entry.
const (
	EntryEvent   = "event"   // a recorded event
	EntryDerived = "derived" // a date derived by a rule of the Convention
)

// The names of derived dates (HistoryEntry.Type, Step.Rule, Cause.Rule).
const (
	DerivedSignatureClosed     = "signature-closed"
	DerivedEntryIntoForce      = "entry-into-force"
	DerivedInitialReportDue    = "initial-report-due"
	DerivedAnnualReportDue     = "annual-report-due"
	DerivedArticle3Deadline    = "article3-deadline"
	DerivedArticle3Extended    = "article3-deadline-extended"
	DerivedArticle4Deadline    = "article4-deadline"
	DerivedArticle4Extended    = "article4-deadline-extended"
	DerivedWithdrawalEffective = "withdrawal-effective"
)

// HistoryEntry is one line of a History: a recorded event (Kind "event":
// ID, Data, Source, Seq, Recorded, and Retracted when a retraction known at
// the bound took it back) or a derived date (Kind "derived": Rule says the
// rule in words, DerivedFrom the events it derives from, Upcoming that it
// falls after the as-of date).
type HistoryEntry struct {
	Date events.Date `json:"date"`
	Kind string      `json:"kind"`
	// Type is the event type, or the name of the derived date.
	Type    string `json:"type"`
	Summary string `json:"summary"`

	ID        string          `json:"id,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Source    string          `json:"source,omitempty"`
	Seq       uint64          `json:"seq,omitempty"`
	Recorded  string          `json:"recorded,omitempty"`
	Retracted *RetractionRef  `json:"retracted,omitempty"`

	Rule        string     `json:"rule,omitempty"`
	Year        int        `json:"year,omitempty"`
	DerivedFrom []EventRef `json:"derived_from,omitempty"`
	Upcoming    bool       `json:"upcoming,omitempty"`
}

// RetractionRef is the retraction that took an event back.
type RetractionRef struct {
	ID       string      `json:"id"`
	Date     events.Date `json:"date"`
	Seq      uint64      `json:"seq"`
	Recorded string      `json:"recorded,omitempty"`
	Reason   string      `json:"reason"`
	Source   string      `json:"source"`
}

// History returns the timeline of a State as of b.AsOf, known at b: every
// event recorded about it dated on or before b.AsOf (retracted ones
// marked), and the derived dates (signature closing, entry into force,
// reports due, Article 3 and 4 deadlines with their extensions, withdrawal
// taking effect), those after b.AsOf marked upcoming.
func (e *Engine) History(ctx context.Context, iso3 string, b Bounds) (History, error) {
	if err := b.check(); err != nil {
		return History{}, err
	}
	c, ok := events.LookupState(iso3)
	if !ok {
		return History{}, fmt.Errorf("history of %q: %w", iso3, ErrUnknownState)
	}
	f, own, rets, err := e.historyFold(ctx, iso3, b)
	if err != nil {
		return History{}, err
	}
	h := History{State: iso3, Name: c.Name, Region: string(c.Region), AsOf: b.AsOf, KnownAt: knownAt(f),
		Status: statusOf(f, f.Convention(b.AsOf), iso3, b.AsOf, e.opt), Entries: []HistoryEntry{}}
	for _, ev := range own {
		en := HistoryEntry{Date: ev.Date, Kind: EntryEvent, Type: string(ev.Type), Summary: summary(ev.Type, ev.Payload),
			ID: ev.ID.String(), Data: ev.Data(), Source: ev.Source, Seq: ev.Seq, Recorded: recordedText(ev.Recorded)}
		if r, ok := rets[ev.ID]; ok {
			en.Retracted = &RetractionRef{ID: r.ID.String(), Date: r.Date, Seq: r.Seq, Recorded: recordedText(r.Recorded),
				Reason: r.Payload.(*events.Retraction).Reason, Source: r.Source}
		}
		h.Entries = append(h.Entries, en)
	}
	conv := f.Convention(b.AsOf)
	if conv.EntryIntoForce != 0 {
		en := HistoryEntry{Date: conv.EntryIntoForce, Kind: EntryDerived, Type: DerivedSignatureClosed,
			Summary:  "the Convention closes for signature; a State not yet a signatory can join only by accession",
			Rule:     "Art. 15: open for signature until the Convention's entry into force; Art. 16(2): accession",
			Upcoming: conv.EntryIntoForce > b.AsOf}
		if x, ok := thirtiethDeposit(f, b.AsOf); ok {
			en.DerivedFrom = []EventRef{x}
		}
		h.Entries = append(h.Entries, en)
	}
	for _, dd := range derivedDates(f, iso3, conv, b.AsOf, e.opt) {
		h.Entries = append(h.Entries, HistoryEntry{Date: dd.Date, Kind: EntryDerived, Type: dd.Kind, Summary: dd.Summary,
			Rule: dd.Rule, Year: dd.Year, DerivedFrom: dd.From, Upcoming: dd.Date > b.AsOf})
	}
	sort.SliceStable(h.Entries, func(i, j int) bool {
		a, b := h.Entries[i], h.Entries[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		if a.Kind != b.Kind {
			return a.Kind == EntryEvent
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.Type < b.Type
	})
	return h, nil
}

// historyFold reads what a history stands on: the fold a status derives
// from, the State's events dated on or before b.AsOf, and the retractions
// of its events. On a source that locates the end of the log, it reads the
// subjects a status stands on (scopedFold), so that its cost grows with the
// State's events; else the log.
func (e *Engine) historyFold(ctx context.Context, iso3 string, b Bounds) (*Fold, []events.Envelope, map[uuid.UUID]events.Envelope, error) {
	var own []events.Envelope
	rets := map[uuid.UUID]events.Envelope{}
	note := func(ev events.Envelope) {
		if ev.Type == events.Retracted {
			rets[ev.Payload.(*events.Retraction).Event] = ev
		} else if ev.Date <= b.AsOf {
			own = append(own, ev)
		}
	}
	if loc, ok := e.src.(Locator); ok {
		f, located, err := e.scopedFold(ctx, loc, iso3, b, note)
		if err != nil || located {
			return f, own, rets, err
		}
	}
	f := NewFold()
	end, err := e.read(ctx, b.rng(), func(ev events.Envelope) error {
		if aggregates.HeldBy(ev, b.AsOf) || ev.Type == events.Retracted {
			f.Apply(ev)
		}
		if ev.Scope() == iso3 {
			note(ev)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the log: %w", err)
	}
	f.Seq, f.Time, f.Quarantined = end.seq, end.time, end.quarantined
	return f, own, rets, nil
}

func recordedText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// derivedDate is a date the Convention's rules derive from a State's
// facts.
type derivedDate struct {
	Date    events.Date
	Kind    string
	Summary string
	Rule    string
	Year    int
	// late marks a due date or deadline: what is not done by it is late
	// from the next day.
	late bool
	From []EventRef
}

// derivedDates returns the dates derived from the facts of a State dated
// on or before asOf, with the Convention as of asOf: for each membership,
// entry into force, the initial and annual reports due, the Article 3 and
// 4 deadlines and their extensions, and the withdrawal taking effect.
func derivedDates(f *Fold, iso3 string, conv aggregates.Convention, asOf events.Date, opt Options) []derivedDate {
	s := f.State(iso3)
	rule := opt.annualRule()
	var out []derivedDate
	for _, m := range s.Memberships() {
		dep := m.Deposit
		if dep.Date > asOf {
			continue
		}
		depRef := refOf(iso3, dep)
		if m.Notified != 0 && m.Notified <= asOf {
			var from []EventRef
			for _, w := range s.Facts(events.WithdrawalNotified) {
				if w.Date == m.Notified {
					from = append(from, refOf(iso3, w))
				}
			}
			out = append(out, derivedDate{Date: m.Effective, Kind: DerivedWithdrawalEffective,
				Summary: "withdrawal takes effect", Rule: "Art. 20(3): six months after the Depositary received the instrument of withdrawal", From: from})
		}
		eif := conv.EntryIntoForceFor(dep.Date)
		if eif == 0 {
			continue
		}
		dd := derivedDate{Date: eif, Kind: DerivedEntryIntoForce, Summary: "the Convention enters into force for the State",
			Rule: "Art. 17(2): the first day of the sixth month after the month of deposit", From: []EventRef{depRef}}
		if dep.Date <= conv.ThirtiethDeposit {
			dd.Rule = "Art. 17(1): the Convention's own entry into force, the first day of the sixth month after the month of the thirtieth instrument"
			if x, ok := thirtiethDeposit(f, asOf); ok && x.ID != depRef.ID {
				dd.From = append(dd.From, x)
			}
		}
		out = append(out, dd)
		out = append(out, derivedDate{Date: aggregates.InitialReportDue(eif), Kind: DerivedInitialReportDue, late: true,
			Summary: "initial transparency report due", Rule: "Art. 7(1): as soon as practicable, and in any event not later than 180 days after entry into force",
			From: []EventRef{depRef}})
		for y := rule.FirstYear(eif); y < asOf.Year(); y++ {
			out = append(out, derivedDate{Date: aggregates.AnnualReportDue(y), Kind: DerivedAnnualReportDue, Year: y, late: true,
				Summary: "annual transparency report covering " + strconv.Itoa(y) + " due",
				Rule:    "Art. 7(2): annual update covering the previous calendar year, due 30 April; first year by rule " + rule.Name + " (" + rule.Description + ")",
				From:    []EventRef{depRef}})
		}
		if decl, ok := firstOnOrBefore(s.Facts(events.StockpileDeclared), asOf); ok {
			out = append(out, derivedDate{Date: aggregates.Article3Deadline(eif), Kind: DerivedArticle3Deadline, late: true,
				Summary: "stockpile destruction deadline", Rule: "Art. 3(2): as soon as possible but not later than eight years after entry into force",
				From: []EventRef{depRef, refOf(iso3, decl)}})
		}
		seen := map[events.Date]bool{}
		for _, x := range s.Facts(events.ContaminationDeclared) {
			if x.Date > asOf {
				continue
			}
			he := x.Payload.(*events.Contamination).HostilitiesEnded
			dl := aggregates.Article4Deadline(eif, he)
			if seen[dl] {
				continue
			}
			seen[dl] = true
			r := "Art. 4(1)(a): as soon as possible but not later than ten years after entry into force"
			if he != 0 && he > eif {
				r = "Art. 4(1)(b): as soon as possible but not later than ten years after the end of the active hostilities (" + he.String() + ")"
			}
			out = append(out, derivedDate{Date: dl, Kind: DerivedArticle4Deadline, late: true,
				Summary: "clearance deadline", Rule: r, From: []EventRef{depRef, refOf(iso3, x)}})
		}
		for _, x := range s.Facts(events.ExtensionGranted) {
			if x.Date > asOf || x.Date < dep.Date {
				continue
			}
			p := x.Payload.(*events.Extension)
			kind, r := DerivedArticle3Extended, "Art. 3(3)-(6): extension granted by a Meeting of States Parties on "+x.Date.String()
			if p.Article == 4 {
				kind, r = DerivedArticle4Extended, "Art. 4(5)-(8): extension granted by a Meeting of States Parties on "+x.Date.String()
			}
			out = append(out, derivedDate{Date: p.Until, Kind: kind, late: true,
				Summary: "Article " + strconv.Itoa(p.Article) + " deadline as extended", Rule: r, From: []EventRef{refOf(iso3, x)}})
		}
	}
	return out
}

func firstOnOrBefore(fs []aggregates.Fact, d events.Date) (aggregates.Fact, bool) {
	if len(fs) > 0 && fs[0].Date <= d {
		return fs[0], true
	}
	return aggregates.Fact{}, false
}

// summary says in a few words what an event records.
func summary(t events.Type, p events.Payload) string {
	switch p := p.(type) {
	case *events.Deposit:
		return "instrument of " + string(p.Instrument) + " deposited"
	case *events.Quantities:
		q := quantities(p)
		switch t {
		case events.StockpileDeclared:
			return joinNonEmpty("stockpile declared", q)
		case events.StockpileDestroyed:
			return joinNonEmpty("stockpile destroyed", q)
		case events.RetentionDeclared:
			return joinNonEmpty("retention declared", q)
		}
	case *events.Contamination:
		if p.HostilitiesEnded != 0 {
			return "contaminated areas declared (active hostilities ended " + p.HostilitiesEnded.String() + ")"
		}
		return "contaminated areas declared"
	case *events.Report:
		if p.Kind == events.InitialReport {
			return "initial transparency report submitted"
		}
		return "annual transparency report covering " + strconv.Itoa(p.Year) + " submitted"
	case *events.Legislation:
		return "national implementation measures: " + string(p.Status)
	case *events.Extension:
		return "Article " + strconv.Itoa(p.Article) + " deadline extended to " + p.Until.String()
	case *events.Assistance:
		s := "assistance requested"
		if t == events.AssistanceProvided {
			s = "assistance provided"
		}
		if len(p.Areas) > 0 {
			s += ": " + strings.Join(p.Areas, ", ")
		}
		return s
	case *events.Meeting:
		s := p.Name + " (" + p.Code + ")"
		if p.City != "" {
			s += ", " + p.City
		}
		return s + ", " + p.Start.String() + " to " + p.End.String()
	case *events.Retraction:
		return "retracts event " + p.Event.String() + ": " + p.Reason
	}
	switch t {
	case events.Signed:
		return "signed"
	case events.WithdrawalNotified:
		return "instrument of withdrawal received by the Depositary"
	case events.StockpileDestructionCompleted:
		return "stockpile destruction completed"
	case events.ClearanceCompleted:
		return "clearance completed: declaration of compliance with Article 4"
	case events.VictimsDeclared:
		return "cluster munition victims declared (Article 5 obligations)"
	}
	return string(t)
}

func quantities(p *events.Quantities) string {
	var parts []string
	if p.Munitions != nil {
		parts = append(parts, strconv.FormatInt(*p.Munitions, 10)+" munitions")
	}
	if p.Submunitions != nil {
		parts = append(parts, strconv.FormatInt(*p.Submunitions, 10)+" submunitions")
	}
	return strings.Join(parts, ", ")
}

func joinNonEmpty(s, detail string) string {
	if detail == "" {
		return s
	}
	return s + ": " + detail
}

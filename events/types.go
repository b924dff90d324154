package events

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/valyala/fastjson"
)

// Type names an event type. The names are permanent strings of the wire
// format and of the subjects under which events are stored.
type Type string

// The event types of the Convention on Cluster Munitions.
const (
	Signed                        Type = "signed"                          // signature (Art. 15)
	Deposited                     Type = "deposited"                       // instrument deposited (Art. 16)
	WithdrawalNotified            Type = "withdrawal-notified"             // instrument of withdrawal received (Art. 20)
	StockpileDeclared             Type = "stockpile-declared"              // stockpiles subject to Art. 3
	StockpileDestroyed            Type = "stockpile-destroyed"             // progress under Art. 3
	StockpileDestructionCompleted Type = "stockpile-destruction-completed" // Art. 3 obligation met
	RetentionDeclared             Type = "retention-declared"              // retained under Art. 3(6)
	ContaminationDeclared         Type = "contamination-declared"          // areas under Art. 4
	ClearanceCompleted            Type = "clearance-completed"             // declaration of compliance, Art. 4(1)(c)
	VictimsDeclared               Type = "victims-declared"                // Art. 5 obligations
	ReportSubmitted               Type = "report-submitted"                // Art. 7 transparency report
	LegislationStatus             Type = "legislation-status"              // Art. 9 national implementation
	ExtensionGranted              Type = "extension-granted"               // Art. 3 or 4 extension decided by a meeting
	AssistanceRequested           Type = "assistance-requested"            // Art. 6
	AssistanceProvided            Type = "assistance-provided"             // Art. 6
	MeetingHeld                   Type = "meeting-held"                    // a meeting of the Convention
	Retracted                     Type = "retracted"                       // correction of an earlier event
	CoverageDeclared              Type = "coverage-declared"               // the record is complete for a class of facts over a period
)

// Types returns every event type in a stable order.
func Types() []Type {
	out := make([]Type, len(typeOrder))
	copy(out, typeOrder)
	return out
}

var typeOrder = []Type{
	Signed, Deposited, WithdrawalNotified, StockpileDeclared, StockpileDestroyed,
	StockpileDestructionCompleted, RetentionDeclared, ContaminationDeclared, ClearanceCompleted,
	VictimsDeclared, ReportSubmitted, LegislationStatus, ExtensionGranted, AssistanceRequested,
	AssistanceProvided, MeetingHeld, Retracted, CoverageDeclared,
}

// Scope says whose events a type describes.
type scope uint8

const (
	stateScope      scope = 1 << iota // events about one State; "state" required
	conventionScope                   // Convention-wide facts; "state" forbidden
)

// spec describes one event type: who it is about and how its payload is
// decoded. Payload decoders are listed explicitly, never derived from Go
// type names, so that renaming a Go type cannot orphan stored history.
type spec struct {
	scope  scope
	decode func(data []byte) (Payload, []fieldProblem)
	// fast decodes the data of the common cases without reflection (see
	// fast.go); nil for data is an absent field.
	fast func(data *fastjson.Value) (Payload, bool)
}

var specs = map[Type]spec{
	Signed:                        {stateScope, decodeEmpty, fastEmpty},
	Deposited:                     {stateScope, decodeInto(func() Payload { return &Deposit{} }), fastDeposit},
	WithdrawalNotified:            {stateScope, decodeEmpty, fastEmpty},
	StockpileDeclared:             {stateScope, decodeInto(func() Payload { return &Quantities{} }), fastQuantities(false)},
	StockpileDestroyed:            {stateScope, decodeInto(func() Payload { return &Quantities{requireBoth: true} }), fastQuantities(true)},
	StockpileDestructionCompleted: {stateScope, decodeEmpty, fastEmpty},
	RetentionDeclared:             {stateScope, decodeInto(func() Payload { return &Quantities{} }), fastQuantities(false)},
	ContaminationDeclared:         {stateScope, decodeInto(func() Payload { return &Contamination{} }), fastContamination},
	ClearanceCompleted:            {stateScope, decodeEmpty, fastEmpty},
	VictimsDeclared:               {stateScope, decodeEmpty, fastEmpty},
	ReportSubmitted:               {stateScope, decodeInto(func() Payload { return &Report{} }), fastReport},
	LegislationStatus:             {stateScope, decodeInto(func() Payload { return &Legislation{} }), fastLegislation},
	ExtensionGranted:              {stateScope, decodeInto(func() Payload { return &Extension{} }), fastExtension},
	AssistanceRequested:           {stateScope, decodeInto(func() Payload { return &Assistance{} }), fastAssistance},
	AssistanceProvided:            {stateScope, decodeInto(func() Payload { return &Assistance{} }), fastAssistance},
	MeetingHeld:                   {conventionScope, decodeInto(func() Payload { return &Meeting{} }), fastMeeting},
	Retracted:                     {stateScope | conventionScope, decodeInto(func() Payload { return &Retraction{} }), fastRetraction},
	CoverageDeclared:              {conventionScope, decodeInto(func() Payload { return &Coverage{} }), fastCoverage},
}

// Known reports whether t is an event type of the wire format.
func (t Type) Known() bool { _, ok := specs[t]; return ok }

// ConventionWide reports whether events of type t are about the Convention
// as a whole rather than one State (they carry no "state").
func (t Type) ConventionWide() bool { return specs[t].scope == conventionScope }

// Payload is the decoded "data" of an event. Each event type has one
// concrete payload type; types without data have the payload Empty.
type Payload interface {
	check(e *Envelope) []fieldProblem
}

// texter is implemented by payloads with free-text fields, to list them
// for the rules of input text (text.go, Envelope.checkInput).
type texter interface{ texts() []textField }

// normalizer is implemented by payloads with several JSON forms of one
// value, to keep a single form in memory.
type normalizer interface{ normalize() }

// fieldProblem is one reason a payload is invalid, before it is placed on a
// line of input.
type fieldProblem struct{ field, reason string }

// Empty is the payload of event types that carry no data.
type Empty struct{}

func (Empty) check(*Envelope) []fieldProblem { return nil }

// Instrument is the kind of instrument deposited under Art. 16.
type Instrument string

// The instruments of Art. 16.
const (
	Ratification Instrument = "ratification"
	Acceptance   Instrument = "acceptance"
	Approval     Instrument = "approval"
	Accession    Instrument = "accession"
)

// Deposit is the payload of a deposited event.
type Deposit struct {
	Instrument Instrument `json:"instrument"`
}

func (p *Deposit) check(*Envelope) []fieldProblem {
	switch p.Instrument {
	case Ratification, Acceptance, Approval, Accession:
		return nil
	case "":
		return []fieldProblem{{"data.instrument", "is required (ratification, acceptance, approval or accession)"}}
	}
	return []fieldProblem{{"data.instrument", strconv.Quote(string(p.Instrument)) + " is not one of ratification, acceptance, approval, accession"}}
}

// Quantities is the payload of stockpile-declared, stockpile-destroyed and
// retention-declared events: numbers of cluster munitions and explosive
// submunitions. A nil count was not given.
type Quantities struct {
	Munitions    *int64 `json:"munitions,omitempty"`
	Submunitions *int64 `json:"submunitions,omitempty"`
	requireBoth  bool
}

func (p *Quantities) check(*Envelope) []fieldProblem {
	var probs []fieldProblem
	for _, f := range []struct {
		name string
		v    *int64
	}{{"data.munitions", p.Munitions}, {"data.submunitions", p.Submunitions}} {
		switch {
		case f.v == nil && p.requireBoth:
			probs = append(probs, fieldProblem{f.name, "is required"})
		case f.v != nil && *f.v < 0:
			probs = append(probs, fieldProblem{f.name, "must not be negative"})
		}
	}
	return probs
}

// Contamination is the payload of a contamination-declared event.
// HostilitiesEnded, when set, is the end of the active hostilities after
// which the areas became contaminated (Art. 4(1)(b)).
type Contamination struct {
	HostilitiesEnded Date `json:"hostilities_ended,omitempty"`
}

func (p *Contamination) check(e *Envelope) []fieldProblem {
	if p.HostilitiesEnded != 0 && p.HostilitiesEnded > e.Date {
		return []fieldProblem{{"data.hostilities_ended", "is after the event's date"}}
	}
	return nil
}

// ReportKind tells an initial Art. 7(1) report from an annual Art. 7(2) update.
type ReportKind string

// The kinds of Article 7 report.
const (
	InitialReport ReportKind = "initial"
	AnnualReport  ReportKind = "annual"
)

// Report is the payload of a report-submitted event. Year is the calendar
// year an annual report covers; it is zero for an initial report.
type Report struct {
	Kind ReportKind `json:"kind"`
	Year int        `json:"year,omitempty"`
}

func (p *Report) check(e *Envelope) []fieldProblem {
	switch p.Kind {
	case InitialReport:
		if p.Year != 0 {
			return []fieldProblem{{"data.year", "is only given for an annual report"}}
		}
	case AnnualReport:
		switch {
		case p.Year == 0:
			return []fieldProblem{{"data.year", "is required for an annual report (the calendar year it covers)"}}
		case p.Year < 2008:
			return []fieldProblem{{"data.year", strconv.Itoa(p.Year) + " is before the Convention's adoption"}}
		case p.Year > e.Date.Year():
			return []fieldProblem{{"data.year", strconv.Itoa(p.Year) + " is after the year the report was submitted"}}
		}
	case "":
		return []fieldProblem{{"data.kind", "is required (initial or annual)"}}
	default:
		return []fieldProblem{{"data.kind", strconv.Quote(string(p.Kind)) + " is not one of initial, annual"}}
	}
	return nil
}

// LegislationState is a State's national implementation status under Art. 9.
type LegislationState string

// The Art. 9 statuses the Convention's reports use.
const (
	LegislationInProgress     LegislationState = "in-progress"
	LegislationAdopted        LegislationState = "adopted"
	LegislationDeemedAdequate LegislationState = "deemed-adequate"
)

// Legislation is the payload of a legislation-status event.
type Legislation struct {
	Status LegislationState `json:"status"`
}

func (p *Legislation) check(*Envelope) []fieldProblem {
	switch p.Status {
	case LegislationInProgress, LegislationAdopted, LegislationDeemedAdequate:
		return nil
	case "":
		return []fieldProblem{{"data.status", "is required (in-progress, adopted or deemed-adequate)"}}
	}
	return []fieldProblem{{"data.status", strconv.Quote(string(p.Status)) + " is not one of in-progress, adopted, deemed-adequate"}}
}

// Extension is the payload of an extension-granted event: the new deadline
// for the obligations of Article 3 or Article 4.
type Extension struct {
	Article int  `json:"article"`
	Until   Date `json:"until"`
}

func (p *Extension) check(e *Envelope) []fieldProblem {
	var probs []fieldProblem
	if p.Article != 3 && p.Article != 4 {
		probs = append(probs, fieldProblem{"data.article", "must be 3 or 4"})
	}
	switch {
	case p.Until == 0:
		probs = append(probs, fieldProblem{"data.until", "is required (the extended deadline)"})
	case p.Until <= e.Date:
		probs = append(probs, fieldProblem{"data.until", "must be after the date the extension was granted"})
	}
	return probs
}

// Assistance is the payload of assistance-requested and assistance-provided
// events: the areas concerned, free text such as "clearance".
type Assistance struct {
	Areas []string `json:"areas,omitempty"`
}

// normalize keeps one value for "no areas": an empty list and an absent
// one are the same data.
func (p *Assistance) normalize() {
	if len(p.Areas) == 0 {
		p.Areas = nil
	}
}

func (p *Assistance) check(*Envelope) []fieldProblem {
	for i, a := range p.Areas {
		if strings.TrimSpace(a) == "" {
			return []fieldProblem{{"data.areas[" + strconv.Itoa(i) + "]", "must not be empty"}}
		}
	}
	return nil
}

func (p *Assistance) texts() []textField {
	out := make([]textField, len(p.Areas))
	for i, a := range p.Areas {
		out[i] = textField{name: "data.areas", item: i + 1, value: a}
	}
	return out
}

// Meeting is the payload of a meeting-held event. The event's date is the
// meeting's last day.
type Meeting struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	City  string `json:"city"`
	Start Date   `json:"start"`
	End   Date   `json:"end"`
}

func (p *Meeting) texts() []textField {
	return []textField{{name: "data.name", value: p.Name}, {name: "data.city", value: p.City}}
}

var meetingCode = regexp.MustCompile(`^[0-9A-Z][0-9A-Z-]{0,31}$`)

// ValidMeetingCode reports whether s can be a meeting code: upper-case
// letters, digits and '-', at most 32 characters.
func ValidMeetingCode(s string) bool { return meetingCode.MatchString(s) }

func (p *Meeting) check(e *Envelope) []fieldProblem {
	var probs []fieldProblem
	if !ValidMeetingCode(p.Code) {
		probs = append(probs, fieldProblem{"data.code", strconv.Quote(p.Code) + " is not a meeting code (upper-case letters, digits and '-')"})
	}
	if strings.TrimSpace(p.Name) == "" {
		probs = append(probs, fieldProblem{"data.name", "is required"})
	}
	switch {
	case p.Start == 0:
		probs = append(probs, fieldProblem{"data.start", "is required"})
	case p.End == 0:
		probs = append(probs, fieldProblem{"data.end", "is required"})
	case p.Start > p.End:
		probs = append(probs, fieldProblem{"data.start", "is after data.end"})
	case p.End != e.Date:
		probs = append(probs, fieldProblem{"date", "must equal data.end, the meeting's last day"})
	}
	return probs
}

// Retraction is the payload of a retracted event: the named event stops
// counting from the retraction's record time on.
type Retraction struct {
	Event  uuid.UUID `json:"event"`
	Reason string    `json:"reason"`
}

func (p *Retraction) check(e *Envelope) []fieldProblem {
	var probs []fieldProblem
	if p.Event == uuid.Nil {
		probs = append(probs, fieldProblem{"data.event", "is required (the id of the retracted event)"})
	} else if p.Event == e.ID {
		probs = append(probs, fieldProblem{"data.event", "names the retraction itself"})
	}
	if strings.TrimSpace(p.Reason) == "" {
		probs = append(probs, fieldProblem{"data.reason", "is required"})
	}
	return probs
}

func (p *Retraction) texts() []textField {
	return []textField{{name: "data.reason", value: p.Reason}}
}

func decodeEmpty(data []byte) (Payload, []fieldProblem) {
	d := strings.TrimSpace(string(data))
	if d == "" || d == "null" || d == "{}" {
		return Empty{}, nil
	}
	var m map[string]json.RawMessage
	if d[0] != '{' || json.Unmarshal(data, &m) != nil {
		return nil, []fieldProblem{{"data", "must be an object"}}
	}
	var probs []fieldProblem
	for _, k := range sortedKeys(m) {
		probs = append(probs, fieldProblem{"data." + k, "is not a field of this event type (it carries no data)"})
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return Empty{}, nil
}

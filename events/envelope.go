package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Adoption is the day the Convention was adopted at Dublin (Art. 15). No
// event of the ledger can be dated before it.
var Adoption = MustDate("2008-05-30")

// Envelope is one event: a fact about one State (or about the Convention
// as a whole) with its valid date and its source. Seq and Recorded are set
// once the event is stored: the stream sequence and the record time that
// JetStream assigned, which no client can forge.
type Envelope struct {
	ID    uuid.UUID
	Type  Type
	State string // ISO 3166-1 alpha-3; empty for Convention-wide types
	Date  Date   // valid date: when it happened in the world (the latest day the source allows)
	// Precision says how well Date is known (Day when the day is).
	Precision Precision
	Payload   Payload
	Source    string
	Seq       uint64
	Recorded  time.Time
}

// idNamespace is the namespace of name-based event ids. It never changes:
// changing it would give every imported fact a new identity.
var idNamespace = uuid.MustParse("5d0c6f43-2f0b-5b0e-9b55-0c3c1e2f7a10")

// DeriveID returns the name-based (version 5) UUID of an event's content:
// its type, State, date, canonical data and source. Importing the same
// fact twice therefore yields the same id, also long after the stream's
// duplicate window.
func DeriveID(t Type, state string, date Date, data []byte, source string) uuid.UUID {
	return DeriveIDAt(t, state, date, Day, data, source)
}

// DeriveIDAt is DeriveID of an event whose date has precision p: a
// precision other than the day follows the date ("2012-04-30~month"), so
// that every event written before precisions existed keeps its id.
func DeriveIDAt(t Type, state string, date Date, p Precision, data []byte, source string) uuid.UUID {
	var b bytes.Buffer
	b.Grow(64 + len(data) + len(source))
	b.WriteString("ccm-event/1\x00")
	b.WriteString(string(t))
	b.WriteByte(0)
	b.WriteString(state)
	b.WriteByte(0)
	b.WriteString(date.String())
	if p != Day {
		b.WriteByte('~')
		b.WriteString(string(p))
	}
	b.WriteByte(0)
	b.Write(data)
	b.WriteByte(0)
	b.WriteString(source)
	return uuid.NewSHA1(idNamespace, b.Bytes())
}

// New builds and validates an event from its parts. When id is uuid.Nil the
// id is derived from the content (see DeriveID). A nil payload stands for
// Empty. The error is a *FieldError or *InputError wrapping ErrInvalid.
func New(id uuid.UUID, t Type, state string, date Date, p Payload, source string) (Envelope, error) {
	return NewAt(id, t, state, date, Day, p, source)
}

// NewAt is New of an event whose date has precision prec (see Precision).
func NewAt(id uuid.UUID, t Type, state string, date Date, prec Precision, p Payload, source string) (Envelope, error) {
	if p == nil {
		p = Empty{}
	}
	e := Envelope{ID: id, Type: t, State: state, Date: date, Precision: prec, Payload: p, Source: source}
	// The text is checked as given: the canonical JSON below replaces
	// invalid UTF-8.
	if probs := e.checkInput(p, e.checkEnvelope()); len(probs) > 0 {
		return Envelope{}, problemsError(0, probs)
	}
	// The payload is read back from its canonical JSON as Decode reads it:
	// this rejects the payload of another type, and gives the event the
	// payload value, and so the id, that Decode gives the line written for it.
	p, probs := specs[t].decode(e.Data())
	if len(probs) == 0 {
		probs = p.check(&e)
	}
	if len(probs) > 0 {
		return Envelope{}, problemsError(0, probs)
	}
	e.Payload = p
	if probs := e.seal(id != uuid.Nil, 0); len(probs) > 0 {
		return Envelope{}, problemsError(0, probs)
	}
	return e, nil
}

// idAdvice says what to do instead of giving an id that cannot be taken.
const idAdvice = "omit the id to derive it from the content, or give a random (version 4) id"

// seal gives e its id, derived from the content unless given, and checks
// what only the whole event shows. A given id must not be a derived
// (version 5) one other than e's own: derived ids are predictable, and an
// id names one fact forever, so none may be taken ahead of the fact it
// will derive to. The stored form must fit the log (MaxStoredBytes);
// lineLen, the length of the input line (0: none), spares building it for
// every line, since it is at most six times as long.
func (e *Envelope) seal(given bool, lineLen int) []fieldProblem {
	var probs []fieldProblem
	data := e.Data()
	switch {
	case !given:
		e.ID = DeriveIDAt(e.Type, e.State, e.Date, e.Precision, data, e.Source)
	case e.ID.Version() == 5 && e.ID != DeriveIDAt(e.Type, e.State, e.Date, e.Precision, data, e.Source):
		probs = append(probs, fieldProblem{"id", e.ID.String() + " is a name-based (version 5) id, but not the one derived from this event's content: " + idAdvice})
	}
	if lineLen == 0 || 6*lineLen+storedOverhead > MaxStoredBytes {
		if n := len(e.appendStored(make([]byte, 0, 256+2*len(data)+2*len(e.Source)))); n > MaxStoredBytes {
			probs = append(probs, fieldProblem{"", fmt.Sprintf("the event is %d bytes once stored; at most %d: shorten its source or data", n, MaxStoredBytes)})
		}
	}
	return probs
}

// storedOverhead bounds what the stored form adds to the text of a line:
// the id, and the fields of the canonical data a line may leave out.
const storedOverhead = 512

// Data returns the canonical JSON of the payload (compact, fields in a
// fixed order), or nil for an empty payload.
func (e Envelope) Data() []byte {
	if e.Payload == nil {
		return nil
	}
	if _, ok := e.Payload.(Empty); ok {
		return nil
	}
	if pj, ok := e.Payload.(payloadJSON); ok {
		return pj.appendJSON(make([]byte, 0, 64))
	}
	b, err := json.Marshal(e.Payload)
	if err != nil {
		// Payload types are plain structs of strings, numbers and Dates.
		panic(fmt.Sprintf("events: marshal %s payload: %v", e.Type, err))
	}
	return b
}

// SameFact reports whether e and o say the same thing: the same type,
// State, valid date, data and source, whatever their ids and where they are
// stored. An id given twice is fine only for the same fact.
func (e Envelope) SameFact(o Envelope) bool {
	return e.Type == o.Type && e.State == o.State && e.Date == o.Date && e.Precision == o.Precision && e.Source == o.Source && bytes.Equal(e.Data(), o.Data())
}

// Subject returns the JetStream subject of the event:
// ccm.events.<ISO3>.<type>, or ccm.events.convention.<type> for
// Convention-wide events.
func (e Envelope) Subject() string { return Subject(e.Scope(), e.Type) }

// Scope returns the aggregate the event belongs to: its State's code, or
// ConventionScope.
func (e Envelope) Scope() string {
	if e.State == "" {
		return ConventionScope
	}
	return e.State
}

// ConventionScope is the subject token, and the aggregate name, of
// Convention-wide events such as meetings.
const ConventionScope = "convention"

// SubjectPrefix is the common prefix of every event subject.
const SubjectPrefix = "ccm.events."

// Subject returns the subject for events of type t in scope (an ISO3 code
// or ConventionScope).
func Subject(scope string, t Type) string { return SubjectPrefix + scope + "." + string(t) }

// ScopeFilter returns the wildcard subject covering every event of one
// scope, used for the per-State concurrency check and per-State replay.
func ScopeFilter(scope string) string { return SubjectPrefix + scope + ".>" }

// ScopeOfSubject returns the scope token of an event subject, or false when
// subject is not of the form ccm.events.<scope>.<type>.
func ScopeOfSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, SubjectPrefix)
	if !ok {
		return "", false
	}
	scope, _, ok := strings.Cut(rest, ".")
	if !ok || scope == "" {
		return "", false
	}
	return scope, true
}

func (e *Envelope) checkEnvelope() []fieldProblem {
	var probs []fieldProblem
	sp, known := specs[e.Type]
	switch {
	case e.Type == "":
		probs = append(probs, fieldProblem{"type", "is required"})
	case !known:
		probs = append(probs, fieldProblem{"type", strconv.Quote(string(e.Type)) + " is not an event type"})
	}
	switch {
	case e.State == "" && known && sp.scope&conventionScope == 0:
		probs = append(probs, fieldProblem{"state", "is required for " + string(e.Type)})
	case e.State != "" && known && sp.scope&stateScope == 0:
		probs = append(probs, fieldProblem{"state", "must be absent: " + string(e.Type) + " is a Convention-wide event"})
	case e.State != "":
		if _, ok := LookupState(e.State); !ok {
			probs = append(probs, fieldProblem{"state", strconv.Quote(e.State) + " is not the ISO 3166-1 alpha-3 code of a State"})
		}
	}
	switch {
	case e.Date == 0:
		probs = append(probs, fieldProblem{"date", "is required (YYYY-MM-DD)"})
	case e.Date < Adoption:
		probs = append(probs, fieldProblem{"date", e.Date.String() + " is before the Convention's adoption on " + Adoption.String()})
	}
	probs = append(probs, checkPrecision(e.Precision, e.Date)...)
	if strings.TrimSpace(e.Source) == "" {
		probs = append(probs, fieldProblem{"source", "is required: every fact needs a source a reader can check"})
	}
	return probs
}

// checkInput adds to probs what an event given as input must be, beyond
// what every stored event is (checkEnvelope, Payload.check): the rules for
// text (text.go), which earlier versions did not apply to what they stored.
// A text problem replaces the other problems of its field (a blank source
// is reported once, as having no visible character).
func (e *Envelope) checkInput(p Payload, probs []fieldProblem) []fieldProblem {
	texts := checkTexts(textField{name: "source", value: e.Source, why: ": every fact needs a source a reader can check"})
	if tx, ok := p.(texter); ok {
		texts = append(texts, checkTexts(tx.texts()...)...)
	}
	if len(texts) == 0 {
		return probs
	}
	out := make([]fieldProblem, 0, len(probs)+len(texts))
	replaced := map[string]bool{}
	for _, q := range probs {
		i := slices.IndexFunc(texts, func(t fieldProblem) bool { return t.field == q.field })
		switch {
		case i < 0:
			out = append(out, q)
		case !replaced[q.field]:
			out = append(out, texts[i])
			replaced[q.field] = true
		}
	}
	for _, t := range texts {
		if !replaced[t.field] {
			out = append(out, t)
		}
	}
	return out
}

// wire is the JSON object of one event in the JSON Lines format.
type wire struct {
	ID        string          `json:"id"`
	Type      Type            `json:"type"`
	State     string          `json:"state,omitempty"`
	Date      Date            `json:"date"`
	Precision string          `json:"precision,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Source    string          `json:"source"`
	Seq       uint64          `json:"seq,omitempty"`
	Recorded  string          `json:"recorded,omitempty"`
}

// MarshalJSON writes the event in the wire format. Seq and recorded are
// included once the event is stored.
func (e Envelope) MarshalJSON() ([]byte, error) {
	w := wire{ID: e.ID.String(), Type: e.Type, State: e.State, Date: e.Date, Precision: string(e.Precision), Data: e.Data(), Source: e.Source, Seq: e.Seq}
	if !e.Recorded.IsZero() {
		w.Recorded = e.Recorded.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(w)
}

// StoredJSON is the body under which the event is stored in the log: the
// wire format without seq and recorded, which the log assigns.
func (e Envelope) StoredJSON() []byte {
	return e.appendStored(make([]byte, 0, 192+len(e.Source)))
}

// envelopeFields are the fields a line may carry. seq and recorded are
// accepted (an export can be imported into another ledger) and ignored: the
// receiving log assigns its own.
var envelopeFields = map[string]bool{"id": true, "type": true, "state": true, "date": true, "precision": true, "data": true, "source": true, "seq": true, "recorded": true}

// Decode parses and validates one line of the JSON Lines format: every
// field, the payload of its type, the State code and the date. A missing id
// is derived from the content. Unknown fields are rejected. The error is a
// *FieldError or an *InputError (several problems), both wrapping
// ErrInvalid; their Line is 0.
func Decode(line []byte) (Envelope, error) {
	if e, ok := decodeFast(line); ok {
		return e, nil
	}
	e, probs := decode(line)
	if len(probs) > 0 {
		return Envelope{}, problemsError(0, probs)
	}
	return e, nil
}

func decode(line []byte) (Envelope, []fieldProblem) {
	// encoding/json would take some lines with another meaning: those
	// problems come first, and shadow what the fields then show.
	found, notJSON := wellFormed(line)
	if notJSON {
		return Envelope{}, found
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Envelope{}, append(found, fieldProblem{"", "not a JSON object but a JSON " + te.Value})
		}
		return Envelope{}, append(found, fieldProblem{"", "not a JSON object: " + jsonReason(err)})
	}
	if fields == nil {
		return Envelope{}, append(found, fieldProblem{"", "not a JSON object"})
	}
	e, probs := decodeEnvelope(fields)
	var p Payload
	if sp, known := specs[e.Type]; known {
		var pprobs []fieldProblem
		p, pprobs = sp.decode(fields["data"])
		probs = append(probs, pprobs...)
		if p != nil && len(pprobs) == 0 && e.Date != 0 {
			probs = append(probs, p.check(&e)...)
		}
	}
	probs = append(found, unshadowed(e.checkInput(p, probs), found)...)
	if len(probs) > 0 || !e.Type.Known() {
		return Envelope{}, probs
	}
	e.Payload = p
	if probs := e.seal(e.ID != uuid.Nil, len(line)); len(probs) > 0 {
		return Envelope{}, probs
	}
	return e, nil
}

// decodeEnvelope reads the envelope's fields of a line, and reports every
// unknown field and every envelope field that is missing or wrong.
func decodeEnvelope(fields map[string]json.RawMessage) (Envelope, []fieldProblem) {
	var probs []fieldProblem
	for _, k := range sortedKeys(fields) {
		if !envelopeFields[k] {
			probs = append(probs, fieldProblem{k, "is not a field of an event (id, type, state, date, precision, data, source)"})
		}
	}
	var e Envelope
	// reported holds the fields already found wrong, which checkEnvelope
	// would report a second time as missing.
	reported := map[string]bool{}
	str := func(name string, dst *string) bool {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return false
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			probs = append(probs, fieldProblem{name, "must be a string"})
			reported[name] = true
			return false
		}
		return true
	}
	var id, typ, date, recorded string
	if str("id", &id) {
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			probs = append(probs, fieldProblem{"id", strconv.Quote(id) + " is not a UUID"})
		} else if u == uuid.Nil {
			probs = append(probs, fieldProblem{"id", "must not be the nil UUID: " + idAdvice})
		} else {
			e.ID = u
		}
	}
	str("type", &typ)
	e.Type = Type(typ)
	str("state", &e.State)
	if str("date", &date) {
		d, err := ParseDate(date)
		if err != nil {
			probs = append(probs, fieldProblem{"date", err.Error()})
			reported["date"] = true
		} else {
			e.Date = d
		}
	}
	var precision string
	if str("precision", &precision) {
		if pr, ok := ParsePrecision(precision); ok {
			e.Precision = pr
		} else {
			probs = append(probs, fieldProblem{"precision", strconv.Quote(precision) + " is not a precision (" + strings.Join(Precisions(), ", ") + ")"})
		}
	}
	str("source", &e.Source)
	for _, p := range e.checkEnvelope() {
		if !reported[p.field] {
			probs = append(probs, p)
		}
	}
	// Ignored, but text all the same.
	if raw := fields["recorded"]; len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &recorded) == nil {
		if r := textProblem(recorded); r != "" {
			probs = append(probs, fieldProblem{"recorded", r})
		}
	}
	return e, probs
}

// unshadowed returns the problems not about a field (or a part of a field)
// that the well-formedness scan already reported.
func unshadowed(probs, found []fieldProblem) []fieldProblem {
	if len(found) == 0 {
		return probs
	}
	out := probs[:0:0]
	for _, p := range probs {
		shadowed := false
		for _, f := range found {
			rest, ok := strings.CutPrefix(p.field, f.field)
			if ok && f.field != "" && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				shadowed = true
				break
			}
		}
		if !shadowed {
			out = append(out, p)
		}
	}
	return out
}

// decodeInto returns a strict decoder of a payload object. Field names must
// be the wire names exactly (encoding/json alone would take "Instrument" for
// "instrument"), and every unknown field and every badly typed value is
// reported under its own name.
func decodeInto(newP func() Payload) func([]byte) (Payload, []fieldProblem) {
	kinds := payloadFields(newP())
	return func(data []byte) (Payload, []fieldProblem) {
		p := newP()
		d := bytes.TrimSpace(data)
		if len(d) == 0 || string(d) == "null" {
			return p, nil
		}
		var fields map[string]json.RawMessage
		if d[0] != '{' || json.Unmarshal(d, &fields) != nil {
			return nil, []fieldProblem{{"data", "must be an object"}}
		}
		var probs []fieldProblem
		for _, k := range sortedKeys(fields) {
			kind, ok := kinds[k]
			if !ok {
				probs = append(probs, fieldProblem{"data." + k, "is not a field of this event type"})
				continue
			}
			one, err := json.Marshal(map[string]json.RawMessage{k: fields[k]})
			if err == nil {
				err = json.Unmarshal(one, p)
			}
			if err != nil {
				probs = append(probs, fieldProblem{"data." + k, valueReason(kind, err)})
			}
		}
		if len(probs) > 0 {
			return nil, probs
		}
		if n, ok := p.(normalizer); ok {
			n.normalize()
		}
		return p, nil
	}
}

// payloadFields maps the wire name of each field of a payload to the kind
// of JSON value it takes, as error messages name it.
func payloadFields(p Payload) map[string]string {
	t := reflect.TypeOf(p).Elem()
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		out[name] = valueKind(f.Type)
	}
	return out
}

func valueKind(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Date]():
		return "a date string (YYYY-MM-DD)"
	case reflect.TypeFor[uuid.UUID]():
		return "a UUID string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return valueKind(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	}
	return "of type " + t.String()
}

// valueReason says why a JSON value does not fit a payload field of the
// given kind.
func valueReason(kind string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "must be " + kind
	}
	return "must be " + kind + ": " + strings.TrimPrefix(err.Error(), "json: ")
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// DecodeStored decodes an event read back from the log and sets its stream
// sequence and record time. It fails on a body that is not a valid event: a
// message the ledger did not validate (written by hand, or by a version that
// took raw messages) must not pass for one. It is much faster than Decode:
// it derives no id and takes the fast path whenever it can.
func DecodeStored(body []byte, seq uint64, recorded time.Time) (Envelope, error) {
	e, err := decodeStored(body, seq, recorded)
	if err != nil {
		return Envelope{}, err
	}
	probs := e.checkEnvelope()
	if e.ID == uuid.Nil {
		probs = append(probs, fieldProblem{"id", "is missing"})
	}
	if len(probs) == 0 {
		probs = e.Payload.check(&e)
	}
	if len(probs) > 0 {
		return Envelope{}, fmt.Errorf("stored event %d: %s: %s", seq, probs[0].field, probs[0].reason)
	}
	return e, nil
}

func decodeStored(body []byte, seq uint64, recorded time.Time) (Envelope, error) {
	if e, ok := decodeStoredFast(body, seq, recorded); ok {
		return e, nil
	}
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return Envelope{}, fmt.Errorf("stored event %d: %w", seq, err)
	}
	sp, ok := specs[w.Type]
	if !ok {
		return Envelope{}, fmt.Errorf("stored event %d: unknown type %q", seq, w.Type)
	}
	id, err := uuid.Parse(w.ID)
	if err != nil {
		return Envelope{}, fmt.Errorf("stored event %d: id: %w", seq, err)
	}
	p, probs := sp.decode(w.Data)
	if len(probs) > 0 {
		return Envelope{}, fmt.Errorf("stored event %d: %s: %s", seq, probs[0].field, probs[0].reason)
	}
	precision, ok := ParsePrecision(w.Precision)
	if !ok && w.Precision != "" {
		return Envelope{}, fmt.Errorf("stored event %d: precision: %q is not a precision", seq, w.Precision)
	}
	return Envelope{ID: id, Type: w.Type, State: w.State, Date: w.Date, Precision: precision, Payload: p, Source: w.Source, Seq: seq, Recorded: recorded}, nil
}

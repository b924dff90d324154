// Package build turns the curated source files of the bundled record into
// its JSON Lines events. It is shared by the generator (cmd/recordgen),
// which writes events/record/record.jsonl, and by the record's tests, which
// rebuild the record in memory and compare it with the embedded copy.
//
// The source directory holds copies of the Convention's data files and the
// curated files made from them:
//
//	states.csv          the 75 States Parties: signature and deposit (signed, deposited)
//	other_states.csv    signatories and other States named in the seed
//	signatures.csv      the signature date and source of each signatory (signed)
//	meetings.csv        the Convention's meetings (meeting-held)
//	meetings_found.csv  dates missing from meetings.csv, or why a meeting is left out
//	seed_facts.csv      every other fact to the 3MSP, from the seed report or found elsewhere
//	later_facts.csv     facts after the 3MSP and corrected facts (same columns as seed_facts.csv)
//	retractions.csv     facts of the other files taken back (retracted), each named by its content
//
// Every row becomes at most one event, validated with events.Decode. The
// output is sorted by date, State, type (in the order of events.Types()),
// data and source, so the same sources always give the same bytes.
package build

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// ErrSource marks a source row that cannot become an event: a missing or
// malformed field, an unknown State, a date that disagrees with another
// source file, a duplicate fact. Every such error is a *SourceError.
var ErrSource = errors.New("bad source row")

// SourceError says which row of which source file is wrong, in which field
// and why. Line is the 1-based line of the file (the header is line 1).
type SourceError struct {
	File   string
	Line   int
	Field  string
	Reason string
	Err    error // the underlying error, such as an events.FieldError; may be nil
}

func (e *SourceError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns ErrSource and, when there is one, the underlying error.
func (e *SourceError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrSource}
	}
	return []error{ErrSource, e.Err}
}

// The source files, in the order they are read.
const (
	StatesFile        = "states.csv"
	OtherStatesFile   = "other_states.csv"
	SignaturesFile    = "signatures.csv"
	MeetingsFile      = "meetings.csv"
	MeetingsFoundFile = "meetings_found.csv"
	SeedFactsFile     = "seed_facts.csv"
	LaterFactsFile    = "later_facts.csv"
	RetractionsFile   = "retractions.csv"
)

// factsHeader is the header of seed_facts.csv and later_facts.csv.
var factsHeader = []string{"state", "type", "date", "date_basis", "data", "source", "note"}

// Date bases of seed_facts.csv: how the date of a fact was chosen. Exact
// dates are given by the source; every other basis is a bound or a date the
// sources fix in another file, and is checked against it.
const (
	BasisExact     = "exact"     // the source gives the day
	BasisMonth     = "month"     // the source gives the month; dated at its last day
	BasisYear      = "year"      // the source gives the year; dated at 31 December
	BasisBound     = "bound"     // the source says "by" an event; dated at that event
	BasisDeposit   = "deposit"   // dated at the State's deposit (states.csv)
	BasisSignature = "signature" // dated at the State's signature (states.csv)
	BasisEIF       = "eif"       // dated at the State's entry into force (states.csv)
	BasisAdoption  = "adoption"  // dated at the Convention's adoption, 30 May 2008
)

var bases = map[string]bool{
	BasisExact: true, BasisMonth: true, BasisYear: true, BasisBound: true,
	BasisDeposit: true, BasisSignature: true, BasisEIF: true, BasisAdoption: true,
}

// Fact is one event of the record together with the source row it came from.
type Fact struct {
	Event events.Envelope
	File  string
	Line  int
	Basis string // the date basis; BasisExact for rows of the data files
}

// Record reads the source files in dir and returns the record: one JSON
// object per line, in the wire format without ids (ids are derived on
// import), sorted. It fails with a *SourceError on the first bad row.
func Record(dir string) ([]byte, error) {
	facts, err := Facts(dir)
	if err != nil {
		return nil, err
	}
	return Encode(facts)
}

// Facts reads the source files in dir and returns every fact, validated and
// sorted, or a *SourceError.
func Facts(dir string) ([]Fact, error) {
	r := &reader{dir: dir, seen: map[string]Fact{}, signed: map[string]events.Date{}, meetingCodes: map[string]bool{}, retracted: map[string]bool{}}
	steps := []func() error{r.states, r.signatories, r.meetings, r.seedFacts, r.laterFacts, r.retractions, r.preciseReports, r.coverage}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(r.facts, func(i, j int) bool { return less(r.facts[i].Event, r.facts[j].Event) })
	return r.facts, nil
}

// Encode writes facts as JSON Lines, one event per line, in the given order.
func Encode(facts []Fact) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, f := range facts {
		e := f.Event
		if err := enc.Encode(line{Type: string(e.Type), State: e.State, Date: e.Date.String(), Precision: string(e.Precision), Data: e.Data(), Source: e.Source}); err != nil {
			return nil, &SourceError{File: f.File, Line: f.Line, Reason: "cannot encode: " + err.Error(), Err: err}
		}
	}
	return buf.Bytes(), nil
}

// line is one event of the record, in the order of fields of the wire
// format. The id is left out: importing derives it from the content.
type line struct {
	Type      string          `json:"type"`
	State     string          `json:"state,omitempty"`
	Date      string          `json:"date"`
	Precision string          `json:"precision,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Source    string          `json:"source"`
}

// TypeRank gives the order of event types within one day and one State:
// the order of events.Types(), which follows a State's life under the
// Convention (a signature before a same-day deposit, a declaration before
// its completion). An importer that orders by date and then by input order
// therefore sees the facts of one day in a possible order.
func TypeRank(t events.Type) int {
	for i, x := range events.Types() {
		if x == t {
			return i
		}
	}
	return len(events.Types())
}

// less orders events by date, then State (Convention-wide events first),
// type (see TypeRank), canonical data and source.
func less(a, b events.Envelope) bool {
	if a.Date != b.Date {
		return a.Date < b.Date
	}
	if a.State != b.State {
		return a.State < b.State
	}
	if a.Type != b.Type {
		return TypeRank(a.Type) < TypeRank(b.Type)
	}
	if c := bytes.Compare(a.Data(), b.Data()); c != 0 {
		return c < 0
	}
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	return a.Precision < b.Precision
}

// reader accumulates the facts of the source files.
type reader struct {
	dir          string
	facts        []Fact
	seen         map[string]Fact        // fact key -> first row, to refuse duplicates
	parties      map[string]stateDates  // dates of the States Parties: states.csv, then later deposits
	signed       map[string]events.Date // signatures of signatories.csv, for States that deposit later
	thirtieth    events.Date            // the thirtieth deposit (Art. 17(1)), from states.csv
	meetingCodes map[string]bool        // codes of the meetings of meetings.csv
	retracted    map[string]bool        // ids of the facts retractions.csv takes back
}

// stateDates are the dates of one State Party in states.csv (or of a later
// deposit in later_facts.csv), against which the derived date bases of the
// facts files are checked.
type stateDates struct {
	signature, deposit, eif events.Date
}

// row is one record of a CSV file with its line number.
type row struct {
	file   string
	line   int
	fields map[string]string
}

func (rw row) get(name string) string { return strings.TrimSpace(rw.fields[name]) }

func (rw row) fail(field, reason string, err error) error {
	return &SourceError{File: rw.file, Line: rw.line, Field: field, Reason: reason, Err: err}
}

// read reads a CSV file whose header must be exactly header.
func (r *reader) read(name string, header []string) ([]row, error) {
	f, err := os.Open(filepath.Join(r.dir, name))
	if err != nil {
		return nil, &SourceError{File: name, Reason: "cannot open: " + err.Error(), Err: err}
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(header)
	head, err := cr.Read()
	if err != nil {
		return nil, csvError(name, err)
	}
	if strings.Join(head, ",") != strings.Join(header, ",") {
		return nil, &SourceError{File: name, Line: 1, Field: "header", Reason: fmt.Sprintf("is %q, want %q", strings.Join(head, ","), strings.Join(header, ","))}
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		m := make(map[string]string, len(header))
		for i, h := range header {
			m[h] = rec[i]
		}
		rows = append(rows, row{file: name, line: line, fields: m})
	}
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &SourceError{File: name, Line: pe.Line, Reason: pe.Err.Error(), Err: err}
	}
	return &SourceError{File: name, Reason: err.Error(), Err: err}
}

// date parses a required date field.
func (rw row) date(field string) (events.Date, error) {
	s := rw.get(field)
	if s == "" {
		return 0, rw.fail(field, "is required", nil)
	}
	d, err := events.ParseDate(s)
	if err != nil {
		return 0, rw.fail(field, err.Error(), err)
	}
	return d, nil
}

// add validates one event with events.Decode, exactly as an import would,
// and keeps it. data is the JSON object of the payload, or nil.
func (r *reader) add(rw row, basis string, t events.Type, state string, date events.Date, data json.RawMessage, source string) error {
	return r.addAt(rw, basis, t, state, date, events.Day, data, source)
}

// addAt is add of an event whose date has precision prec.
func (r *reader) addAt(rw row, basis string, t events.Type, state string, date events.Date, prec events.Precision, data json.RawMessage, source string) error {
	e, err := decodeRow(rw, t, state, date, prec, data, source)
	if err != nil {
		return err
	}
	key := factKey(e)
	if first, dup := r.seen[key]; dup {
		return rw.fail("", fmt.Sprintf("the same %s event (State %q, date %s, same data) is already given by %s line %d", e.Type, e.State, e.Date, first.File, first.Line), nil)
	}
	f := Fact{Event: e, File: rw.file, Line: rw.line, Basis: basis}
	r.seen[key] = f
	r.facts = append(r.facts, f)
	return nil
}

// decodeRow encodes the event of a row and decodes it with events.Decode,
// which derives its id as an import does. A field the decoder refuses is
// reported as the row's field.
func decodeRow(rw row, t events.Type, state string, date events.Date, prec events.Precision, data json.RawMessage, source string) (events.Envelope, error) {
	l, err := json.Marshal(line{Type: string(t), State: state, Date: date.String(), Precision: string(prec), Data: data, Source: source})
	if err != nil {
		return events.Envelope{}, rw.fail("data", "cannot encode: "+err.Error(), err)
	}
	e, err := events.Decode(l)
	if err != nil {
		var fe *events.FieldError
		if errors.As(err, &fe) {
			return events.Envelope{}, rw.fail(fe.Field, fe.Reason, err)
		}
		return events.Envelope{}, rw.fail("", err.Error(), err)
	}
	return e, nil
}

// data returns the data field of a row: a JSON object, or nil when empty.
func (rw row) data() (json.RawMessage, error) {
	s := rw.get("data")
	if s == "" {
		return nil, nil
	}
	if !json.Valid([]byte(s)) || !strings.HasPrefix(s, "{") {
		return nil, rw.fail("data", "must be a JSON object", nil)
	}
	return json.RawMessage(s), nil
}

// factKey identifies a fact by its content without its source: type,
// State, date and canonical data. Two rows with the same key are the same
// fact given twice.
func factKey(e events.Envelope) string {
	return fmt.Sprintf("%s|%s|%s~%s|%s", e.Type, e.State, e.Date, e.Precision, e.Data())
}

// cite appends the name of the source file to a row's source, so that a
// reader of the record can find the row.
func cite(source, file string) string {
	return strings.TrimSpace(source) + " (" + file + ")"
}

// states reads states.csv: one signature (unless the State acceded) and one
// deposit per State Party.
func (r *reader) states() error {
	rows, err := r.read(StatesFile, []string{"iso3", "name_in_seed", "region", "signature_date", "deposit_date", "instrument", "eif_date", "source", "notes"})
	if err != nil {
		return err
	}
	r.parties = make(map[string]stateDates, len(rows))
	for _, rw := range rows {
		iso := rw.get("iso3")
		if _, dup := r.parties[iso]; dup {
			return rw.fail("iso3", iso+" appears twice", nil)
		}
		src := rw.get("source")
		if src == "" {
			return rw.fail("source", "is required", nil)
		}
		var sd stateDates
		if rw.get("signature_date") != "" {
			if sd.signature, err = rw.date("signature_date"); err != nil {
				return err
			}
			if err := r.add(rw, BasisExact, events.Signed, iso, sd.signature, nil, cite(src, StatesFile)); err != nil {
				return err
			}
		}
		if sd.deposit, err = rw.date("deposit_date"); err != nil {
			return err
		}
		if sd.eif, err = rw.date("eif_date"); err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]string{"instrument": rw.get("instrument")})
		if err := r.add(rw, BasisExact, events.Deposited, iso, sd.deposit, data, cite(src, StatesFile)); err != nil {
			return err
		}
		r.parties[iso] = sd
	}
	r.thirtieth = thirtiethDeposit(r.parties)
	return nil
}

// thirtiethDeposit returns the date of the thirtieth instrument among the
// deposits of parties (Art. 17(1)), zero with fewer than thirty.
func thirtiethDeposit(parties map[string]stateDates) events.Date {
	ds := make([]events.Date, 0, len(parties))
	for _, sd := range parties {
		ds = append(ds, sd.deposit)
	}
	if len(ds) < 30 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[29]
}

// entryIntoForce returns the entry into force for a State that deposits on
// d (Art. 17): the Convention's own for the first thirty instruments, else
// the first day of the sixth month after the month of deposit.
func (r *reader) entryIntoForce(d events.Date) events.Date {
	if r.thirtieth != 0 && d <= r.thirtieth {
		d = r.thirtieth
	}
	y, m, _ := d.YMD()
	return events.MakeDate(y, m+6, 1)
}

// signatories reads other_states.csv and signatures.csv: every signatory
// named in the seed must have exactly one signature with a source, and a
// date already in other_states.csv must agree with it.
func (r *reader) signatories() error {
	others, err := r.read(OtherStatesFile, []string{"iso3", "name_in_seed", "role_in_seed", "region_in_seed", "notes", "signature_date"})
	if err != nil {
		return err
	}
	sigs, err := r.read(SignaturesFile, []string{"iso3", "date", "source", "note"})
	if err != nil {
		return err
	}
	signatory := map[string]row{}
	for _, o := range others {
		if strings.HasPrefix(o.get("role_in_seed"), "signatory") {
			signatory[o.get("iso3")] = o
		}
	}
	done := map[string]bool{}
	for _, rw := range sigs {
		iso := rw.get("iso3")
		o, ok := signatory[iso]
		if !ok {
			return rw.fail("iso3", iso+" is not a signatory in "+OtherStatesFile, nil)
		}
		if done[iso] {
			return rw.fail("iso3", iso+" appears twice", nil)
		}
		done[iso] = true
		d, err := rw.date("date")
		if err != nil {
			return err
		}
		if known := o.get("signature_date"); known != "" && known != d.String() {
			return rw.fail("date", fmt.Sprintf("%s disagrees with %s line %d (signature_date %s)", d, OtherStatesFile, o.line, known), nil)
		}
		if rw.get("source") == "" {
			return rw.fail("source", "is required", nil)
		}
		if err := r.add(rw, BasisExact, events.Signed, iso, d, nil, cite(rw.get("source"), SignaturesFile)); err != nil {
			return err
		}
		r.signed[iso] = d
	}
	for iso, o := range signatory {
		if !done[iso] {
			return o.fail("iso3", "signatory "+iso+" has no signature in "+SignaturesFile, nil)
		}
	}
	return nil
}

// meetings reads meetings.csv and meetings_found.csv. A meeting without
// dates in meetings.csv must have a row in meetings_found.csv: with the
// dates found elsewhere, or with empty dates and the reason it is left out.
func (r *reader) meetings() error {
	rows, err := r.read(MeetingsFile, []string{"code", "name", "city", "start", "end", "source"})
	if err != nil {
		return err
	}
	found, err := r.read(MeetingsFoundFile, []string{"code", "start", "end", "source", "note"})
	if err != nil {
		return err
	}
	extra := map[string]row{}
	for _, f := range found {
		if _, dup := extra[f.get("code")]; dup {
			return f.fail("code", f.get("code")+" appears twice", nil)
		}
		extra[f.get("code")] = f
	}
	codes := map[string]bool{}
	for _, rw := range rows {
		code := rw.get("code")
		if codes[code] {
			return rw.fail("code", code+" appears twice", nil)
		}
		codes[code] = true
		r.meetingCodes[code] = true
		src, _, _ := strings.Cut(rw.get("source"), " | NOTE:")
		from, file := rw, MeetingsFile
		f, hasExtra := extra[code]
		switch {
		case rw.get("start") != "" || rw.get("end") != "":
			if hasExtra {
				return f.fail("code", code+" already has dates in "+MeetingsFile, nil)
			}
		case !hasExtra:
			return rw.fail("start", "no dates for "+code+" here or in "+MeetingsFoundFile, nil)
		case f.get("start") == "" && f.get("end") == "":
			if f.get("note") == "" {
				return f.fail("note", "a meeting left out needs the reason", nil)
			}
			continue
		default:
			from, file, src = f, MeetingsFoundFile, f.get("source")
		}
		start, err := from.date("start")
		if err != nil {
			return err
		}
		end, err := from.date("end")
		if err != nil {
			return err
		}
		if strings.TrimSpace(src) == "" {
			return from.fail("source", "is required", nil)
		}
		data, _ := json.Marshal(map[string]string{"code": code, "name": rw.get("name"), "city": rw.get("city"), "start": start.String(), "end": end.String()})
		if err := r.add(from, BasisExact, events.MeetingHeld, "", end, data, cite(src, file)); err != nil {
			return err
		}
	}
	for code, f := range extra {
		if !codes[code] {
			return f.fail("code", code+" is not a meeting of "+MeetingsFile, nil)
		}
	}
	return nil
}

// seedFacts reads seed_facts.csv, checking each date against its basis.
func (r *reader) seedFacts() error { return r.factsFile(SeedFactsFile) }

// laterFacts reads later_facts.csv: the facts after the 3MSP, and the
// corrected facts that replace the ones retractions.csv takes back.
func (r *reader) laterFacts() error { return r.factsFile(LaterFactsFile) }

// factsFile reads a file of facts, one event per row. Its deposits (States
// that joined after states.csv was made) are registered first, so that the
// deposit, signature and eif bases of its other rows are checked against
// them.
func (r *reader) factsFile(name string) error {
	rows, err := r.read(name, factsHeader)
	if err != nil {
		return err
	}
	if err := r.registerDeposits(rows); err != nil {
		return err
	}
	for _, rw := range rows {
		if err := r.factRow(rw); err != nil {
			return err
		}
	}
	return nil
}

// registerDeposits adds the States that deposit in rows to the States
// Parties, with their signature (signatures.csv) and the entry into force
// their deposit gives. A State deposits once: a second instrument, of a
// State in states.csv or given twice, is an error.
func (r *reader) registerDeposits(rows []row) error {
	for _, rw := range rows {
		if events.Type(rw.get("type")) != events.Deposited {
			continue
		}
		iso := rw.get("state")
		if _, dup := r.parties[iso]; dup {
			return rw.fail("state", iso+" has already deposited an instrument ("+StatesFile+" or an earlier row)", nil)
		}
		d, err := rw.date("date")
		if err != nil {
			return err
		}
		r.parties[iso] = stateDates{signature: r.signed[iso], deposit: d, eif: r.entryIntoForce(d)}
	}
	return nil
}

// factRow turns one row of a facts file into its event.
func (r *reader) factRow(rw row) error {
	d, err := rw.date("date")
	if err != nil {
		return err
	}
	basis := rw.get("date_basis")
	if err := r.checkBasis(rw, basis, d); err != nil {
		return err
	}
	data, err := rw.data()
	if err != nil {
		return err
	}
	if rw.get("source") == "" {
		return rw.fail("source", "is required", nil)
	}
	t := events.Type(rw.get("type"))
	prec := events.Day
	if rw.file == LaterFactsFile {
		prec = precisionOf(basis) // facts new to this record carry their precision at once
	}
	if err := r.addAt(rw, basis, t, rw.get("state"), d, prec, data, rw.get("source")); err != nil {
		return err
	}
	if t != events.MeetingHeld {
		return nil
	}
	code := r.facts[len(r.facts)-1].Event.Payload.(*events.Meeting).Code
	if r.meetingCodes[code] {
		return rw.fail("data.code", "meeting "+code+" is already in "+MeetingsFile+" or an earlier row", nil)
	}
	r.meetingCodes[code] = true
	return nil
}

// retractions reads retractions.csv. Each row names a fact of the other
// files by its content (state, type, date and data, as the row that gives
// it) and takes it back: a retracted event whose data names the fact's id,
// derived from its content as an import derives it, with the row's reason.
// The retraction is dated on the retracted fact's date, so that an import,
// which decides in date order and a retraction after the facts of its day,
// meets it right after the fact it takes back. A fact is retracted once.
func (r *reader) retractions() error {
	rows, err := r.read(RetractionsFile, []string{"state", "type", "date", "data", "reason", "source", "note"})
	if err != nil {
		return err
	}
	done := map[string]row{}
	for _, rw := range rows {
		target, err := r.target(rw)
		if err != nil {
			return err
		}
		id := target.Event.ID.String()
		if first, twice := done[id]; twice {
			return rw.fail("", fmt.Sprintf("the fact of %s line %d is already retracted by line %d", target.File, target.Line, first.line), nil)
		}
		done[id] = rw
		r.retracted[id] = true
		for _, f := range []string{"reason", "source"} {
			if rw.get(f) == "" {
				return rw.fail(f, "is required", nil)
			}
		}
		data, _ := json.Marshal(map[string]string{"event": id, "reason": rw.get("reason")})
		if err := r.add(rw, BasisExact, events.Retracted, target.Event.State, target.Event.Date, data, rw.get("source")); err != nil {
			return err
		}
	}
	return nil
}

// target returns the fact a row of retractions.csv names.
func (r *reader) target(rw row) (Fact, error) {
	d, err := rw.date("date")
	if err != nil {
		return Fact{}, err
	}
	data, err := rw.data()
	if err != nil {
		return Fact{}, err
	}
	t := events.Type(rw.get("type"))
	if t == events.Retracted {
		return Fact{}, rw.fail("type", "a retraction cannot be retracted; record the fact again instead", nil)
	}
	e, err := decodeRow(rw, t, rw.get("state"), d, events.Day, data, "the retracted fact")
	if err != nil {
		return Fact{}, err
	}
	f, ok := r.seen[factKey(e)]
	if !ok {
		return Fact{}, rw.fail("date", fmt.Sprintf("no %s fact of State %q dated %s with this data is in the record", e.Type, e.State, e.Date), nil)
	}
	return f, nil
}

// checkBasis verifies that a date chosen by rule is the date the rule gives.
func (r *reader) checkBasis(rw row, basis string, d events.Date) error {
	if !bases[basis] {
		return rw.fail("date_basis", fmt.Sprintf("%q is not one of exact, month, year, bound, deposit, signature, eif, adoption", basis), nil)
	}
	want, what := d, ""
	sd, party := r.parties[rw.get("state")]
	switch basis {
	case BasisMonth:
		want, what = d.FirstOfMonth().AddDate(0, 1, -1), "the last day of its month"
	case BasisYear:
		y := d.Year()
		want, what = events.MustDate(fmt.Sprintf("%04d-12-31", y)), "31 December"
	case BasisAdoption:
		want, what = events.Adoption, "the Convention's adoption"
	case BasisDeposit, BasisSignature, BasisEIF:
		if !party {
			return rw.fail("date_basis", basis+" needs a State Party of "+StatesFile+" or a deposit in the same file", nil)
		}
		switch basis {
		case BasisDeposit:
			want, what = sd.deposit, "its deposit"
		case BasisSignature:
			want, what = sd.signature, "its signature"
		case BasisEIF:
			want, what = sd.eif, "its entry into force"
		}
		if want == 0 {
			return rw.fail("date_basis", rw.get("state")+" has no date for "+what, nil)
		}
	}
	if want != d {
		return rw.fail("date", fmt.Sprintf("%s is not %s (%s) as the %s basis requires", d, what, want, basis), nil)
	}
	return nil
}

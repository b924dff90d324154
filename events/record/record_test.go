package record_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/events/record/build"
)

// recordEvents decodes every line of the embedded record with the wire
// format's own decoder.
func recordEvents(t *testing.T) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	sc := bufio.NewScanner(bytes.NewReader(record.JSONL()))
	sc.Buffer(make([]byte, 0, 64*1024), events.MaxLineBytes)
	for n := 1; sc.Scan(); n++ {
		e, err := events.Decode(sc.Bytes())
		require.NoErrorf(t, err, "record.jsonl line %d: %s", n, sc.Text())
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out, "the record is empty")
	return out
}

func TestRecordIsWhatTheGeneratorBuilds(t *testing.T) {
	// Given the sources, when the record is rebuilt in memory,
	// then it is byte for byte the embedded record.
	got, err := build.Record("sources")
	require.NoError(t, err, "building the record from sources/")
	want := record.JSONL()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			t.Fatalf("record.jsonl is stale (run go generate ./events/record): line %d\n got (from sources): %s\nwant (embedded):     %s", i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("record.jsonl is stale (run go generate ./events/record): sources give %d lines, embedded record has %d", len(gl), len(wl))
}

func TestRecordLinesAreEvents(t *testing.T) {
	// Every line is one JSON object with the envelope's fields and no id
	// (ids are derived on import), and decodes as a valid event whose State
	// resolves in the table of States and whose source is not empty.
	allowed := map[string]bool{"type": true, "state": true, "date": true, "precision": true, "data": true, "source": true}
	sc := bufio.NewScanner(bytes.NewReader(record.JSONL()))
	sc.Buffer(make([]byte, 0, 64*1024), events.MaxLineBytes)
	for n := 1; sc.Scan(); n++ {
		var obj map[string]json.RawMessage
		require.NoErrorf(t, json.Unmarshal(sc.Bytes(), &obj), "line %d is not a JSON object: %s", n, sc.Text())
		for _, f := range []string{"type", "date", "source"} {
			assert.Containsf(t, obj, f, "line %d lacks %q: %s", n, f, sc.Text())
		}
		for k := range obj {
			assert.Truef(t, allowed[k], "line %d has field %q, want only %v: %s", n, k, allowed, sc.Text())
		}
		e, err := events.Decode(sc.Bytes())
		require.NoErrorf(t, err, "line %d does not decode: %s", n, sc.Text())
		if e.Type.ConventionWide() {
			assert.Emptyf(t, e.State, "line %d: a %s event has State %q", n, e.Type, e.State)
		} else {
			_, ok := events.LookupState(e.State)
			assert.Truef(t, ok, "line %d: State %q does not resolve with events.LookupState", n, e.State)
		}
		assert.NotEmptyf(t, strings.TrimSpace(e.Source), "line %d has an empty source", n)
		assert.Equalf(t, strings.TrimSpace(e.Source), e.Source, "line %d: source has surrounding spaces", n)
	}
	require.NoError(t, sc.Err())
}

func TestRecordIsSorted(t *testing.T) {
	// The record is ordered by date, then State, then type (in the order of
	// events.Types(), so that a signature precedes a same-day deposit), then
	// data.
	evs := recordEvents(t)
	ok := sort.SliceIsSorted(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		if a.State != b.State {
			return a.State < b.State
		}
		if a.Type != b.Type {
			return build.TypeRank(a.Type) < build.TypeRank(b.Type)
		}
		return bytes.Compare(a.Data(), b.Data()) < 0
	})
	assert.True(t, ok, "record.jsonl is not sorted by date, State, type, data")
	for i := 1; i < len(evs); i++ {
		a, b := evs[i-1], evs[i]
		if a.Date == b.Date && a.State == b.State && a.Type == events.Deposited && b.Type == events.Signed {
			t.Errorf("%s: deposit before the same-day signature on %s", a.State, a.Date)
		}
	}
}

// seedIndex lists what the seed report contains: the paragraphs of the
// final document and of the Oslo Progress Report (annex I), the footnotes of
// each, and the tables of the appendix.
type seedIndex struct {
	finalParas, reportParas map[int]bool
	finalNotes, reportNotes map[int]bool
	tables                  map[string]bool
}

var superscripts = strings.NewReplacer("⁰", "0", "¹", "1", "²", "2", "³", "3", "⁴", "4", "⁵", "5", "⁶", "6", "⁷", "7", "⁸", "8", "⁹", "9")

func readSeed(t *testing.T) seedIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("sources", "3msp-final-report-2012.txt"))
	require.NoError(t, err, "reading the seed copy")
	lines := strings.Split(string(b), "\n")
	annex, appendix := -1, -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case "Annex I":
			if annex < 0 {
				annex = i
			}
		case "Appendix":
			if annex >= 0 && appendix < 0 {
				appendix = i
			}
		}
	}
	require.Truef(t, annex > 0 && appendix > annex, "seed copy: annex I at line %d, appendix at line %d", annex+1, appendix+1)
	ix := seedIndex{map[int]bool{}, map[int]bool{}, map[int]bool{}, map[int]bool{}, map[string]bool{}}
	para := regexp.MustCompile(`^(\d+)\. `)
	note := regexp.MustCompile(`^([⁰¹²³⁴⁵⁶⁷⁸⁹]+) `)
	table := regexp.MustCompile(`^([IVX]+)\. `)
	for i, l := range lines {
		if m := para.FindStringSubmatch(l); m != nil && i < appendix {
			n, _ := strconv.Atoi(m[1])
			if i < annex {
				ix.finalParas[n] = true
			} else {
				ix.reportParas[n] = true
			}
		}
		if m := note.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(superscripts.Replace(m[1]))
			if i < annex {
				ix.finalNotes[n] = true
			} else {
				ix.reportNotes[n] = true
			}
		}
		if m := table.FindStringSubmatch(l); m != nil && i > appendix {
			ix.tables[m[1]] = true
		}
	}
	return ix
}

func TestSeedIndex(t *testing.T) {
	// The seed parser finds what the report is known to hold, so that the
	// citation test below cannot pass on an empty index.
	ix := readSeed(t)
	for _, c := range []struct {
		what string
		got  int
		want int
	}{
		{"final document paragraphs", len(ix.finalParas), 33},
		{"Oslo Progress Report paragraphs", len(ix.reportParas), 76},
		{"final document footnotes", len(ix.finalNotes), 4},
		{"Oslo Progress Report and appendix footnotes", len(ix.reportNotes), 139},
	} {
		assert.Equalf(t, c.want, c.got, "seed copy: number of %s", c.what)
	}
	for _, tb := range []string{"III", "IV", "V", "VI", "VII", "IX", "X"} {
		assert.Truef(t, ix.tables[tb], "seed copy: appendix table %s not found", tb)
	}
}

// citation finds the parts of a source that point into the seed.
var citation = regexp.MustCompile(`Oslo Progress Report|final document|appendix table ([IVX]+)|\bfn ?(\d+)|\bparas? (\d+)`)

// citationProblems returns how many references into the seed a source
// makes ("SEED ..." followed by paragraphs, footnotes and appendix tables)
// and which of them the seed does not contain.
func citationProblems(ix seedIndex, source string) (cited int, problems []string) {
	_, after, ok := strings.Cut(source, "SEED")
	if !ok {
		return 0, nil
	}
	part := "" // "", "report" or "final": the part of the seed last named
	for _, m := range citation.FindAllStringSubmatch(after, -1) {
		switch {
		case m[0] == "Oslo Progress Report":
			part = "report"
		case m[0] == "final document":
			part = "final"
		case m[1] != "":
			cited++
			if !ix.tables[m[1]] {
				problems = append(problems, "appendix table "+m[1])
			}
		case m[2] != "":
			cited++
			fn, _ := strconv.Atoi(m[2])
			found := ix.reportNotes[fn]
			if part == "final" {
				found = ix.finalNotes[fn]
			}
			if !found {
				problems = append(problems, "footnote "+m[2]+" of the "+part+" part")
			}
		case m[3] != "":
			cited++
			p, _ := strconv.Atoi(m[3])
			found := ix.reportParas[p] || ix.finalParas[p]
			switch part {
			case "report":
				found = ix.reportParas[p]
			case "final":
				found = ix.finalParas[p]
			}
			if !found {
				problems = append(problems, "paragraph "+m[3]+" of the "+part+" part")
			}
		}
	}
	return cited, problems
}

func TestCitationProblems(t *testing.T) {
	ix := readSeed(t)
	for _, c := range []struct {
		source   string
		cited    int
		problems []string
	}{
		{"SEED Oslo Progress Report para 76; fn 139; appendix table X", 3, nil},
		{"SEED final document para 33; fn 4", 2, nil},
		{"SEED fn138 (12/07/2012)", 1, nil},
		{"SEED Oslo Progress Report para 77", 1, []string{"paragraph 77 of the report part"}},
		{"SEED final document para 34; fn 5", 2, []string{"paragraph 34 of the final part", "footnote 5 of the final part"}},
		{"SEED Oslo Progress Report fn 140; appendix table VIII", 2, []string{"footnote 140 of the report part", "appendix table VIII"}},
		{"MON-CP Norway 2012, para 99", 0, nil},
	} {
		cited, problems := citationProblems(ix, c.source)
		assert.Equalf(t, c.cited, cited, "citations counted in %q", c.source)
		assert.Equalf(t, c.problems, problems, "missing references in %q", c.source)
	}
}

func TestRecordSeedCitationsExist(t *testing.T) {
	// Every paragraph, footnote and appendix table that a source cites in
	// the seed exists in the seed copy.
	ix := readSeed(t)
	total := 0
	for n, e := range recordEvents(t) {
		cited, problems := citationProblems(ix, e.Source)
		total += cited
		assert.Emptyf(t, problems, "event %d (%s %s %s) cites what the seed does not contain; source: %s", n+1, e.Type, e.State, e.Date, e.Source)
	}
	assert.Greater(t, total, 300, "number of seed citations checked")
}

func TestRecordCountsAgreeWithSources(t *testing.T) {
	// Counts that the sources state independently of the curated files:
	// they check that no fact of the data files was lost or doubled.
	evs := recordEvents(t)
	count := func(keep func(events.Envelope) bool) int {
		n := 0
		for _, e := range evs {
			if keep(e) {
				n++
			}
		}
		return n
	}
	ofType := func(t events.Type) func(events.Envelope) bool {
		return func(e events.Envelope) bool { return e.Type == t }
	}
	instrument := func(i string) func(events.Envelope) bool {
		return func(e events.Envelope) bool {
			d, ok := e.Payload.(*events.Deposit)
			return ok && string(d.Instrument) == i
		}
	}
	close3 := events.MustDate("2012-09-14")
	oslo := func(e events.Envelope) bool {
		return e.Type == events.Signed && (e.Date == events.MustDate("2008-12-03") || e.Date == events.MustDate("2008-12-04"))
	}
	for _, c := range []struct {
		what string
		keep func(events.Envelope) bool
		want int
		why  string
	}{
		{"deposits", ofType(events.Deposited), 113, "UNTC XXVI-6 header 'Parties112' and Lithuania, withdrawn: 75 States Parties at the 3MSP (seed para 4, states.csv) and 38 deposits after it (later_facts.csv)"},
		{"deposits by the 3MSP", func(e events.Envelope) bool { return e.Type == events.Deposited && e.Date <= close3 }, 75, "seed para 4 and appendix table III: 75 States Parties; states.csv has 75 rows"},
		{"withdrawals", ofType(events.WithdrawalNotified), 1, "Lithuania, the only State to withdraw (CCM-ISU, 6 Sep 2024)"},
		{"signatures", ofType(events.Signed), 108, "UNTC XXVI-6: 108 signatories (72 States Parties that signed + 36 signatories in appendix table III)"},
		{"signatures at the Oslo conference, 3-4 Dec 2008", oslo, 94, "CMC 2009-01-13 and French MFA: 94 States signed at Oslo"},
		{"accessions", instrument("accession"), 17, "treaty_actions research: 17 States acceded; by the 3MSP Grenada, Swaziland, Trinidad and Tobago (states.csv)"},
		{"acceptances", instrument("acceptance"), 1, "states.csv and MOFA 2015-02-10: Japan deposited an instrument of acceptance"},
		{"meetings", ofType(events.MeetingHeld), 29, "meetings.csv has 28 rows; 3RC has no known dates and is left out (meetings_found.csv); later_facts.csv adds 1RC-PM1 and IS2022"},
	} {
		assert.Equalf(t, c.want, count(c.keep), "number of %s (%s)", c.what, c.why)
	}
}

func TestRecordFactsAreConsistent(t *testing.T) {
	// Facts of one State must fit together as the Convention requires.
	// Retracted facts are left out, as every fold leaves them out.
	evs := live(recordEvents(t))
	eif := events.MustDate("2010-08-01")     // the Convention's entry into force (Art. 17(1))
	horizon := events.MustDate("2025-09-19") // the close of the 13MSP, the last fact the sources reach
	type history struct {
		signed, deposited      []events.Envelope
		declared, contaminated []events.Date
		withdrawn              []events.Date
		instrument             events.Instrument
	}
	hs := map[string]*history{}
	codes := map[string]int{}
	for _, e := range evs {
		assert.Falsef(t, e.Date > horizon, "%s %s %s is after the 13MSP's close: no source of the record reaches it", e.Type, e.State, e.Date)
		if e.Type == events.MeetingHeld {
			m := e.Payload.(*events.Meeting)
			codes[m.Code]++
			continue
		}
		h := hs[e.State]
		if h == nil {
			h = &history{}
			hs[e.State] = h
		}
		switch e.Type {
		case events.Signed:
			h.signed = append(h.signed, e)
			assert.Truef(t, e.Date < eif, "%s signed on %s, on or after entry into force (Art. 15 closes signature)", e.State, e.Date)
		case events.Deposited:
			h.deposited = append(h.deposited, e)
			h.instrument = e.Payload.(*events.Deposit).Instrument
		case events.WithdrawalNotified:
			assert.NotEmptyf(t, h.deposited, "%s notifies its withdrawal on %s before any deposit", e.State, e.Date)
			h.withdrawn = append(h.withdrawn, e.Date)
		case events.StockpileDeclared:
			h.declared = append(h.declared, e.Date)
		case events.StockpileDestructionCompleted:
			assert.Truef(t, before(h.declared, e.Date), "%s completes stockpile destruction on %s without an earlier stockpile-declared", e.State, e.Date)
		case events.ContaminationDeclared:
			h.contaminated = append(h.contaminated, e.Date)
		case events.ClearanceCompleted:
			assert.Truef(t, before(h.contaminated, e.Date), "%s completes clearance on %s without an earlier contamination-declared", e.State, e.Date)
		case events.ExtensionGranted:
			x := e.Payload.(*events.Extension)
			basis := h.declared
			if x.Article == 4 {
				basis = h.contaminated
			}
			assert.Truef(t, before(basis, e.Date+1), "%s is granted an Article %d extension on %s without a declaration of the obligation", e.State, x.Article, e.Date)
		case events.ReportSubmitted:
			if r := e.Payload.(*events.Report); r.Kind == events.AnnualReport {
				assert.Equalf(t, e.Date.Year()-1, r.Year, "%s annual report of %s covers %d; an annual report covers the previous calendar year", e.State, e.Date, r.Year)
			}
		}
	}
	for code, n := range codes {
		assert.Equalf(t, 1, n, "meeting %s appears %d times", code, n)
	}
	for iso, h := range hs {
		assert.LessOrEqualf(t, len(h.deposited), 1, "%s has %d deposits", iso, len(h.deposited))
		assert.LessOrEqualf(t, len(h.signed), 1, "%s has %d signatures", iso, len(h.signed))
		assert.LessOrEqualf(t, len(h.withdrawn), 1, "%s notified %d withdrawals", iso, len(h.withdrawn))
		if len(h.deposited) == 0 {
			continue
		}
		signed := len(h.signed) == 1
		assert.Equalf(t, !signed, h.instrument == events.Accession, "%s: signed=%v but deposited an instrument of %s (accession only by a non-signatory, Art. 16)", iso, signed, h.instrument)
		if signed {
			assert.Truef(t, h.signed[0].Date <= h.deposited[0].Date, "%s signed on %s after depositing on %s", iso, h.signed[0].Date, h.deposited[0].Date)
		}
	}
}

// live returns the events that no retraction of evs takes back, without the
// retractions.
func live(evs []events.Envelope) []events.Envelope {
	gone := map[string]bool{}
	for _, e := range evs {
		if r, ok := e.Payload.(*events.Retraction); ok {
			gone[r.Event.String()] = true
		}
	}
	var out []events.Envelope
	for _, e := range evs {
		if e.Type != events.Retracted && !gone[e.ID.String()] {
			out = append(out, e)
		}
	}
	return out
}

func TestSeedFilesStopAtThe3MSP(t *testing.T) {
	// The data files and seed_facts.csv hold the record to the close of the
	// 3MSP (14 Sep 2012), and the meetings whose dates are known; every
	// later fact comes from later_facts.csv.
	facts, err := build.Facts("sources")
	require.NoError(t, err)
	close3 := events.MustDate("2012-09-14")
	later := 0
	for _, f := range facts {
		e := f.Event
		switch {
		case f.File == build.LaterFactsFile:
			later++
		case f.File == build.RetractionsFile, e.Type == events.MeetingHeld:
		default:
			assert.Falsef(t, e.Date > close3, "%s line %d: %s %s %s is after the 3MSP's close; later facts go to %s", f.File, f.Line, e.Type, e.State, e.Date, build.LaterFactsFile)
		}
	}
	assert.Positive(t, later, "facts of %s", build.LaterFactsFile)
}

func TestRecordRetractions(t *testing.T) {
	// Every retraction names a fact of the record: an earlier line, not a
	// retraction, of the same State and the same date (a retraction is
	// dated on the fact it takes back, so that an import meets it right
	// after it), with a reason; no fact is retracted twice.
	evs := recordEvents(t)
	at := map[string]int{}
	done := map[string]bool{}
	n := 0
	for i, e := range evs {
		at[e.ID.String()] = i
		r, ok := e.Payload.(*events.Retraction)
		if !ok {
			continue
		}
		n++
		id := r.Event.String()
		j, known := at[id]
		if !assert.Truef(t, known, "line %d retracts %s, which no earlier line of the record is", i+1, id) {
			continue
		}
		target := evs[j]
		assert.NotEqualf(t, events.Retracted, target.Type, "line %d retracts a retraction (line %d)", i+1, j+1)
		assert.Equalf(t, target.State, e.State, "line %d: a retraction of a fact of %q", i+1, target.State)
		assert.Equalf(t, target.Date, e.Date, "line %d: a retraction is dated on the fact it retracts (line %d)", i+1, j+1)
		assert.NotEmptyf(t, strings.TrimSpace(r.Reason), "line %d: a retraction without a reason", i+1)
		assert.Falsef(t, done[id], "line %d: %s is retracted twice", i+1, id)
		done[id] = true
	}
	t.Logf("%d retractions", n)
}

// before reports whether some date in ds is strictly before d.
func before(ds []events.Date, d events.Date) bool {
	for _, x := range ds {
		if x < d {
			return true
		}
	}
	return false
}

func TestPublishedFiguresAreWellFormed(t *testing.T) {
	// The seed's published figures (projections/testdata/3msp/published.json)
	// are data for the acceptance test: every entry names an existing part
	// of the seed, lists hold known State codes, counts are numbers.
	b, err := os.ReadFile(filepath.Join("..", "..", "projections", "testdata", "3msp", "published.json"))
	require.NoError(t, err, "reading published.json")
	var figures []struct {
		Key   string          `json:"key"`
		Ref   string          `json:"ref"`
		Kind  string          `json:"kind"`
		Value json.RawMessage `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&figures), "published.json")
	require.NotEmpty(t, figures, "published.json has no figures")
	ix := readSeed(t)
	keys := map[string]bool{}
	for _, f := range figures {
		assert.Falsef(t, keys[f.Key], "key %q appears twice", f.Key)
		keys[f.Key] = true
		cited, problems := citationProblems(ix, "SEED "+f.Ref)
		assert.Positivef(t, cited, "%s: ref %q cites no part of the seed", f.Key, f.Ref)
		assert.Emptyf(t, problems, "%s: ref %q cites what the seed does not contain", f.Key, f.Ref)
		switch f.Kind {
		case "count":
			var n int
			assert.NoErrorf(t, json.Unmarshal(f.Value, &n), "%s: count %s is not an integer", f.Key, f.Value)
		case "list":
			var codes []string
			require.NoErrorf(t, json.Unmarshal(f.Value, &codes), "%s: list %s is not a list of strings", f.Key, f.Value)
			assert.NotEmptyf(t, codes, "%s: empty list", f.Key)
			for _, c := range codes {
				_, ok := events.LookupState(c)
				assert.Truef(t, ok, "%s: %q is not a State code", f.Key, c)
			}
		case "dated_list":
			var items []struct{ State, Date string }
			require.NoErrorf(t, json.Unmarshal(f.Value, &items), "%s: %s is not a list of {state, date}", f.Key, f.Value)
			for _, it := range items {
				_, ok := events.LookupState(it.State)
				assert.Truef(t, ok, "%s: %q is not a State code", f.Key, it.State)
				_, err := events.ParseDate(it.Date)
				assert.NoErrorf(t, err, "%s: date of %s", f.Key, it.State)
			}
		default:
			t.Errorf("%s: kind %q is not count, list or dated_list", f.Key, f.Kind)
		}
	}
	for _, k := range []string{"states_parties", "states_parties_count", "signatories", "article3.obligations_fn22", "article3.obligations_appendix", "article7.initial_late", "article9.deemed_adequate_count"} {
		assert.Truef(t, keys[k], "published.json lacks %q", k)
	}
}

package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update rewrites the golden files: go test ./events -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	goldenDir        = "testdata/golden"
	goldenInvalidDir = "testdata/golden/invalid"
)

// burundiTypo is a deposit recorded from a misprint: MON-STATUS-2016 gives
// Burundi's ratification as "25 Dec 09" where UNTC, TRB and MON-STATUS-2022
// give 25 Sep 2009 (states.csv). The retracted golden event retracts it.
func burundiTypo(tb testing.TB) Envelope {
	tb.Helper()
	e, err := New(uuid.Nil, Deposited, "BDI", MustDate("2009-12-25"), &Deposit{Instrument: Ratification},
		"MON-STATUS-2016 (Burundi: ratification '25 Dec 09')")
	require.NoError(tb, err)
	return e
}

func count(n int64) *int64 { return &n }

// goldenEvents returns one representative event of each type, built from
// facts of the record's sources (events/record/sources): states.csv,
// meetings.csv, rules.md, seed_facts.csv and the 3MSP final report (SEED).
func goldenEvents(tb testing.TB) map[Type]Envelope {
	tb.Helper()
	type fact struct {
		typ    Type
		state  string
		date   string
		data   Payload
		source string
	}
	facts := []fact{
		{Signed, "SWE", "2008-12-03", nil,
			"MON-CP Sweden; CMC 2012-04-24; government.se (states.csv: signed 3 Dec 2008)"},
		{Deposited, "SWE", "2012-04-23", &Deposit{Instrument: Ratification},
			"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"},
		{WithdrawalNotified, "LTU", "2024-09-06", nil,
			"rules.md §8: withdrawal took effect on 6 Mar 2025 (statement of the 13MSP President, 6 Mar 2025); receipt dated six months earlier under Art. 20(3)"},
		{StockpileDeclared, "MDA", "2010-02-16", &Quantities{Munitions: count(1385), Submunitions: count(27050)},
			"MON-CP Moldova 2011/2022 (1,385 cluster munitions, 27,050 submunitions); SEED Oslo Progress Report fn 27; day of the declaration not given: dated at its deposit (states.csv)"},
		{StockpileDestroyed, "MDA", "2010-07-29", &Quantities{Munitions: count(1385), Submunitions: count(27050)},
			"MON-CP Moldova 2011/2022 (obligations.csv: destruction of 1,385 cluster munitions and 27,050 submunitions completed two days before entry into force)"},
		{StockpileDestructionCompleted, "MDA", "2010-07-29", nil,
			"MON-CP Moldova 2011/2022 (obligations.csv); SEED Oslo Progress Report fn 27"},
		{RetentionDeclared, "SWE", "2012-09-14", &Quantities{},
			"SEED Oslo Progress Report para 26; fn 37; SEED appendix table IV; day not given: dated at the 3MSP's close (14 Sep 2012)"},
		{ContaminationDeclared, "LAO", "2010-08-01", &Contamination{},
			"SEED Oslo Progress Report para 31; fn 43; SEED appendix table V; Art. 4(1)(a) covers remnants present at entry into force: dated at its entry into force (states.csv)"},
		{ClearanceCompleted, "GRD", "2012-09-14", nil,
			"SEED Oslo Progress Report para 6; para 32; fn 47 (declared compliance with Art. 4 at the 3MSP, Oslo, 11-14 Sep 2012); dated at the 3MSP's close"},
		{VictimsDeclared, "LAO", "2011-09-16", nil,
			"SEED Oslo Progress Report para 39; fn 64; SEED appendix table VI; day not given: dated at the 2MSP's close (16 Sep 2011)"},
		{ReportSubmitted, "LAO", "2012-03-22", &Report{Kind: AnnualReport, Year: 2011},
			"MON-CP Lao PDR Sep 2012 (obligations.csv: annual update); SEED appendix table IX"},
		{LegislationStatus, "SWE", "2012-04-04", &Legislation{Status: LegislationAdopted},
			"MON-CP Sweden (Law 179 'Penalties for Illicit Dealing with Cluster Munitions', 4 April 2012); SEED appendix table X"},
		{ExtensionGranted, "CHL", "2021-09-21", &Extension{Article: 4, Until: MustDate("2022-06-01")},
			"rules.md Art. 4 ('Chile got one year, to 1 Jun 2022'); meetings.csv 2RC-2 (examined the Art. 4 extension request of Chile): dated at the meeting's close"},
		{AssistanceRequested, "LAO", "2012-09-14", &Assistance{Areas: []string{"clearance", "risk-reduction", "victim-assistance"}},
			"SEED appendix table VII; SEED Oslo Progress Report para 52; fn 99; fn 107; fn 108; day not given: dated at the 3MSP's close (14 Sep 2012)"},
		{AssistanceProvided, "SWE", "2012-09-14", &Assistance{Areas: []string{"stockpile-destruction"}},
			"SEED Oslo Progress Report para 58; fn 111 (assistance for stockpile destruction); day not given: dated at the 3MSP's close (14 Sep 2012)"},
		{MeetingHeld, "", "2012-09-14", &Meeting{Code: "3MSP", Name: "Third Meeting of States Parties", City: "Oslo", Start: MustDate("2012-09-11"), End: MustDate("2012-09-14")},
			"SEED para 8; meetings.csv 3MSP"},
		{Retracted, "BDI", "2009-12-25", &Retraction{Event: burundiTypo(tb).ID, Reason: "misprint in MON-STATUS-2016: Burundi deposited on 25 Sep 2009 (UNTC; TRB; MON-STATUS-2022)"},
			"states.csv BDI (UNTC; MON-STATUS-2022; TRB)"},
		{CoverageDeclared, "", "2008-05-30", &Coverage{Facts: AnnualReports, Through: MustDate("2012-09-14")},
			"SEED appendix table IX (annual reports for 2011 as of the close of the 3MSP, 14 Sep 2012)"},
	}
	out := make(map[Type]Envelope, len(facts))
	for _, f := range facts {
		e, err := New(uuid.Nil, f.typ, f.state, MustDate(f.date), f.data, f.source)
		require.NoError(tb, err, "golden event %s %s %s", f.typ, f.state, f.date)
		require.NotContains(tb, out, f.typ, "two golden events of type %s", f.typ)
		out[f.typ] = e
	}
	return out
}

func goldenPath(t Type) string { return filepath.Join(goldenDir, string(t)+".json") }

func TestGoldenCoversEveryType(t *testing.T) {
	evs := goldenEvents(t)
	for _, typ := range Types() {
		assert.Contains(t, evs, typ, "no golden event for %s", typ)
	}
	assert.Len(t, evs, len(Types()))

	// Every file in the golden directory is the file of a type: a stale
	// file of a renamed type would otherwise go unnoticed.
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		typ := Type(strings.TrimSuffix(filepath.Base(f), ".json"))
		assert.True(t, typ.Known(), "golden file %s is not named after an event type", f)
	}
}

// TestGolden guards the wire format: given one representative event of each
// type, when it is encoded, then the bytes are those of its golden file, and
// the golden file decodes back to the same event.
func TestGolden(t *testing.T) {
	for typ, e := range goldenEvents(t) {
		t.Run(string(typ), func(t *testing.T) {
			got, err := e.MarshalJSON()
			require.NoError(t, err)
			got = append(got, '\n')
			path := goldenPath(typ)
			if *update {
				require.NoError(t, os.MkdirAll(goldenDir, 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "golden file missing: run go test ./events -run Golden -update")
			assert.Equal(t, string(want), string(got), "encoding of %s changed (golden file %s)", typ, path)

			// The golden line decodes to the event.
			dec, err := Decode(bytes.TrimSpace(want))
			require.NoError(t, err, "decode %s", want)
			assert.Equal(t, e, dec, "Decode(golden %s)", path)

			// Without its id, the line derives the same id.
			noID := dropField(t, want, "id")
			dec, err = Decode(noID)
			require.NoError(t, err, "decode %s", noID)
			assert.Equal(t, e.ID, dec.ID, "id derived from %s", noID)
		})
	}
}

// TestGoldenRoundTrip checks that each representative event survives the
// wire encoding and the stored encoding unchanged.
func TestGoldenRoundTrip(t *testing.T) {
	recorded := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)
	for typ, e := range goldenEvents(t) {
		t.Run(string(typ), func(t *testing.T) {
			b, err := e.MarshalJSON()
			require.NoError(t, err)
			dec, err := Decode(b)
			require.NoError(t, err, "Decode(%s)", b)
			assert.Equal(t, e, dec, "Decode(MarshalJSON(e)) for %s", b)

			body := e.StoredJSON()
			stored, err := DecodeStored(body, 0, time.Time{})
			require.NoError(t, err, "DecodeStored(%s)", body)
			assert.Equal(t, e, stored, "DecodeStored(StoredJSON(e)) for %s", body)
			assert.JSONEq(t, string(b), string(body), "StoredJSON of an unstored event is its wire form")

			// Once stored, the log's sequence and record time travel along.
			stored, err = DecodeStored(body, 42, recorded)
			require.NoError(t, err)
			want := e
			want.Seq, want.Recorded = 42, recorded
			assert.Equal(t, want, stored)
			exported, err := stored.MarshalJSON()
			require.NoError(t, err)
			assert.Contains(t, string(exported), `"seq":42,"recorded":"2026-03-01T12:30:00.123456789Z"`)
			// An export imports into another ledger: seq and recorded are
			// accepted and left to the receiving log.
			imported, err := Decode(exported)
			require.NoError(t, err, "Decode(%s)", exported)
			assert.Equal(t, e, imported, "Decode of an export %s", exported)
		})
	}
}

// TestGoldenInvalid decodes each hand-written invalid line under
// testdata/golden/invalid and compares the error with its .err file, so
// that a change of the messages users read shows as a diff.
func TestGoldenInvalid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenInvalidDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no invalid cases in %s", goldenInvalidDir)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			line, err := os.ReadFile(f)
			require.NoError(t, err)
			_, err = Decode(bytes.TrimSpace(line))
			require.Error(t, err, "Decode(%s) must fail", line)
			assert.ErrorIs(t, err, ErrInvalid)
			got := err.Error() + "\n"
			errPath := strings.TrimSuffix(f, ".json") + ".err"
			if *update {
				require.NoError(t, os.WriteFile(errPath, []byte(got), 0o644))
			}
			want, err := os.ReadFile(errPath)
			require.NoError(t, err, "expected error missing: run go test ./events -run Golden -update")
			assert.Equal(t, string(want), got, "error for %s", line)
		})
	}
}

// dropField returns the JSON object line without one top-level field.
func dropField(tb testing.TB, line []byte, field string) []byte {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal(line, &m))
	delete(m, field)
	b, err := json.Marshal(m)
	require.NoError(tb, err)
	return b
}

func readGoldenLines(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, typ := range Types() {
		b, err := os.ReadFile(goldenPath(typ))
		if errors.Is(err, os.ErrNotExist) && *update {
			continue
		}
		require.NoError(tb, err)
		out = append(out, bytes.TrimSpace(b))
	}
	return out
}

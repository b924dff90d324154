package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// The postgres scenario needs a PostgreSQL server; these tests cover what
// it computes without one.

func TestCopyFieldEscapes(t *testing.T) {
	var b bytes.Buffer
	copyField(&b, "a\\b\tc\nd\re\"f")
	if got, want := b.String(), `a\\b\tc\nd\re"f`; got != want {
		t.Fatalf("copyField = %q, want %q", got, want)
	}
}

func TestCopyRowsOfSyntheticEvents(t *testing.T) {
	evs := synth.Generate(500, 42)
	var jsonl bytes.Buffer
	if err := events.WriteAll(&jsonl, evs); err != nil {
		t.Fatal(err)
	}
	rows, err := copyRows(jsonl.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(rows), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d rows of %d events", len(lines), len(evs))
	}
	for i, e := range evs {
		f := strings.Split(lines[i], "\t")
		if len(f) != 6 {
			t.Fatalf("row %d has %d fields: %q", i, len(f), lines[i])
		}
		payload := `\N`
		if d := e.Data(); d != nil {
			var b bytes.Buffer
			copyField(&b, string(d))
			payload = b.String()
		}
		var src bytes.Buffer
		copyField(&src, e.Source)
		want := []string{e.ID.String(), string(e.Type), e.Scope(), e.Date.String(), payload, src.String()}
		for j := range want {
			if f[j] != want[j] {
				t.Fatalf("row %d field %d = %q, want %q", i, j, f[j], want[j])
			}
		}
	}
}

func TestCopyRowsConventionScopeAndBadLine(t *testing.T) {
	rows, err := copyRows([]byte(`{"id":"x","type":"meeting_held","date":"2010-11-12","data":{"a":"b\\tc"},"source":"s"}` + "\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rows), "x\tmeeting_held\tconvention\t2010-11-12\t"+`{"a":"b\\\\tc"}`+"\ts\n"; got != want {
		t.Fatalf("rows = %q, want %q", got, want)
	}
	if _, err := copyRows([]byte("{not json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad line: err = %v", err)
	}
}

func TestNewestPostgres(t *testing.T) {
	have := map[string]bool{
		"/u/13/bin/postgres": true, "/u/13/bin/initdb": true,
		"/u/15/bin/postgres": true, "/u/15/bin/initdb": true,
		"/u/16/bin/postgres": true, // no initdb: not a usable server
		"/u/x/bin/postgres":  true, "/u/x/bin/initdb": true,
	}
	exists := func(p string) bool { return have[p] }
	dirs := []string{"/u/13/bin", "/u/16/bin", "/u/15/bin", "/u/x/bin"}
	if got := newestPostgres(dirs, exists); got != "/u/15/bin" {
		t.Fatalf("newestPostgres = %q, want /u/15/bin", got)
	}
	if got := newestPostgres(nil, exists); got != "" {
		t.Fatalf("newestPostgres of nothing = %q", got)
	}
	if !strings.Contains(errNoPostgres.Error(), "apt-get install postgresql") {
		t.Fatalf("the error does not name the package: %v", errNoPostgres)
	}
}

func TestStatParentAndSmaps(t *testing.T) {
	ppid, ok := statParent([]byte("4242 (postgres: ccm (x) idle) S 4200 4200 4200 0 -1"))
	if !ok || ppid != 4200 {
		t.Fatalf("statParent = %d, %v", ppid, ok)
	}
	if _, ok := statParent([]byte("garbage")); ok {
		t.Fatal("statParent read a parent from garbage")
	}
	pss, rss := smapsRollup([]byte("55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:   2048 kB\nPss:   1024 kB\nPss_Anon:  10 kB\n"))
	if pss != 1024*1024 || rss != 2048*1024 {
		t.Fatalf("smapsRollup = %d, %d", pss, rss)
	}
}

func TestStatusPairsDistinctDates(t *testing.T) {
	states := []string{"AUT", "NOR", "SWE"}
	ps := statusPairs(states, 600, 42)
	if len(ps) != 600 {
		t.Fatalf("%d pairs", len(ps))
	}
	seen := map[events.Date]bool{}
	for _, p := range ps {
		if seen[p.date] {
			t.Fatalf("date %s twice", p.date)
		}
		seen[p.date] = true
		if p.date < events.Adoption || p.date > synth.End {
			t.Fatalf("date %s out of range", p.date)
		}
		if p.state != "AUT" && p.state != "NOR" && p.state != "SWE" {
			t.Fatalf("state %q", p.state)
		}
	}
	again := statusPairs(states, 600, 42)
	for i := range ps {
		if ps[i] != again[i] {
			t.Fatal("the same seed drew other pairs")
		}
	}
}

func TestEventIndexCounts(t *testing.T) {
	evs := synth.Generate(2000, 42)
	ix := newEventIndex(evs)
	d := events.MustDate("2015-06-30")
	want, wantAll := 0, 0
	state := ix.states()[0]
	for _, e := range evs {
		if e.Date <= d {
			wantAll++
			if e.Scope() == state {
				want++
			}
		}
	}
	if got := ix.count(state, d); got != want {
		t.Fatalf("count(%s) = %d, want %d", state, got, want)
	}
	if got := ix.countAll(d); got != wantAll {
		t.Fatalf("countAll = %d, want %d", got, wantAll)
	}
	for _, s := range ix.states() {
		if s == events.ConventionScope {
			t.Fatal("the Convention's scope listed among the States")
		}
	}
}

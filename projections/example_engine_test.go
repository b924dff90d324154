package projections_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// exampleToday is the date the examples take for today.
var exampleToday = events.MustDate("2026-06-01")

// exampleEngine is what a Go program does to query a ledger: an embedded
// NATS server in a directory of its own, the log on it holding the
// bundled record, and an engine reading the log. stop ends it all.
func exampleEngine() (eng *projections.Engine, stop func()) {
	dir, err := os.MkdirTemp("", "ccm-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
	if err != nil {
		log.Fatal(err)
	}
	nc, err := srv.Connect("example", false)
	if err != nil {
		log.Fatal(err)
	}
	stop = func() { nc.Close(); srv.Stop(); os.RemoveAll(dir) }
	ctx := context.Background()
	l, err := jslog.Create(ctx, nc, jslog.Config{})
	if err != nil {
		log.Fatal(err)
	}
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	if err != nil {
		log.Fatal(err)
	}
	clock := func() time.Time { return exampleToday.Time() }
	if _, err := aggregates.NewLedger(l, clock).Import(ctx, evs, nil); err != nil {
		log.Fatal(err)
	}
	return projections.NewEngine(logsource.New(l), nil, projections.Options{}), stop
}

// resolve resolves an as-of point (a date or a meeting code, which
// stands for its last day) and a known-at point ("" for everything
// recorded) as the command line and the HTTP API do.
func resolve(eng *projections.Engine, asOf, knownAt string) projections.Bounds {
	b, err := eng.Resolve(context.Background(), asOf, knownAt, exampleToday)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// The Convention-wide tables as of a meeting: Resolve turns a meeting
// code into its last day.
func ExampleEngine_Report() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	b := resolve(eng, "3MSP", "")
	r, err := eng.Report(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("as of", r.AsOf, r.Meeting)
	fmt.Println("States Parties:", len(r.StatesParties))
	fmt.Println("not yet in force for:", strings.Join(r.NotInForce, " "))
	fmt.Println("signatories:", len(r.Signatories))
	// Output:
	// as of 2012-09-14 3MSP
	// States Parties: 75
	// not yet in force for: CHE CMR HUN SWE TGO
	// signatories: 36
}

// One State's status as of a date.
func ExampleEngine_Status() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	b := resolve(eng, "2012-09-14", "")
	st, err := eng.Status(ctx, "SWE", b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Name, st.TreatyStatus)
	fmt.Println("deposited", st.Deposited, "("+st.Instrument+")")
	fmt.Println("in force from", st.EntryIntoForce)
	fmt.Println("Article 3:", st.Article3.Status, "deadline", st.Article3.Deadline)
	// Output:
	// Sweden deposited
	// deposited 2012-04-23 (ratification)
	// in force from 2012-10-01
	// Article 3: pending deadline 2020-10-01
}

// The status of every State, flattened to rows: the table of `ccm
// states` and of GET /v1/states.
func ExampleEngine_Statuses() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	b := resolve(eng, "3MSP", "")
	sts, err := eng.Statuses(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	rows := projections.Rows(sts)
	fmt.Println(len(rows), "States")
	for _, r := range rows {
		if r.State == "NOR" || r.State == "LAO" {
			fmt.Println(r.State, r.TreatyStatus, r.EntryIntoForce, "Art. 3", r.Article3Status, "Art. 4", r.Article4Status, r.Article4Deadline)
		}
	}
	// Output:
	// 112 States
	// LAO party 2010-08-01 Art. 3 none Art. 4 pending 2020-08-01
	// NOR party 2010-08-01 Art. 3 completed Art. 4 pending 2020-08-01
}

// What changed between two meetings.
func ExampleEngine_Diff() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	from := resolve(eng, "2MSP", "")
	to := resolve(eng, "3MSP", "")
	d, err := eng.Diff(ctx, from, to)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range d.Tables {
		if t.List == "states_parties" || t.List == "signatories" {
			fmt.Printf("%s: %d -> %d (+%d, -%d)\n", t.List, t.Before, t.After, len(t.Added), len(t.Removed))
		}
	}
	// Output:
	// states_parties: 63 -> 75 (+12, -0)
	// signatories: 47 -> 36 (+0, -11)
}

// A State's timeline: its events and the dates the Convention's rules
// derive from them.
func ExampleEngine_History() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	b := resolve(eng, "3MSP", "")
	h, err := eng.History(ctx, "LAO", b)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range h.Entries[:4] {
		fmt.Println(e.Date, e.Kind, e.Type)
	}
	// Output:
	// 2008-12-03 event signed
	// 2009-03-18 event deposited
	// 2010-08-01 event contamination-declared
	// 2010-08-01 derived entry-into-force
}

// The same question as the ledger knew it at an earlier point of the log:
// known-at is a stream sequence (or a record time), so that an answer
// can be given again exactly as it was.
func ExampleEngine_Resolve_knownAt() {
	eng, stop := exampleEngine()
	defer stop()
	ctx := context.Background()
	for _, knownAt := range []string{"", "150"} {
		b, err := eng.Resolve(ctx, "2012-09-14", knownAt, exampleToday)
		if err != nil {
			log.Fatal(err)
		}
		r, err := eng.Report(ctx, b)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("known at %q: %d States Parties\n", knownAt, len(r.StatesParties))
	}
	// Output:
	// known at "": 75 States Parties
	// known at "150": 19 States Parties
}

// The Meetings of States Parties the log records, up to a date.
func ExampleEngine_Meetings() {
	eng, stop := exampleEngine()
	defer stop()
	ms, err := eng.Meetings(context.Background(), projections.Bounds{AsOf: events.MustDate("2012-12-31")})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasSuffix(m.Code, "MSP") {
			fmt.Println(m.Code, m.Start, m.End, m.City)
		}
	}
	// Output:
	// 1MSP 2010-11-09 2010-11-12 Vientiane
	// 2MSP 2011-09-12 2011-09-16 Beirut
	// 3MSP 2012-09-11 2012-09-14 Oslo
}

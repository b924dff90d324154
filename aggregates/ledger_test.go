package aggregates_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// today is the injected clock of the ledgers under test.
func today() time.Time { return time.Date(2026, time.June, 30, 12, 0, 0, 0, time.UTC) }

// openLog opens the log on a new connection to srv: each clerk of a test
// has its own.
func openLog(t testing.TB, srv *natstest.Server) *jslog.Log {
	t.Helper()
	l, err := jslog.Create(context.Background(), srv.Conn(t), jslog.Config{})
	require.NoError(t, err, "open the log")
	return l
}

// stored returns every event in the log, in stream order.
func stored(t *testing.T, l *jslog.Log) []events.Envelope {
	t.Helper()
	evs, _, err := l.ReadAll(context.Background(), jslog.ReadOptions{})
	require.NoError(t, err, "read the log")
	return evs
}

func msgs(t *testing.T, l *jslog.Log) uint64 {
	t.Helper()
	h, err := l.Head(context.Background())
	require.NoError(t, err, "head of the log")
	return h.Msgs
}

// readInput reads a JSON Lines file of testdata.
func readInput(t *testing.T, name string) []events.Envelope {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	evs, err := events.ReadAll(f)
	require.NoError(t, err, "read testdata/%s", name)
	return evs
}

// firstDeposits returns the signatures and deposits of the first n
// instruments of testdata/first40.jsonl, deposit lines first.
func firstDeposits(t *testing.T, n int) []events.Envelope {
	t.Helper()
	all := readInput(t, "first40.jsonl")
	require.Len(t, all, 80)
	return all[:2*n]
}

// assertEachOnce checks that the log holds every event of want exactly
// once, and nothing else besides extra.
func assertEachOnce(t *testing.T, l *jslog.Log, want []events.Envelope, extra int) {
	t.Helper()
	count := map[uuid.UUID]int{}
	for _, e := range stored(t, l) {
		count[e.ID]++
	}
	for _, e := range want {
		assert.Equal(t, 1, count[e.ID], "%s %s %s is stored exactly once", e.Type, e.Scope(), e.Date)
	}
	assert.Len(t, count, len(want)+extra, "distinct events in the log")
	for id, n := range count {
		assert.Equal(t, 1, n, "event %s stored %d times", id, n)
	}
}

// countingStore counts the appends and the conflicts a Ledger meets.
type countingStore struct {
	aggregates.Store
	// beforeFirst, when set, runs before the first append: another
	// writer records between this one's read of the log and its append.
	beforeFirst        func()
	mu                 sync.Mutex
	appends, conflicts int
}

func (s *countingStore) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	if f := s.beforeFirst; f != nil {
		s.beforeFirst = nil
		f()
	}
	seq, err := s.Store.Append(ctx, scope, expected, evs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends++
	if errors.Is(err, events.ErrConflict) {
		s.conflicts++
	}
	return seq, err
}

func (s *countingStore) counts() (appends, conflicts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appends, s.conflicts
}

func TestRecordStoresAndAnotherLedgerReadsIt(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)

	seq, err := l.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), seq)
	seq, err = l.Record(ctx, deposited(t, "SWE", "2012-04-23", events.Ratification))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), seq)
	assert.Equal(t, uint64(2), msgs(t, log))

	other := aggregates.NewLedger(openLog(t, srv), today)
	last, err := other.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), last, "Sync returns the last sequence read")
	swe := other.State("SWE")
	assert.Len(t, swe.Facts(events.Signed), 1)
	assert.Len(t, swe.Facts(events.Deposited), 1)
	assert.Equal(t, uint64(2), swe.Version)
}

func TestRecordAfterAConflictReadsTheLogAndDecidesAgain(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	clerk1 := aggregates.NewLedger(log, today)
	// Clerk 1 records Sweden's signature while clerk 2, which read Sweden
	// at version 0, decides: clerk 2's append conflicts, it reads the
	// signature, decides again and stores.
	store2 := &countingStore{Store: openLog(t, srv), beforeFirst: func() {
		_, err := clerk1.Record(ctx, signed(t, "SWE", "2008-12-03"))
		require.NoError(t, err)
	}}
	clerk2 := aggregates.NewLedger(store2, today)
	report := ev(t, events.ReportSubmitted, "SWE", "2013-03-28", &events.Report{Kind: events.InitialReport})
	seq, err := clerk2.Record(ctx, report)
	require.NoError(t, err, "the report is possible whatever the other clerk recorded")
	assert.Equal(t, uint64(2), seq)
	appends, conflicts := store2.counts()
	assert.Equal(t, 2, appends, "one stale append, one good")
	assert.Equal(t, 1, conflicts, "the stale append conflicted")
	assert.Len(t, clerk2.State("SWE").Facts(events.Signed), 1, "clerk 2 read the other clerk's signature")
	assertEachOnce(t, log, []events.Envelope{signed(t, "SWE", "2008-12-03"), report}, 0)
}

func TestRecordAfterAConflictRejectsWhatTheOtherClerkMadeImpossible(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	clerk1 := aggregates.NewLedger(log, today)
	_, err := clerk1.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	// Two clerks record Sweden's ratification with different dates at
	// the same time: clerk 1's lands between clerk 2's read and append.
	store2 := &countingStore{Store: openLog(t, srv), beforeFirst: func() {
		_, err := clerk1.Record(ctx, deposited(t, "SWE", "2012-04-23", events.Ratification))
		require.NoError(t, err)
	}}
	clerk2 := aggregates.NewLedger(store2, today)
	_, err = clerk2.Record(ctx, deposited(t, "SWE", "2012-04-24", events.Ratification))
	assertOutcome(t, aggregates.RuleSecondDeposit, err, "the second clerk's deposit")
	_, conflicts := store2.counts()
	assert.Equal(t, 1, conflicts, "the second clerk learnt of the first deposit from a conflict")
	assert.Equal(t, uint64(2), msgs(t, log), "the rejected deposit is not stored")
}

func TestRecordRejectsOnlyOnWhatTheLogHolds(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	clerk1 := aggregates.NewLedger(openLog(t, srv), today)
	clerk2 := aggregates.NewLedger(openLog(t, srv), today)
	_, err := clerk2.Sync(ctx)
	require.NoError(t, err)

	_, err = clerk1.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	// Clerk 2's copy of Sweden has no signature: on its own it would
	// reject the ratification. A rejection must rest on the log.
	_, err = clerk2.Record(ctx, deposited(t, "SWE", "2012-04-23", events.Ratification))
	assert.NoError(t, err, "the ratification follows the signature recorded by the other clerk")
}

func TestTwoClerksRecordOneDepositAtOnce(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	setup := aggregates.NewLedger(log, today)
	states := []string{"SWE", "NOR", "DEU", "FRA", "JPN"}
	for _, s := range states {
		_, err := setup.Record(ctx, signed(t, s, "2008-12-03"))
		require.NoError(t, err)
	}
	clerks := []*aggregates.Ledger{aggregates.NewLedger(openLog(t, srv), today), aggregates.NewLedger(openLog(t, srv), today)}
	for _, c := range clerks {
		_, err := c.Sync(ctx)
		require.NoError(t, err)
	}
	errs := make([][]error, len(clerks))
	var wg sync.WaitGroup
	for i, c := range clerks {
		errs[i] = make([]error, len(states))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, s := range states {
				// Clerk 0 says the 10th, clerk 1 the 11th.
				_, errs[i][j] = c.Record(ctx, deposited(t, s, fmt.Sprintf("2011-01-%02d", 10+i), events.Ratification))
			}
		}()
	}
	wg.Wait()
	for j, s := range states {
		var won, lost int
		for i := range clerks {
			if errs[i][j] == nil {
				won++
				continue
			}
			assertOutcome(t, aggregates.RuleSecondDeposit, errs[i][j], "clerk %d, %s", i, s)
			lost++
		}
		assert.Equal(t, 1, won, "%s: exactly one clerk's deposit is stored", s)
		assert.Equal(t, 1, lost, "%s: the other clerk's is rejected", s)
	}
	assert.Equal(t, uint64(2*len(states)), msgs(t, log), "one signature and one deposit per State")
}

func TestRecordDuplicate(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)
	e := signed(t, "SWE", "2008-12-03")
	first, err := l.Record(ctx, e)
	require.NoError(t, err)

	seq, err := l.Record(ctx, e)
	assertOutcome(t, duplicate, err, "the same event again")
	assert.Equal(t, first, seq, "a duplicate returns the sequence it is stored at")

	// A ledger that has not read the log learns of it from the log.
	fresh := aggregates.NewLedger(openLog(t, srv), today)
	seq, err = fresh.Record(ctx, e)
	assertOutcome(t, duplicate, err, "the same event from a ledger that had not read the log")
	assert.Equal(t, first, seq)
	assert.Equal(t, uint64(1), msgs(t, log), "stored once")
}

func TestRecordOneCommand(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)

	_, err := l.Record(ctx)
	assert.Error(t, err, "a command without events")
	_, err = l.Record(ctx, signed(t, "SWE", "2008-12-03"), signed(t, "NOR", "2008-12-03"))
	assert.Error(t, err, "a command about two States")
	// Decided in order, each seeing the one before; all or nothing.
	_, err = l.Record(ctx, signed(t, "SWE", "2008-12-03"), deposited(t, "SWE", "2012-04-23", events.Accession))
	assertOutcome(t, aggregates.RuleAccessionBySignatory, err, "signature and accession in one command")
	assert.Zero(t, msgs(t, log), "nothing of a rejected command is stored")

	seq, err := l.Record(ctx, signed(t, "SWE", "2008-12-03"), deposited(t, "SWE", "2012-04-23", events.Ratification))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), seq, "the sequence of the command's last event")
	evs := stored(t, log)
	require.Len(t, evs, 2)
	assert.Equal(t, events.Signed, evs[0].Type)
	assert.Equal(t, events.Deposited, evs[1].Type)
}

func TestRecordFutureDateWithInjectedClock(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	clock := func() time.Time { return time.Date(2012, time.April, 22, 23, 59, 0, 0, time.UTC) }
	l := aggregates.NewLedger(log, clock)
	_, err := l.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	_, err = l.Record(ctx, deposited(t, "SWE", "2012-04-23", events.Ratification))
	assertOutcome(t, aggregates.RuleFutureDate, err, "a deposit dated tomorrow")
}

func TestImportValidSetThenTheSameAgain(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)
	input := readInput(t, "first40.jsonl")
	require.Len(t, input, 80)

	var lastDone, lastTotal int
	res, err := l.Import(ctx, input, func(done, total int) { lastDone, lastTotal = done, total })
	require.NoError(t, err)
	assert.Equal(t, aggregates.ImportResult{Appended: 80, Skipped: 0, LastSeq: 80, Attempts: 1, Stored: []int{80}}, res)
	assert.Equal(t, 80, lastDone, "progress reaches the end")
	assert.Equal(t, 80, lastTotal)
	assert.Equal(t, uint64(80), msgs(t, log))
	assert.Equal(t, uint64(80), l.Seq())

	// The derived entry into force (rules.md §1) and Art. 17(2) dates of
	// the later instruments among the forty.
	conv := l.Convention()
	assert.Equal(t, "2010-08-01", conv.EntryIntoForce.String(), "the Convention's entry into force")
	assert.Equal(t, "2010-02-16", conv.ThirtiethDeposit.String(), "the thirtieth deposit")
	for state, want := range map[string]string{
		"IRL": "2010-08-01", "MDA": "2010-08-01", "BFA": "2010-08-01",
		"WSM": "2010-10-01", "GBR": "2010-11-01", "LSO": "2010-11-01",
		"MLI": "2010-12-01", "COM": "2011-01-01",
	} {
		deps := l.State(state).Facts(events.Deposited)
		require.Len(t, deps, 1, state)
		got := conv.EntryIntoForceFor(deps[0].Date)
		assert.Equal(t, want, got.String(), "%s: entry into force of a deposit on %s", state, deps[0].Date)
	}

	// Stored in valid-date order: each signature before its deposit,
	// though the input lists the deposit first.
	seqs := map[string]map[events.Type]uint64{}
	for _, e := range stored(t, log) {
		if seqs[e.State] == nil {
			seqs[e.State] = map[events.Type]uint64{}
		}
		seqs[e.State][e.Type] = e.Seq
	}
	for state, s := range seqs {
		assert.Less(t, s[events.Signed], s[events.Deposited], "%s: the signature is stored before the deposit", state)
	}

	res, err = l.Import(ctx, input, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Appended, "the same input again records nothing")
	assert.Equal(t, 80, res.Skipped, "every event is skipped")
	assert.Equal(t, uint64(80), msgs(t, log))

	fresh := aggregates.NewLedger(openLog(t, srv), today)
	res, err = fresh.Import(ctx, input, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Appended, "a ledger that had not read the log records nothing either")
	assert.Equal(t, 80, res.Skipped)
	assert.Equal(t, uint64(80), msgs(t, log))
}

func TestImportDecidesInValidDateOrder(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	input := []events.Envelope{
		deposited(t, "SWE", "2012-04-23", events.Ratification),
		// Ireland signed and ratified on one day (states.csv): the
		// deposit line comes first.
		deposited(t, "IRL", "2008-12-03", events.Ratification),
		ev(t, events.StockpileDestructionCompleted, "GBR", "2013-12-17", nil),
		signed(t, "IRL", "2008-12-03"),
		ev(t, events.StockpileDeclared, "GBR", "2013-12-17", &events.Quantities{}),
		signed(t, "SWE", "2008-12-03"),
	}
	res, err := l.Import(ctx, input, nil)
	require.NoError(t, err, "an input listing facts before those they depend on")
	assert.Equal(t, len(input), res.Appended)
	evs := stored(t, log)
	for i := 1; i < len(evs); i++ {
		assert.LessOrEqual(t, evs[i-1].Date, evs[i].Date, "stored in valid-date order: %s before %s", describe(evs[i-1:i]), describe(evs[i:i+1]))
	}
	// One State's facts of one day, in the order of its life under the
	// Convention.
	var got []string
	for _, e := range evs {
		got = append(got, e.Date.String()+" "+e.Scope()+" "+string(e.Type))
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i][:len("2008-12-03 IRL")] < got[j][:len("2008-12-03 IRL")] })
	assert.Equal(t, []string{
		"2008-12-03 IRL signed",
		"2008-12-03 IRL deposited",
		"2008-12-03 SWE signed",
		"2012-04-23 SWE deposited",
		"2013-12-17 GBR stockpile-declared",
		"2013-12-17 GBR stockpile-destruction-completed",
	}, got)
}

func TestImportListsEveryBadEventAndRecordsNothing(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	before := ev(t, events.ReportSubmitted, "ISL", "2016-01-01", &events.Report{Kind: events.InitialReport})
	_, err := l.Record(ctx, before)
	require.NoError(t, err)

	input := []events.Envelope{
		signed(t, "SWE", "2008-12-03"),
		deposited(t, "SWE", "2012-04-23", events.Accession), // 1
		signed(t, "NOR", "2008-12-03"),
		deposited(t, "NOR", "2008-12-03", events.Ratification),
		deposited(t, "NOR", "2009-01-01", events.Ratification),                // 4
		ev(t, events.StockpileDestructionCompleted, "GBR", "2013-12-17", nil), // 5
		deposited(t, "DEU", "2009-07-08", events.Ratification),                // 6
		meeting(t, "3MSP", "2012-09-11", "2012-09-14"),
		meeting(t, "3MSP", "2012-09-12", "2012-09-15"),                                                            // 8: dated after 7, so decided after it
		ev(t, events.ClearanceCompleted, "LAO", "2020-01-01", nil),                                                // 9
		ev(t, events.ReportSubmitted, "NOR", "2026-07-01", &events.Report{Kind: events.AnnualReport, Year: 2025}), // 10
		before, // already recorded: skipped, not a problem
	}
	res, err := l.Import(ctx, input, nil)
	var ie *aggregates.ImportError
	require.ErrorAs(t, err, &ie, "an import with bad events")
	assert.ErrorIs(t, err, events.ErrRejected, "the problems are rejections")
	want := map[int]string{
		1:  aggregates.RuleAccessionBySignatory,
		4:  aggregates.RuleSecondDeposit,
		5:  aggregates.RuleCompletionNoStockpile,
		6:  aggregates.RuleRatificationUnsigned,
		8:  aggregates.RuleMeetingCodeTaken,
		9:  aggregates.RuleClearanceNoContam,
		10: aggregates.RuleFutureDate,
	}
	got := map[int]string{}
	var indexes []int
	for _, p := range ie.Problems {
		var r *aggregates.Rejection
		require.ErrorAs(t, p.Err, &r, "problem %d: %v", p.Index, p.Err)
		got[p.Index] = r.Rule
		indexes = append(indexes, p.Index)
		assert.Equal(t, input[p.Index].ID, p.Event.ID, "problem %d names its event", p.Index)
	}
	assert.Equal(t, want, got, "every bad event, by input index")
	assert.True(t, sort.IntsAreSorted(indexes), "problems in input order: %v", indexes)
	assert.Contains(t, err.Error(), "event 2 (deposited SWE 2012-04-23)", "the message names the first bad event, counted from 1")
	assert.Contains(t, err.Error(), "(and 6 more)")
	assert.Zero(t, res.Appended)
	assert.Equal(t, uint64(1), msgs(t, log), "nothing of the import is stored")
}

// failingChain stores the first k events of the first chain and then
// reports a conflict, as when another writer got in between.
type failingChain struct {
	aggregates.Store
	k      int
	failed bool
}

func (s *failingChain) AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(int)) (int, uint64, error) {
	if s.failed || len(evs) <= s.k {
		return s.Store.AppendChain(ctx, after, evs, progress)
	}
	s.failed = true
	n, last, err := s.Store.AppendChain(ctx, after, evs[:s.k], progress)
	if err != nil {
		return n, last, err
	}
	return n, last, fmt.Errorf("chain broken after %d events: %w", n, events.ErrConflict)
}

func TestImportRecoversFromABrokenChain(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	store := &failingChain{Store: log, k: 7}
	l := aggregates.NewLedger(store, today)
	input := readInput(t, "first40.jsonl")

	var progress []int
	res, err := l.Import(ctx, input, func(done, total int) {
		progress = append(progress, done)
		assert.Equal(t, len(input), total, "progress total")
	})
	require.NoError(t, err)
	require.True(t, store.failed, "the chain was broken once")
	assert.Equal(t, len(input), res.Appended, "every event appended once")
	assert.Zero(t, res.Skipped, "the events of the broken chain are not counted as skipped")
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, uint64(len(input)), res.LastSeq)
	assert.True(t, sort.IntsAreSorted(progress), "progress only grows: %v", progress)
	assertEachOnce(t, log, input, 0)
}

// interleaving runs another writer's command just before the first chain.
type interleaving struct {
	aggregates.Store
	before func()
	done   bool
}

func (s *interleaving) AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(int)) (int, uint64, error) {
	if !s.done {
		s.done = true
		s.before()
	}
	return s.Store.AppendChain(ctx, after, evs, progress)
}

func TestImportRecoversFromAConcurrentRecord(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	input := readInput(t, "first40.jsonl")
	clerk := aggregates.NewLedger(openLog(t, srv), today)
	// The clerk records, while the import is deciding, one event of the
	// import (Ireland's signature) and one of its own.
	irlSigned := input[1]
	require.Equal(t, events.Signed, irlSigned.Type)
	msp1 := meeting(t, "1MSP", "2010-11-09", "2010-11-12")
	store := &interleaving{Store: log, before: func() {
		_, err := clerk.Record(ctx, irlSigned)
		assert.NoError(t, err, "the clerk's signature")
		_, err = clerk.Record(ctx, msp1)
		assert.NoError(t, err, "the clerk's meeting")
	}}
	l := aggregates.NewLedger(store, today)

	res, err := l.Import(ctx, input, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Attempts, "the first chain conflicted")
	assert.Equal(t, len(input)-1, res.Appended, "all but the clerk's signature")
	assert.Equal(t, 1, res.Skipped, "the clerk's signature is skipped")
	assert.Equal(t, len(input), res.Appended+res.Skipped, "every event of the input is counted once")
	assertEachOnce(t, log, append(input, msp1), 0)
	assert.Len(t, l.State(events.ConventionScope).Facts(events.MeetingHeld), 1, "the import read the clerk's meeting")
}

// lateSignature is a signature dated after the Convention's entry into
// force on 1 Aug 2010, by a State that did not sign (illustrative).
func lateSignature(t *testing.T, date string) events.Envelope {
	return signed(t, "POL", date)
}

func TestSignatureAfterEntryIntoForceRejectedOnceThirtyDepositsAreKnown(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		deposits int
		then     string
	}{
		{"29 deposits: the Convention's date is unknown", 29, ""},
		{"30 deposits: closed since 1 Aug 2010", 30, aggregates.RuleSignatureClosed},
		{"40 deposits", 40, aggregates.RuleSignatureClosed},
	} {
		t.Run(tc.name+", recorded", func(t *testing.T) {
			l := aggregates.NewLedger(openLog(t, natstest.RunServer(t)), today)
			_, err := l.Import(ctx, firstDeposits(t, tc.deposits), nil)
			require.NoError(t, err)
			_, err = l.Record(ctx, lateSignature(t, "2010-08-01"))
			assertOutcome(t, tc.then, err, "a signature on 1 Aug 2010 after %d deposits", tc.deposits)
		})
		t.Run(tc.name+", in one import", func(t *testing.T) {
			log := openLog(t, natstest.RunServer(t))
			l := aggregates.NewLedger(log, today)
			// The signature comes first in the input; it is decided after
			// the deposits dated before it.
			input := append([]events.Envelope{lateSignature(t, "2010-08-01")}, firstDeposits(t, tc.deposits)...)
			_, err := l.Import(ctx, input, nil)
			if tc.then == "" {
				require.NoError(t, err)
				return
			}
			var ie *aggregates.ImportError
			require.ErrorAs(t, err, &ie)
			require.Len(t, ie.Problems, 1, "only the signature: %v", err)
			assert.Equal(t, 0, ie.Problems[0].Index)
			assertOutcome(t, tc.then, ie.Problems[0].Err, "the signature in the import")
			assert.Zero(t, msgs(t, log))
		})
	}
}

func TestRetractedDepositNoLongerCountsForEntryIntoForce(t *testing.T) {
	ctx := context.Background()
	base := firstDeposits(t, 30)
	mda := base[len(base)-2] // Moldova's deposit, the 30th
	require.Equal(t, "MDA", mda.State)
	require.Equal(t, events.Deposited, mda.Type)
	gone := retraction(t, mda, "2010-09-01", "test: the deposit is taken back")

	t.Run("recorded", func(t *testing.T) {
		l := aggregates.NewLedger(openLog(t, natstest.RunServer(t)), today)
		_, err := l.Import(ctx, base, nil)
		require.NoError(t, err)
		_, err = l.Record(ctx, gone)
		require.NoError(t, err)
		assert.Zero(t, l.Convention().EntryIntoForce, "29 deposits left")
		_, err = l.Record(ctx, lateSignature(t, "2010-09-02"))
		assert.NoError(t, err, "signature possible again")
	})
	t.Run("imported", func(t *testing.T) {
		l := aggregates.NewLedger(openLog(t, natstest.RunServer(t)), today)
		_, err := l.Import(ctx, base, nil)
		require.NoError(t, err)
		_, err = l.Import(ctx, []events.Envelope{gone, lateSignature(t, "2010-09-02")}, nil)
		assert.NoError(t, err, "the import decides the signature after the retraction dated before it")
	})
}

func TestApplyFromAFollower(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	writer := aggregates.NewLedger(log, today)
	_, err := writer.Import(ctx, firstDeposits(t, 30), nil)
	require.NoError(t, err)

	follower := aggregates.NewLedger(openLog(t, srv), today)
	for _, e := range stored(t, log) {
		follower.Apply(e)
	}
	assert.Equal(t, uint64(60), follower.Seq())
	assert.Equal(t, writer.Convention(), follower.Convention(), "the same Convention from applied events")
	// Nothing left to read.
	last, err := follower.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(60), last)
}

// A Ledger reading the log again meets the events it recorded itself:
// they were counted when recorded and must be neither counted again nor
// quarantined as duplicates of themselves, also when another writer stored
// messages in between.
func TestOwnRecordsAreNotReadTwice(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)
	other := aggregates.NewLedger(openLog(t, srv), today)

	_, err := l.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	_, err = other.Record(ctx, signed(t, "NOR", "2008-12-03"))
	require.NoError(t, err)
	_, err = l.Record(ctx, deposited(t, "SWE", "2012-04-23", events.Ratification))
	require.NoError(t, err)
	_, err = l.Record(ctx, signed(t, "DNK", "2008-12-03"))
	require.NoError(t, err)

	last, err := l.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), last)
	assert.Empty(t, l.Quarantined(), "the ledger's own events are not duplicates")
	assert.Len(t, l.State("SWE").Facts(events.Signed), 1)
	assert.Len(t, l.State("NOR").Facts(events.Signed), 1, "the other writer's event is read")
	assert.Equal(t, uint64(3), l.State("SWE").Version)

	_, err = l.Record(ctx, signed(t, "FIN", "2008-12-03"))
	require.NoError(t, err)
	_, err = l.Sync(ctx)
	require.NoError(t, err)
	assert.Empty(t, l.Quarantined())
}

func TestCheckDecidesWithoutRecording(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	input := readInput(t, "first40.jsonl")
	_, err := l.Record(ctx, input[1]) // Ireland's signature
	require.NoError(t, err)

	res, err := l.Check(ctx, input)
	require.NoError(t, err)
	assert.Equal(t, len(input)-1, res.Appended, "events an import would record")
	assert.Equal(t, 1, res.Skipped, "events already recorded")
	assert.Equal(t, uint64(1), msgs(t, log), "Check records nothing")

	_, err = l.Check(ctx, append(input, deposited(t, "SWE", "2012-04-23", events.Accession), signed(t, "SWE", "2008-12-03")))
	var ie *aggregates.ImportError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 1)
	assert.Equal(t, len(input), ie.Problems[0].Index)
	assertOutcome(t, aggregates.RuleAccessionBySignatory, ie.Problems[0].Err, "Sweden's accession")
	assert.Equal(t, uint64(1), msgs(t, log), "Check records nothing")
}

// TestBundledRecordIsPossible imports the record the ledger ships with
// (events/record): every fact in it must be possible under the
// Convention's rules, and its deposits must give the Convention's entry
// into force on 1 Aug 2010 (rules.md §1).
func TestBundledRecordIsPossible(t *testing.T) {
	ctx := context.Background()
	input, err := events.ReadAll(bytes.NewReader(record.JSONL()))
	require.NoError(t, err, "read the bundled record")
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	res, err := l.Import(ctx, input, nil)
	require.NoError(t, err, "import the bundled record")
	assert.Equal(t, len(input), res.Appended)
	assert.Equal(t, uint64(len(input)), msgs(t, log))
	conv := l.Convention()
	assert.Equal(t, "2010-08-01", conv.EntryIntoForce.String())
	assert.Equal(t, "2010-02-16", conv.ThirtiethDeposit.String())
}

// TestImportLeavesTheLedgerAsAReadOfTheLog checks that the aggregates an
// import ends with (its decision copies, stamped with the stored
// sequences) are those a fresh ledger reads from the log.
func TestImportLeavesTheLedgerAsAReadOfTheLog(t *testing.T) {
	ctx := context.Background()
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	_, err := l.Record(ctx, signed(t, "SWE", "2008-12-03"))
	require.NoError(t, err)
	input := readInput(t, "first40.jsonl")
	_, err = l.Import(ctx, input, nil)
	require.NoError(t, err)

	fresh := aggregates.NewLedger(log, today)
	_, err = fresh.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, fresh.Seq(), l.Seq())
	assert.Equal(t, fresh.Convention(), l.Convention())
	for _, e := range input {
		got, want := l.State(e.Scope()), fresh.State(e.Scope())
		require.Equal(t, want.Version, got.Version, "version of %s", e.Scope())
		for _, typ := range events.Types() {
			require.Equal(t, want.Facts(typ), got.Facts(typ), "%s facts of %s", typ, e.Scope())
		}
	}
}

// An append that no retry can fix (a message over the stream's limit, which
// validation would have refused) ends the import at once: one attempt,
// nothing stored.
func TestImportDoesNotRetryWhatCannotSucceed(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	log := openLog(t, srv)
	l := aggregates.NewLedger(log, today)
	big := signed(t, "SWE", "2008-12-03")
	big.Source = strings.Repeat("s", events.MaxLineBytes+1) // past what validation allows
	start := time.Now()
	res, err := l.Import(ctx, []events.Envelope{signed(t, "NOR", "2008-12-03"), big}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "message size exceeds maximum")
	assert.Equal(t, 1, res.Attempts, "not retried")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.LessOrEqual(t, msgs(t, log), uint64(1), "at most the prefix before it")
}

// assertSameAggregate checks that got holds what want holds: the same
// version, the same live facts of every type in the same order, the same
// retracted facts, and the same ids known among ids.
func assertSameAggregate(t *testing.T, want, got *aggregates.State, ids []uuid.UUID) {
	t.Helper()
	require.Equal(t, want.Version, got.Version, "version of %s", want.ISO3)
	require.Equal(t, want.Len(), got.Len(), "live facts of %s", want.ISO3)
	for _, typ := range events.Types() {
		w, g := want.Facts(typ), got.Facts(typ)
		require.Equal(t, len(w), len(g), "%s facts of %s", typ, want.ISO3)
		for i := range w {
			require.Equal(t, w[i], g[i], "%s fact %d of %s", typ, i, want.ISO3)
		}
	}
	require.Equal(t, len(want.Retracted), len(got.Retracted), "retracted facts of %s", want.ISO3)
	for id, f := range want.Retracted {
		require.Equal(t, f, got.Retracted[id], "retracted fact %s of %s", id, want.ISO3)
	}
	for _, id := range ids {
		require.Equal(t, want.Knows(id), got.Knows(id), "%s knows %s", want.ISO3, id)
	}
}

// aggregatesOf returns a copy of the aggregate of every scope of evs.
func aggregatesOf(l *aggregates.Ledger, evs ...[]events.Envelope) map[string]*aggregates.State {
	out := map[string]*aggregates.State{}
	for _, part := range evs {
		for _, e := range part {
			if _, ok := out[e.Scope()]; !ok {
				out[e.Scope()] = l.State(e.Scope())
			}
		}
	}
	return out
}

func idsOf(evs ...[]events.Envelope) []uuid.UUID {
	var ids []uuid.UUID
	for _, part := range evs {
		for _, e := range part {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// secondDeposit returns a deposit the rules refuse after evs: a second one
// by a State that deposited in evs.
func secondDeposit(t *testing.T, evs []events.Envelope) events.Envelope {
	t.Helper()
	for _, e := range evs {
		if e.Type == events.Deposited {
			return deposited(t, e.State, e.Date.AddDate(0, 0, 1).String(), e.Payload.(*events.Deposit).Instrument)
		}
	}
	t.Fatal("no deposit")
	return events.Envelope{}
}

// An import decides on the ledger's own aggregates and takes its facts back
// when it is refused, or when it only checks: the aggregates are then as
// they were, retractions of stored facts and of the import's own included.
func TestRefusedImportLeavesTheAggregatesAsTheyWere(t *testing.T) {
	ctx := context.Background()
	all := synth.Generate(6000, 7)
	stored, rest := all[:3000], all[3000:]
	var retractions int
	for _, e := range rest {
		if e.Type == events.Retracted {
			retractions++
		}
	}
	require.NotZero(t, retractions, "the input retracts facts")
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	_, err := l.Import(ctx, stored, nil)
	require.NoError(t, err)
	before := aggregatesOf(l, all)
	conv := l.Convention()
	ids := idsOf(all)

	bad := secondDeposit(t, rest)
	_, err = l.Import(ctx, append(slices.Clone(rest), bad), nil)
	var ie *aggregates.ImportError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 1, "%v", err)
	assert.Equal(t, len(rest), ie.Problems[0].Index)
	for scope, s := range aggregatesOf(l, all) {
		assertSameAggregate(t, before[scope], s, ids)
	}
	assert.Equal(t, conv, l.Convention())
	assert.Equal(t, uint64(len(stored)), msgs(t, log), "nothing of the refused import is stored")

	res, err := l.Check(ctx, rest)
	require.NoError(t, err)
	assert.Equal(t, len(rest), res.Appended)
	for scope, s := range aggregatesOf(l, all) {
		assertSameAggregate(t, before[scope], s, ids)
	}

	_, err = l.Import(ctx, rest, nil)
	require.NoError(t, err)
	fresh := aggregates.NewLedger(log, today)
	_, err = fresh.Sync(ctx)
	require.NoError(t, err)
	want := aggregatesOf(fresh, all)
	for scope, s := range aggregatesOf(l, all) {
		assertSameAggregate(t, want[scope], s, ids)
	}
	assert.Equal(t, fresh.Convention(), l.Convention())
}

// brokenStore stores the events of its chains up to the at-th, then fails:
// with a conflict, or, when extra is set, with an error after storing extra
// events more than it acknowledges (an answer lost).
type brokenStore struct {
	aggregates.Store
	at, extra int
	stored    int
	broken    bool
	calls     int
}

func (s *brokenStore) AppendChain(ctx context.Context, after uint64, evs []events.Envelope, progress func(int)) (int, uint64, error) {
	s.calls++
	if s.broken || s.stored+len(evs) <= s.at {
		n, last, err := s.Store.AppendChain(ctx, after, evs, progress)
		s.stored += n
		return n, last, err
	}
	s.broken = true
	k := s.at - s.stored
	n, last, err := s.Store.AppendChain(ctx, after, evs[:k+s.extra], progress)
	if err != nil {
		return n, last, err
	}
	if s.extra > 0 {
		return k, last - uint64(s.extra), errors.New("no answer")
	}
	return n, last, fmt.Errorf("chain broken after %d events: %w", n, events.ErrConflict)
}

// An import longer than a link of its chain breaks in a later link: what
// the earlier links stored is the import's, the rest is decided again, and
// the ledger ends as a read of the log.
func TestImportRecoversFromALaterLinkBroken(t *testing.T) {
	ctx := context.Background()
	input := synth.Generate(17_000, 3)
	for _, tc := range []struct {
		name      string
		at, extra int
	}{
		{"conflict", 12_345, 0},
		{"unanswered, two more stored", 9_000, 2},
		{"unanswered, a thousand more stored", 9_000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := openLog(t, natstest.RunServer(t))
			store := &brokenStore{Store: log, at: tc.at, extra: tc.extra}
			l := aggregates.NewLedger(store, today)
			res, err := l.Import(ctx, input, nil)
			require.NoError(t, err)
			require.True(t, store.broken)
			assert.GreaterOrEqual(t, store.calls, 3, "appended in several links")
			assert.Equal(t, 2, res.Attempts)
			assert.Equal(t, []int{tc.at + tc.extra, len(input) - tc.at - tc.extra}, res.Stored,
				"what each attempt stored, acknowledged or not")
			assert.Equal(t, len(input), res.Appended, "every event appended once")
			assert.Zero(t, res.Skipped, "the log was empty when the import began: nothing was there before")
			assert.Equal(t, uint64(len(input)), res.LastSeq)
			assertEachOnce(t, log, input, 0)

			fresh := aggregates.NewLedger(log, today)
			_, err = fresh.Sync(ctx)
			require.NoError(t, err)
			assert.Equal(t, fresh.Seq(), l.Seq())
			want, ids := aggregatesOf(fresh, input), idsOf(input)
			for scope, s := range aggregatesOf(l, input) {
				assertSameAggregate(t, want[scope], s, ids)
			}
			assert.Equal(t, fresh.Convention(), l.Convention())
		})
	}
}

// An import's decisions follow DecisionOrder whatever the order of its
// input, and read it a batch at a time.
func TestImportFromReadsItsSourceInBatches(t *testing.T) {
	ctx := context.Background()
	input := synth.Generate(10_000, 5)
	rand.New(rand.NewSource(5)).Shuffle(len(input), func(i, j int) { input[i], input[j] = input[j], input[i] })
	src := &countingSource{evs: input}
	log := openLog(t, natstest.RunServer(t))
	l := aggregates.NewLedger(log, today)
	res, err := l.ImportFrom(ctx, src, nil)
	require.NoError(t, err)
	assert.Equal(t, len(input), res.Appended)
	assert.Equal(t, 1, src.reads, "decided once")
	assert.Greater(t, src.batches, 1)
	assert.Less(t, src.largest, len(input))
	var want []uuid.UUID
	for _, i := range aggregates.DecisionOrder(input) {
		want = append(want, input[i].ID)
	}
	var got []uuid.UUID
	for _, e := range stored(t, log) {
		got = append(got, e.ID)
	}
	assert.Equal(t, want, got, "stored in decision order")
}

// countingSource is an ImportSource over events in memory that counts how
// it is read.
type countingSource struct {
	evs                     []events.Envelope
	reads, batches, largest int
}

func (s *countingSource) Len() int                             { return len(s.evs) }
func (s *countingSource) Key(i int) (events.Date, events.Type) { return s.evs[i].Date, s.evs[i].Type }
func (s *countingSource) Events(order []int32, fn func(int, []events.Envelope) error) error {
	s.reads++
	const batch = 3000
	for at := 0; at < len(order); at += batch {
		var evs []events.Envelope
		for _, i := range order[at:min(at+batch, len(order))] {
			evs = append(evs, s.evs[i])
		}
		s.batches++
		s.largest = max(s.largest, len(evs))
		if err := fn(at, evs); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkCheckIntoABigLedger decides a small input (the next 100 events
// of a synthetic history) against a ledger that holds 200,000: what an
// import costs besides its appends, when it touches many States of a big
// ledger.
//
//	go test ./aggregates -run '^$' -bench CheckIntoABigLedger -benchtime 20x
func BenchmarkCheckIntoABigLedger(b *testing.B) {
	ctx := context.Background()
	all := synth.Generate(200_100, 42)
	l := aggregates.NewLedger(openLog(b, natstest.RunServer(b)), today)
	if _, err := l.Import(ctx, all[:200_000], nil); err != nil {
		b.Fatal(err)
	}
	small := all[200_000:]
	b.ResetTimer()
	for b.Loop() {
		res, err := l.Check(ctx, small)
		if err != nil || res.Appended != len(small) {
			b.Fatalf("check: %+v, %v", res, err)
		}
	}
}

package aggregates_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// asStored gives events the stream sequences and record times a log would,
// one second apart from recordedFrom.
func asStored(recordedFrom time.Time, evs ...events.Envelope) []events.Envelope {
	out := make([]events.Envelope, len(evs))
	for i, e := range evs {
		e.Seq = uint64(i + 1)
		e.Recorded = recordedFrom.Add(time.Duration(i) * time.Second)
		out[i] = e
	}
	return out
}

// Given a log as it was stored, when it is read through a gate, then the
// events the rules reject where they stand are kept out, with their rule,
// and the rest count.
func TestGateKeepsOutWhatTheRulesReject(t *testing.T) {
	at := time.Date(2013, 1, 10, 12, 0, 0, 0, time.UTC)
	sig := signed(t, "NOR", "2008-12-03")
	dep := deposited(t, "NOR", "2008-12-03", events.Ratification)
	for _, tc := range []struct {
		name     string
		log      []events.Envelope
		wantRule map[uint64]string // sequence -> rule of the events kept out
	}{
		{name: "a history the rules accept", log: []events.Envelope{sig, dep, withdrawal(t, "NOR", "2012-01-01")}},
		{name: "a second deposit", log: []events.Envelope{sig, dep, deposited(t, "NOR", "2011-01-01", events.Ratification)},
			wantRule: map[uint64]string{3: aggregates.RuleSecondDeposit}},
		{name: "a deposit stored before its signature", log: []events.Envelope{dep, sig},
			wantRule: map[uint64]string{1: aggregates.RuleRatificationUnsigned}},
		{name: "an event dated after the day it was recorded", log: []events.Envelope{sig, ev(t, events.LegislationStatus, "NOR", "2013-01-12", &events.Legislation{Status: "adopted"})},
			wantRule: map[uint64]string{2: aggregates.RuleFutureDate}},
		{name: "an event dated the day after it was recorded (clocks apart)", log: []events.Envelope{sig, ev(t, events.LegislationStatus, "NOR", "2013-01-11", &events.Legislation{Status: "adopted"})}},
		{name: "the same id twice", log: []events.Envelope{sig, dep, dep},
			wantRule: map[uint64]string{3: events.QuarantineDuplicateID}},
		{name: "a withdrawal of a State that never deposited", log: []events.Envelope{sig, withdrawal(t, "NOR", "2012-01-01")},
			wantRule: map[uint64]string{2: aggregates.RuleWithdrawalNotParty}},
		{name: "a retraction of an event kept out", log: []events.Envelope{dep, retraction(t, dep, "2012-01-01", "wrong")},
			wantRule: map[uint64]string{1: aggregates.RuleRatificationUnsigned, 2: aggregates.RuleRetractionUnknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[uint64]string{}
			gate := aggregates.NewGate(func(q events.Quarantined) {
				assert.NotEmpty(t, q.Reason, "a reason for %d", q.Seq)
				assert.Equal(t, "NOR", q.Scope)
				got[q.Seq] = q.Rule
			})
			admitted := 0
			for _, e := range asStored(at, tc.log...) {
				if gate.Admit(e) {
					admitted++
				}
			}
			if tc.wantRule == nil {
				tc.wantRule = map[uint64]string{}
			}
			assert.Equal(t, tc.wantRule, got, "events kept out, by sequence")
			assert.Equal(t, len(tc.log)-len(tc.wantRule), admitted, "events admitted")
			assert.Equal(t, admitted, countFacts(gate.State("NOR")), "facts of the admitted events")
		})
	}
}

// countFacts counts the events applied to s: its live facts, its retracted
// facts, and the retractions that took them back (one each).
func countFacts(s *aggregates.State) int { return s.Len() + 2*len(s.Retracted) }

// The verdict on an event rests on its own scope only: a gate reading one
// State's events and a gate reading the whole log agree.
func TestGateVerdictIsTheSameInAScopedRead(t *testing.T) {
	at := time.Date(2013, 1, 10, 12, 0, 0, 0, time.UTC)
	log := asStored(at,
		signed(t, "NOR", "2008-12-03"), deposited(t, "SWE", "2012-04-23", events.Ratification),
		signed(t, "SWE", "2008-12-03"), deposited(t, "NOR", "2008-12-03", events.Ratification),
		deposited(t, "SWE", "2012-05-01", events.Ratification), withdrawal(t, "NOR", "2012-01-01"))
	verdicts := func(scope string) map[uint64]string {
		out := map[uint64]string{}
		gate := aggregates.NewGate(func(q events.Quarantined) { out[q.Seq] = q.Rule })
		for _, e := range log {
			if scope == "" || e.Scope() == scope {
				gate.Admit(e)
			}
		}
		return out
	}
	all := verdicts("")
	require.NotEmpty(t, all, "the log holds events the rules reject")
	merged := map[uint64]string{}
	for _, sc := range []string{"NOR", "SWE"} {
		for seq, rule := range verdicts(sc) {
			merged[seq] = rule
		}
	}
	assert.Equal(t, all, merged)
}

// A gate seeded with the admitted facts of a scope goes on as if it had
// read them.
func TestGateSeededGoesOn(t *testing.T) {
	at := time.Date(2013, 1, 10, 12, 0, 0, 0, time.UTC)
	log := asStored(at, signed(t, "NOR", "2008-12-03"), deposited(t, "NOR", "2008-12-03", events.Ratification),
		deposited(t, "NOR", "2011-01-01", events.Ratification))
	first := aggregates.NewGate(nil)
	for _, e := range log[:2] {
		require.True(t, first.Admit(e))
	}
	var kept []string
	second := aggregates.NewGate(func(q events.Quarantined) { kept = append(kept, q.Rule) })
	second.Seed(first.State("NOR").Clone())
	assert.False(t, second.Admit(log[2]))
	assert.Equal(t, []string{aggregates.RuleSecondDeposit}, kept)
}

// A coverage that claims the record complete beyond the day it was stored
// (a raw message, or an old writer) is kept out of every fold: no status
// becomes known on the strength of it.
func TestGateKeepsOutACoverageBeyondItsRecordDay(t *testing.T) {
	at := time.Date(2013, 1, 10, 12, 0, 0, 0, time.UTC)
	ok := ev(t, events.CoverageDeclared, "", "2008-05-30", &events.Coverage{Facts: events.TreatyFacts, Through: events.MustDate("2013-01-10")})
	beyond := ev(t, events.CoverageDeclared, "", "2008-05-30", &events.Coverage{Facts: events.AnnualReports, Through: events.MustDate("2030-01-01")})
	var rules []string
	gate := aggregates.NewGate(func(q events.Quarantined) { rules = append(rules, q.Rule) })
	stored := asStored(at, ok, beyond)
	assert.True(t, gate.Admit(stored[0]), "complete through the day it was stored")
	assert.False(t, gate.Admit(stored[1]))
	assert.Equal(t, []string{aggregates.RuleCoverageBeyondToday}, rules)
	assert.Len(t, gate.State(events.ConventionScope).Facts(events.CoverageDeclared), 1)
}

package aggregates_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// lifetime is an illustrative history of one State with every kind of
// fact, several of them on one day, each stored at the next sequence.
func lifetime(t *testing.T) []events.Envelope {
	evs := []events.Envelope{
		signed(t, "GBR", "2008-12-03"),
		ev(t, events.LegislationStatus, "GBR", "2010-03-25", &events.Legislation{Status: events.LegislationAdopted}),
		deposited(t, "GBR", "2010-05-04", events.Ratification),
		ev(t, events.StockpileDeclared, "GBR", "2010-05-04", &events.Quantities{Munitions: ptr(190000)}),
		ev(t, events.RetentionDeclared, "GBR", "2010-05-04", &events.Quantities{Munitions: ptr(1000)}),
		ev(t, events.ReportSubmitted, "GBR", "2011-04-29", &events.Report{Kind: events.InitialReport}),
		ev(t, events.StockpileDestroyed, "GBR", "2011-12-31", &events.Quantities{Munitions: ptr(90000), Submunitions: ptr(1)}),
		// Two reports on one day: same type and date, kept in stream order.
		ev(t, events.ReportSubmitted, "GBR", "2012-04-30", &events.Report{Kind: events.AnnualReport, Year: 2011}),
		ev(t, events.ReportSubmitted, "GBR", "2012-04-30", &events.Report{Kind: events.AnnualReport, Year: 2010}),
		ev(t, events.StockpileDestroyed, "GBR", "2012-12-31", &events.Quantities{Munitions: ptr(100000), Submunitions: ptr(2)}),
		ev(t, events.StockpileDestructionCompleted, "GBR", "2013-12-17", nil),
		ev(t, events.AssistanceProvided, "GBR", "2014-01-01", &events.Assistance{Areas: []string{"clearance"}}),
		withdrawal(t, "GBR", "2024-08-31"),
		deposited(t, "GBR", "2025-06-02", events.Ratification),
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	return evs
}

// snapshot is what a State holds, in a comparable form.
type snapshot struct {
	Version     uint64
	Len         int
	Facts       map[events.Type][]factKey
	Retracted   map[uuid.UUID]factKey
	Memberships []memberKey
}

type factKey struct {
	ID   uuid.UUID
	Date string
	Seq  uint64
}

type memberKey struct {
	Deposit, Notified, Effective string
}

func snap(s *aggregates.State) snapshot {
	out := snapshot{Version: s.Version, Len: s.Len(), Facts: map[events.Type][]factKey{}, Retracted: map[uuid.UUID]factKey{}}
	for _, typ := range events.Types() {
		for _, f := range s.Facts(typ) {
			out.Facts[typ] = append(out.Facts[typ], factKey{f.ID, f.Date.String(), f.Seq})
		}
	}
	for id, f := range s.Retracted {
		out.Retracted[id] = factKey{f.ID, f.Date.String(), f.Seq}
	}
	for _, m := range s.Memberships() {
		out.Memberships = append(out.Memberships, memberKey{m.Deposit.Date.String(), m.Notified.String(), m.Effective.String()})
	}
	return out
}

func TestApplyIsIdempotentAndOrderInsensitive(t *testing.T) {
	evs := lifetime(t)
	want := snap(history("GBR", evs...))
	require.Equal(t, len(evs), want.Len, "every fact is live")
	require.Equal(t, uint64(len(evs)), want.Version, "the version is the last sequence")
	// Valid-date order within a type, then stream order on one day.
	reports := want.Facts[events.ReportSubmitted]
	require.Len(t, reports, 3)
	assert.Equal(t, []uint64{6, 8, 9}, []uint64{reports[0].Seq, reports[1].Seq, reports[2].Seq}, "reports in date, then stream order")

	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		s := aggregates.NewState("GBR")
		// Every event twice, each pass in its own order.
		for pass := 0; pass < 2; pass++ {
			order := rng.Perm(len(evs))
			for _, i := range order {
				s.Apply(evs[i])
			}
		}
		assert.Equal(t, want, snap(s), "seed %d: applying the history shuffled, twice, gives the same facts", seed)
	}
}

func TestApplyIgnoresAnEventAlreadyApplied(t *testing.T) {
	e := signed(t, "SWE", "2008-12-03")
	e.Seq = 5
	s := aggregates.NewState("SWE")
	s.Apply(e)
	again := e
	again.Seq = 9 // the same event read again, e.g. after a re-delivery
	s.Apply(again)
	require.Len(t, s.Facts(events.Signed), 1, "one signature")
	assert.Equal(t, uint64(5), s.Facts(events.Signed)[0].Seq, "the first application counts")
	assert.Equal(t, uint64(5), s.Version, "a repeated event does not move the version")
	assert.True(t, s.Knows(e.ID))
}

func TestRetractionRemovesTheFactAndKeepsIt(t *testing.T) {
	evs := lifetime(t)
	target := evs[7] // the annual report for 2011
	s := history("GBR", evs...)
	before := s.Facts(events.ReportSubmitted)
	held := append([]aggregates.Fact(nil), before...)

	r := retraction(t, target, "2012-05-02", "the report covered 2012")
	r.Seq = uint64(len(evs) + 1)
	s.Apply(r)

	for _, f := range s.Facts(events.ReportSubmitted) {
		assert.NotEqual(t, target.ID, f.ID, "the retracted report is no longer a live fact")
	}
	assert.Len(t, s.Facts(events.ReportSubmitted), 2, "two reports remain")
	assert.Equal(t, len(evs)-1, s.Len(), "one fact fewer")
	got, ok := s.Retracted[target.ID]
	require.True(t, ok, "the retracted fact is kept in Retracted")
	assert.Equal(t, target.Date, got.Date)
	assert.Equal(t, target.Seq, got.Seq)
	assert.Equal(t, events.ReportSubmitted, got.Type)
	assert.True(t, s.Knows(target.ID), "a retracted id stays known")
	assert.True(t, s.Knows(r.ID), "the retraction is known")
	assert.Equal(t, r.Seq, s.Version)
	assert.Equal(t, held, before, "a slice returned by Facts before the retraction is not altered by it")

	// A retraction applied twice, or one of an unknown event, removes nothing more.
	s.Apply(r)
	unknown := ev(t, events.Retracted, "GBR", "2012-05-03", &events.Retraction{Event: uuid.MustParse("6f1c1f0e-0000-4000-8000-000000000001"), Reason: "typo"})
	unknown.Seq = r.Seq + 1
	s.Apply(unknown)
	assert.Equal(t, len(evs)-1, s.Len(), "nothing else is removed")
	assert.Len(t, s.Retracted, 1)
}

func TestRetractionAfterAnyOrderGivesTheSameFacts(t *testing.T) {
	evs := lifetime(t)
	r := retraction(t, evs[2], "2010-06-01", "deposit entered for the wrong State")
	r.Seq = uint64(len(evs) + 1)
	want := snap(history("GBR", append(append([]events.Envelope(nil), evs...), r)...))
	require.Len(t, want.Memberships, 1, "one membership left after the first deposit's retraction")
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := aggregates.NewState("GBR")
		for _, i := range rng.Perm(len(evs)) {
			s.Apply(evs[i])
		}
		s.Apply(r)
		assert.Equal(t, want, snap(s), "seed %d", seed)
	}
}

// ltuHistory is Lithuania: ratification on 24 Mar 2011 (states.csv), a
// withdrawal received on 6 Sep 2024 [computed] that took effect on 6 Mar
// 2025 (rules.md §8), and, as an illustration, a deposit again on 2 Jun 2025
// and a second withdrawal on 5 Jan 2026.
func ltuHistory(t *testing.T, rejoin bool) *aggregates.State {
	evs := []events.Envelope{
		signed(t, "LTU", "2008-12-03"),
		deposited(t, "LTU", "2011-03-24", events.Ratification),
		withdrawal(t, "LTU", "2024-09-06"),
	}
	if rejoin {
		evs = append(evs, deposited(t, "LTU", "2025-06-02", events.Ratification), withdrawal(t, "LTU", "2026-01-05"))
	}
	return history("LTU", evs...)
}

func TestMemberships(t *testing.T) {
	assert.Empty(t, history("SWE", signed(t, "SWE", "2008-12-03")).Memberships(), "a signatory has no membership")

	got := ltuHistory(t, false).Memberships()
	require.Len(t, got, 1)
	assert.Equal(t, memberKey{"2011-03-24", "2024-09-06", "2025-03-06"},
		memberKey{got[0].Deposit.Date.String(), got[0].Notified.String(), got[0].Effective.String()})
	assert.Equal(t, events.Ratification, got[0].Deposit.Instrument())

	got = ltuHistory(t, true).Memberships()
	require.Len(t, got, 2)
	assert.Equal(t, memberKey{"2011-03-24", "2024-09-06", "2025-03-06"},
		memberKey{got[0].Deposit.Date.String(), got[0].Notified.String(), got[0].Effective.String()}, "first membership")
	assert.Equal(t, memberKey{"2025-06-02", "2026-01-05", "2026-07-05"},
		memberKey{got[1].Deposit.Date.String(), got[1].Notified.String(), got[1].Effective.String()}, "second membership")

	// A withdrawal recorded with a date before the deposit belongs to no
	// membership.
	odd := history("LTU", deposited(t, "LTU", "2011-03-24", events.Ratification), withdrawal(t, "LTU", "2010-01-01"))
	got = odd.Memberships()
	require.Len(t, got, 1)
	assert.Zero(t, got[0].Notified, "a withdrawal dated before the deposit is not paired with it")
	assert.Zero(t, got[0].Effective)
}

func TestMembershipAt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rejoin  bool
		at      string
		want    bool
		deposit string // of the membership found
	}{
		{"the day before the deposit", false, "2011-03-23", false, ""},
		{"the day of the deposit", false, "2011-03-24", true, "2011-03-24"},
		{"the day the withdrawal is received", false, "2024-09-06", true, "2011-03-24"},
		{"the day before the withdrawal takes effect", false, "2025-03-05", true, "2011-03-24"},
		{"the day the withdrawal takes effect", false, "2025-03-06", false, ""},
		{"after the withdrawal took effect", false, "2025-06-02", false, ""},
		{"between the two memberships", true, "2025-06-01", false, ""},
		{"the day of the second deposit", true, "2025-06-02", true, "2025-06-02"},
		{"the day before the second withdrawal takes effect", true, "2026-07-04", true, "2025-06-02"},
		{"the day the second withdrawal takes effect", true, "2026-07-05", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ltuHistory(t, tc.rejoin)
			m, ok := s.MembershipAt(d(tc.at))
			require.Equal(t, tc.want, ok, "MembershipAt(%s)", tc.at)
			if tc.want {
				assert.Equal(t, tc.deposit, m.Deposit.Date.String(), "MembershipAt(%s): deposit of the membership", tc.at)
			}
		})
	}
}

func TestLastMembership(t *testing.T) {
	s := ltuHistory(t, false)
	m, ok := s.LastMembership(d("2025-06-02"))
	require.True(t, ok, "a membership that ended is still the last one")
	assert.Equal(t, "2025-03-06", m.Effective.String())
	_, ok = s.LastMembership(d("2011-03-23"))
	assert.False(t, ok, "no membership before the deposit")
}

func TestSignature(t *testing.T) {
	s := history("SWE", signed(t, "SWE", "2008-12-03"))
	_, ok := s.Signature(d("2008-12-02"))
	assert.False(t, ok, "no signature before it was made")
	f, ok := s.Signature(d("2008-12-03"))
	require.True(t, ok, "the signature on its day")
	assert.Equal(t, "2008-12-03", f.Date.String())
	_, ok = s.Signature(0)
	assert.True(t, ok, "the zero Date means any date")
}

func TestCloneIsIndependent(t *testing.T) {
	evs := lifetime(t)
	s := history("GBR", evs...)
	want := snap(s)

	c := s.Clone()
	require.Equal(t, want, snap(c), "a clone holds the same facts")
	// Changes to the clone: a fact inserted in the middle of a list, a
	// retraction, a later version.
	mid := ev(t, events.ReportSubmitted, "GBR", "2011-06-01", &events.Report{Kind: events.AnnualReport, Year: 2010})
	mid.Seq = 100
	c.Apply(mid)
	gone := retraction(t, evs[5], "2011-05-01", "the initial report was entered twice")
	gone.Seq = 101
	c.Apply(gone)
	assert.Equal(t, want, snap(s), "changes to the clone do not reach the original")
	assert.False(t, s.Knows(mid.ID), "the original does not know the clone's event")

	// Changes to the original do not reach the clone.
	cw := snap(c)
	other := ev(t, events.ReportSubmitted, "GBR", "2011-05-15", &events.Report{Kind: events.AnnualReport, Year: 2010})
	other.Seq = 102
	s.Apply(other)
	s.Apply(retraction(t, evs[7], "2012-05-02", "wrong year"))
	assert.Equal(t, cw, snap(c), "changes to the original do not reach the clone")
	assert.Equal(t, "GBR", c.ISO3)
}

// Package synth generates synthetic ledgers of any size for tests and
// benchmarks: events about the States of the built-in table that the
// Convention's rules accept (aggregates.State.Decide) when they are
// imported in the order given, as aggregates.Ledger.Import does.
//
// The ledgers are invented. Their events say so in their source, and their
// meetings have codes of the form SYN-2012, so that no one mistakes them
// for the record of the Convention.
package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// End is the last valid date of a generated ledger. A ledger that imports
// generated events needs a clock on or after it.
var End = events.MustDate("2025-12-31")

// First years of the generated timeline.
var (
	signingOpens = events.MustDate("2008-12-03")
	signingEnds  = events.MustDate("2009-06-30") // before any entry into force the deposits can give
	earlyFrom    = events.MustDate("2009-07-01") // the first thirty deposits
	earlyTo      = events.MustDate("2009-12-31")
)

// MeetingCode returns the code of the synthetic meeting held in year y.
func MeetingCode(y int) string { return fmt.Sprintf("SYN-%d", y) }

// Generate returns n events in valid-date order (then in the order of
// events.Types within a day): meetings every September from 2010, and for
// a sample of States (all of them from n = 8,000 or so) signatures,
// deposits, Article 3, 4 and 5 declarations and completions, extensions,
// initial and annual reports, legislation, assistance and a few
// withdrawals; the rest, up to n, are stockpile destructions and assistance
// reports spread over the years, with a few retractions of them. When the
// States' histories alone exceed n, the latest events are left out. The
// same n and seed always give the same events.
func Generate(n int, seed int64) []events.Envelope {
	if n <= 0 {
		return []events.Envelope{}
	}
	g := &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), seed: seed}
	g.meetings()
	all := events.States()
	g.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	k := min(max(n/40, 35), len(all))
	states := all[:k]
	// Deposits first: entry into force depends on them all.
	plans := make([]*statePlan, k)
	var deposits []events.Date
	for i, c := range states {
		p := g.membership(c.ISO3, i < aggregates.InstrumentsForEntryIntoForce)
		plans[i] = p
		if p.deposit != 0 {
			deposits = append(deposits, p.deposit)
		}
	}
	eif, thirtieth, _ := aggregates.ConventionEntryIntoForce(deposits)
	conv := aggregates.Convention{EntryIntoForce: eif, ThirtiethDeposit: thirtieth}
	for _, p := range plans {
		g.obligations(p, conv)
	}
	base := len(g.out)
	if extra := n - base; extra > 0 {
		g.fill(plans, extra)
	}
	sort.SliceStable(g.out, func(i, j int) bool {
		a, b := g.out[i], g.out[j]
		if a.e.Date != b.e.Date {
			return a.e.Date < b.e.Date
		}
		if ra, rb := typeRank(a.e.Type), typeRank(b.e.Type); ra != rb {
			return ra < rb
		}
		return a.i < b.i
	})
	out := make([]events.Envelope, 0, n)
	for _, x := range g.out[:min(n, len(g.out))] {
		out = append(out, x.e)
	}
	return out
}

func typeRank(t events.Type) int {
	for i, x := range events.Types() {
		if x == t {
			return i
		}
	}
	return len(events.Types())
}

type gen struct {
	rng  *rand.Rand
	seed int64
	out  []item
}

type item struct {
	e events.Envelope
	i int
}

type statePlan struct {
	iso3      string
	signed    events.Date
	deposit   events.Date
	withdrawn events.Date
	stockpile events.Date // first declaration, zero if none
}

// add builds an event; the generator only builds valid ones, so a failure
// is a bug here.
func (g *gen) add(t events.Type, state string, d events.Date, p events.Payload) events.Envelope {
	src := fmt.Sprintf("synthetic ledger (projections/synth, seed %d) #%d", g.seed, len(g.out)+1)
	e, err := events.New(uuid.Nil, t, state, d, p, src)
	if err != nil {
		panic(fmt.Sprintf("synth: %s %s %s: %v", t, state, d, err))
	}
	g.out = append(g.out, item{e: e, i: len(g.out)})
	return e
}

// between returns a date in [a, b], or a when b is before a.
func (g *gen) between(a, b events.Date) events.Date {
	if b <= a {
		return a
	}
	return a + events.Date(g.rng.IntN(int(b-a)+1))
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) meetings() {
	for y := 2010; y <= End.Year(); y++ {
		end := events.MakeDate(y, time.September, 8+g.rng.IntN(12))
		g.add(events.MeetingHeld, "", end, &events.Meeting{Code: MeetingCode(y), Name: fmt.Sprintf("Synthetic meeting %d", y),
			City: "", Start: end.AddDate(0, 0, -3), End: end})
	}
}

// membership plans a State's signature, deposit and withdrawal. The first
// thirty deposit in the second half of 2009, so that the Convention enters
// into force after every signature.
func (g *gen) membership(iso3 string, early bool) *statePlan {
	p := &statePlan{iso3: iso3}
	if early || g.chance(0.6) {
		p.signed = g.between(signingOpens, signingEnds)
		g.add(events.Signed, iso3, p.signed, nil)
	}
	switch {
	case early:
		p.deposit = g.between(earlyFrom, earlyTo)
	case p.signed != 0 && g.chance(0.85):
		p.deposit = g.between(events.MustDate("2010-01-01"), events.MustDate("2022-12-31"))
	case p.signed == 0 && g.chance(0.6):
		p.deposit = g.between(events.MustDate("2010-09-01"), events.MustDate("2023-12-31"))
	}
	if p.deposit == 0 {
		return p
	}
	inst := events.Accession
	if p.signed != 0 {
		inst = []events.Instrument{events.Ratification, events.Ratification, events.Acceptance, events.Approval}[g.rng.IntN(4)]
	}
	g.add(events.Deposited, iso3, p.deposit, &events.Deposit{Instrument: inst})
	if from := max(p.deposit+30, events.MustDate("2023-01-01")); from <= End && g.chance(0.04) {
		p.withdrawn = g.between(from, End)
		g.add(events.WithdrawalNotified, iso3, p.withdrawn, nil)
	}
	return p
}

func count(g *gen, max int64) *int64 {
	v := g.rng.Int64N(max)
	return &v
}

// obligations plans a State Party's declarations, completions, reports,
// legislation and assistance.
func (g *gen) obligations(p *statePlan, conv aggregates.Convention) {
	if p.deposit == 0 {
		return
	}
	iso3 := p.iso3
	eif := conv.EntryIntoForceFor(p.deposit)
	if eif == 0 {
		eif = aggregates.SixthMonthAfter(p.deposit)
	}
	if g.chance(0.3) {
		p.stockpile = g.between(p.deposit, min(p.deposit+365, End))
		g.add(events.StockpileDeclared, iso3, p.stockpile, &events.Quantities{Munitions: count(g, 50000), Submunitions: count(g, 5000000)})
		if g.chance(0.2) {
			if x := g.between(p.stockpile+1, End); x <= End {
				until := max(aggregates.Article3Deadline(eif), x).AddDate(g.rng.IntN(4)+1, 0, 0)
				g.add(events.ExtensionGranted, iso3, x, &events.Extension{Article: 3, Until: until})
			}
		}
		if g.chance(0.8) {
			done := g.between(p.stockpile+30, min(p.stockpile+8*365, End))
			if done <= End {
				g.add(events.StockpileDestructionCompleted, iso3, done, nil)
				if g.chance(0.1) && done+30 < End {
					again := g.between(done+30, End)
					g.add(events.StockpileDeclared, iso3, again, &events.Quantities{Munitions: count(g, 500)})
				}
			}
		}
		if g.chance(0.4) {
			g.add(events.RetentionDeclared, iso3, g.between(p.stockpile, End), &events.Quantities{Munitions: count(g, 500), Submunitions: count(g, 20000)})
		}
	}
	if g.chance(0.2) {
		c := g.between(p.deposit, min(p.deposit+365, End))
		var he events.Date
		if g.chance(0.2) {
			he = g.between(p.deposit, c)
		}
		g.add(events.ContaminationDeclared, iso3, c, &events.Contamination{HostilitiesEnded: he})
		if g.chance(0.2) && c < End {
			x := g.between(c+1, End)
			until := max(aggregates.Article4Deadline(eif, he), x).AddDate(g.rng.IntN(5)+1, 0, 0)
			g.add(events.ExtensionGranted, iso3, x, &events.Extension{Article: 4, Until: until})
		}
		if g.chance(0.4) && c+60 < End {
			g.add(events.ClearanceCompleted, iso3, g.between(c+60, End), nil)
		}
	}
	if g.chance(0.15) {
		g.add(events.VictimsDeclared, iso3, g.between(p.deposit, min(eif+365, End)), nil)
	}
	if due := aggregates.InitialReportDue(eif); g.chance(0.85) {
		if d := g.between(eif, due+200); d <= End {
			g.add(events.ReportSubmitted, iso3, d, &events.Report{Kind: events.InitialReport})
		}
	}
	for y := aggregates.DefaultAnnualRule.FirstYear(eif); aggregates.AnnualReportDue(y) <= End; y++ {
		if !g.chance(0.8) {
			continue
		}
		due := aggregates.AnnualReportDue(y)
		d := g.between(due.AddDate(0, -3, 0), due.AddDate(0, 2, 0))
		if d <= End && d.Year() >= y {
			g.add(events.ReportSubmitted, iso3, d, &events.Report{Kind: events.AnnualReport, Year: y})
		}
	}
	if g.chance(0.7) {
		d := g.between(p.deposit, min(eif+2*365, End))
		g.add(events.LegislationStatus, iso3, d, &events.Legislation{Status: events.LegislationInProgress})
		if g.chance(0.6) && d < End {
			st := events.LegislationAdopted
			if g.chance(0.3) {
				st = events.LegislationDeemedAdequate
			}
			g.add(events.LegislationStatus, iso3, g.between(d+1, End), &events.Legislation{Status: st})
		}
	}
}

var areas = []string{"stockpile-destruction", "clearance", "risk-reduction", "victim-assistance"}

// fill adds extra events spread over the years: stockpile destructions by
// the States that declared stockpiles, assistance requested and provided
// by any State, and, about one in five hundred, a retraction of one of them
// recorded later.
func (g *gen) fill(plans []*statePlan, extra int) {
	var holders []*statePlan
	for _, p := range plans {
		if p.stockpile != 0 {
			holders = append(holders, p)
		}
	}
	from := events.MustDate("2009-01-01")
	for extra > 0 {
		p := plans[g.rng.IntN(len(plans))]
		switch r := g.rng.IntN(10); {
		case r < 5 && len(holders) > 0:
			h := holders[g.rng.IntN(len(holders))]
			g.add(events.StockpileDestroyed, h.iso3, g.between(h.stockpile, End), &events.Quantities{Munitions: count(g, 2000), Submunitions: count(g, 100000)})
		case r < 8:
			a := []string{areas[g.rng.IntN(len(areas))]}
			g.add(events.AssistanceProvided, p.iso3, g.between(from, End), &events.Assistance{Areas: a})
		default:
			a := []string{areas[g.rng.IntN(len(areas))]}
			g.add(events.AssistanceRequested, p.iso3, g.between(from, End), &events.Assistance{Areas: a})
		}
		extra--
		if extra > 0 && g.chance(0.002) {
			target := g.out[len(g.out)-1].e
			if target.Date < End {
				g.add(events.Retracted, target.State, g.between(target.Date+1, End), &events.Retraction{Event: target.ID, Reason: "synthetic correction"})
				extra--
			}
		}
	}
}

package aggregates_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// The rows below cite rules.md (a copy is in events/record/sources/rules.md)
// and, through it, the source that states the date; deposit dates not in
// rules.md come from events/record/sources/states.csv.

// d is events.MustDate, short for table rows.
func d(s string) events.Date { return events.MustDate(s) }

// firstThirty are the dates of the first thirty instruments deposited
// (states.csv, sorted by deposit date): Ireland, Norway, Sierra Leone and
// the Holy See at Oslo on 3 Dec 2008 ... Burkina Faso and Moldova, the 29th
// and 30th, both on 16 Feb 2010 (rules.md §1, CMC 16 Feb 2010).
var firstThirty = []string{
	"2008-12-03", "2008-12-03", "2008-12-03", "2008-12-03", // IRL NOR SLE VAT
	"2009-03-18", "2009-04-02", "2009-05-06", "2009-06-02", // LAO AUT MEX NER
	"2009-06-16", "2009-06-17", "2009-07-08", "2009-07-10", // ALB ESP DEU LUX
	"2009-07-10", "2009-07-14", "2009-08-12", "2009-08-17", // SMR JPN ZMB HRV
	"2009-08-19", "2009-09-24", "2009-09-24", "2009-09-25", // SVN MLT URY BDI
	"2009-09-25", "2009-10-07", "2009-10-08", "2009-11-02", // FRA MWI MKD NIC
	"2009-12-22", "2009-12-22", "2010-01-25", "2010-02-12", // BEL NZL MNE DNK
	"2010-02-16", "2010-02-16", // BFA MDA
}

func dates(ss ...string) []events.Date {
	out := make([]events.Date, len(ss))
	for i, s := range ss {
		out[i] = d(s)
	}
	return out
}

func TestSixthMonthAfter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		given, want string
	}{
		// rules.md §1, Art. 17(2) practice: "the deposit day does not matter".
		{"Lebanon, November to May of the next year (MON-CP, LMAC)", "2010-11-05", "2011-05-01"},
		{"Mauritania, deposit on the 1st of a month (MON-CP)", "2012-02-01", "2012-08-01"},
		{"last day of a 31-day month", "2010-08-31", "2011-02-01"},
		{"July rolls over to January", "2010-07-28", "2011-01-01"},
		{"December rolls over to June", "2010-12-31", "2011-06-01"},
		{"June stays in the year", "2010-06-30", "2010-12-01"},
		{"29 February", "2012-02-29", "2012-08-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregates.SixthMonthAfter(d(tc.given))
			assert.Equal(t, d(tc.want), got, "SixthMonthAfter(%s) = %s, want %s", tc.given, got, tc.want)
		})
	}
}

func TestConventionEntryIntoForce(t *testing.T) {
	shuffled := dates(firstThirty...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tc := range []struct {
		name          string
		deposits      []events.Date
		wantOK        bool
		wantEIF       string
		wantThirtieth string
	}{
		// rules.md §1: the 30th instruments were Burkina Faso's and
		// Moldova's on 16 Feb 2010 (CMC 16 Feb 2010); general entry into
		// force 1 Aug 2010 (UNTC: "1 August 2010, in accordance with
		// article 17(1)").
		{"the record's thirty instruments", dates(firstThirty...), true, "2010-08-01", "2010-02-16"},
		{"the same, unsorted", shuffled, true, "2010-08-01", "2010-02-16"},
		{"the same, reversed", reversed(dates(firstThirty...)), true, "2010-08-01", "2010-02-16"},
		// A 31st instrument on the day of the 30th changes nothing.
		{"two deposits on the 30th day", append(dates(firstThirty...), d("2010-02-16")), true, "2010-08-01", "2010-02-16"},
		// Forty instruments (states.csv): Samoa ... Bosnia and Herzegovina
		// come after the 30th and do not move the date.
		{"forty instruments", append(dates(firstThirty...), dates("2010-04-28", "2010-05-04", "2010-05-11", "2010-05-20",
			"2010-05-28", "2010-05-28", "2010-06-30", "2010-07-28", "2010-08-23", "2010-09-07")...), true, "2010-08-01", "2010-02-16"},
		{"twenty-nine instruments", dates(firstThirty[:29]...), false, "", ""},
		{"none", nil, false, "", ""},
		// Art. 17(1) computed: the 30th in July gives January of the next year.
		{"the 30th in July", append(dates(firstThirty[:29]...), d("2010-07-15")), true, "2011-01-01", "2010-07-15"},
		{"the 30th in December", append(dates(firstThirty[:29]...), d("2010-12-31")), true, "2011-06-01", "2010-12-31"},
		{"the 30th on the 1st of a month", append(dates(firstThirty[:29]...), d("2010-03-01")), true, "2010-09-01", "2010-03-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.deposits)
			eif, thirtieth, ok := aggregates.ConventionEntryIntoForce(in)
			assert.Equal(t, tc.deposits, in, "the input is not modified")
			require.Equal(t, tc.wantOK, ok, "ok for %d deposits", len(tc.deposits))
			if !tc.wantOK {
				assert.Zero(t, eif, "no entry into force with %d deposits", len(tc.deposits))
				assert.Zero(t, thirtieth)
				return
			}
			assert.Equal(t, d(tc.wantEIF), eif, "entry into force: got %s, want %s", eif, tc.wantEIF)
			assert.Equal(t, d(tc.wantThirtieth), thirtieth, "thirtieth deposit: got %s, want %s", thirtieth, tc.wantThirtieth)
		})
	}
}

func reversed(ds []events.Date) []events.Date {
	slices.Reverse(ds)
	return ds
}

func TestEntryIntoForceFor(t *testing.T) {
	eif, thirtieth, ok := aggregates.ConventionEntryIntoForce(dates(firstThirty...))
	require.True(t, ok)
	conv := aggregates.Convention{EntryIntoForce: eif, ThirtiethDeposit: thirtieth}
	for _, tc := range []struct {
		name           string
		deposit, want  string
		unknownConvent bool
	}{
		// rules.md §1: "For the 30 states that had deposited by 16 Feb 2010,
		// EIF is 1 Aug 2010 (stopclustermunitions.org/treatystatus; CMC)".
		{"Ireland, among the first thirty (MON-CP)", "2008-12-03", "2010-08-01", false},
		{"Moldova, the 30th (CMC)", "2010-02-16", "2010-08-01", false},
		{"a deposit the same day as the 30th", "2010-02-16", "2010-08-01", false},
		// Art. 17(2) computed: the day after the 30th falls under 17(2),
		// which gives the same month here.
		{"the day after the 30th", "2010-02-17", "2010-08-01", false},
		// rules.md §1, Art. 17(2) table.
		{"Samoa (rules.md §1)", "2010-04-28", "2010-10-01", false},
		{"United Kingdom (rules.md §1)", "2010-05-04", "2010-11-01", false},
		{"Lesotho", "2010-05-28", "2010-11-01", false},
		{"Mali", "2010-06-30", "2010-12-01", false},
		{"Comoros, July rolls over to January (TRB)", "2010-07-28", "2011-01-01", false},
		{"Monaco, September to March", "2010-09-21", "2011-03-01", false},
		{"Lebanon, November to May (MON-CP, LMAC)", "2010-11-05", "2011-05-01", false},
		{"Lithuania (MON-CP, CMC)", "2011-03-24", "2011-09-01", false},
		{"Senegal, August to February", "2011-08-03", "2012-02-01", false},
		{"Mauritania, on the 1st (MON-CP)", "2012-02-01", "2012-08-01", false},
		{"Nigeria (clusterconvention.org, Art. 17(2))", "2023-02-28", "2023-08-01", false},
		// Computed: a December deposit.
		{"December rolls over to June", "2012-12-31", "2013-06-01", false},
		{"no deposit", "", "", false},
		{"Convention's date unknown", "2010-05-04", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conv
			if tc.unknownConvent {
				c = aggregates.Convention{}
			}
			var dep events.Date
			if tc.deposit != "" {
				dep = d(tc.deposit)
			}
			got := c.EntryIntoForceFor(dep)
			var want events.Date
			if tc.want != "" {
				want = d(tc.want)
			}
			assert.Equal(t, want, got, "EntryIntoForceFor(%s) with %+v: got %s, want %s", tc.deposit, c, got, tc.want)
		})
	}
}

func TestArticle3Deadline(t *testing.T) {
	for _, tc := range []struct {
		name, eif, want string
	}{
		// rules.md §2: "CMC confirms Japan's deadline as '1 August 2018'
		// and Italy's as '1 March 2020'".
		{"Japan", "2010-08-01", "2018-08-01"},
		{"Italy", "2012-03-01", "2020-03-01"},
		{"not in force", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregates.Article3Deadline(opt(tc.eif))
			assert.Equal(t, opt(tc.want), got, "Article3Deadline(%s): got %s, want %s", tc.eif, got, tc.want)
		})
	}
}

// opt parses a date, or gives the zero Date for "".
func opt(s string) events.Date {
	if s == "" {
		return 0
	}
	return d(s)
}

func TestArticle4Deadline(t *testing.T) {
	for _, tc := range []struct {
		name, eif, hostilitiesEnded, want string
	}{
		// rules.md §3, Art. 4(1)(a): "Croatia, Montenegro, Lao PDR,
		// Germany all had '1 August 2020'. Lebanon had 1 May 2021 and
		// Afghanistan 1 March 2022 (MAR)."
		{"Croatia", "2010-08-01", "", "2020-08-01"},
		{"Montenegro", "2010-08-01", "", "2020-08-01"},
		{"Lao PDR", "2010-08-01", "", "2020-08-01"},
		{"Germany", "2010-08-01", "", "2020-08-01"},
		{"Lebanon", "2011-05-01", "", "2021-05-01"},
		{"Afghanistan", "2012-03-01", "", "2022-03-01"},
		// Art. 4(1)(b) computed: contamination after entry into force runs
		// from the end of the active hostilities (no case on the record).
		{"hostilities ended after entry into force", "2010-08-01", "2015-06-30", "2025-06-30"},
		// Remnants from hostilities that ended before entry into force are
		// there at entry into force: Art. 4(1)(a).
		{"hostilities ended before entry into force", "2011-05-01", "2008-08-14", "2021-05-01"},
		{"hostilities ended on the day of entry into force", "2011-05-01", "2011-05-01", "2021-05-01"},
		// Ten years after 29 February ends on the last day of February.
		{"hostilities ended on 29 February", "2010-08-01", "2016-02-29", "2026-02-28"},
		{"not in force", "", "", ""},
		{"not in force, hostilities ended", "", "2012-01-01", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregates.Article4Deadline(opt(tc.eif), opt(tc.hostilitiesEnded))
			assert.Equal(t, opt(tc.want), got, "Article4Deadline(%s, %s): got %s, want %s", tc.eif, tc.hostilitiesEnded, got, tc.want)
		})
	}
}

func TestInitialReportDue(t *testing.T) {
	for _, tc := range []struct {
		name, eif, want string
	}{
		// rules.md §5 table, Art. 7(1): due = EIF + 180 days, matching the
		// Monitor's stated due dates.
		{"Niger", "2010-08-01", "2011-01-28"},
		{"Mali", "2010-12-01", "2011-05-30"},
		{"Tunisia", "2011-03-01", "2011-08-28"},
		{"Panama", "2011-05-01", "2011-10-28"},
		{"Guinea-Bissau", "2011-05-01", "2011-10-28"},
		{"Senegal", "2012-02-01", "2012-07-30"},
		{"Honduras", "2012-09-01", "2013-02-28"},
		{"Hungary", "2013-01-01", "2013-06-30"},
		{"Nigeria (CCM-ISU)", "2023-08-01", "2024-01-28"},
		// rules.md §5 and §13: the Monitor gives Switzerland "28 June
		// 2013" and Togo "29 May 2013"; both are Monitor slips (Hungary,
		// with Switzerland's entry into force, is given 30 Jun 2013). The
		// rule's dates are asserted, not the Monitor's.
		{"Switzerland (Monitor slip: 28 Jun 2013)", "2013-01-01", "2013-06-30"},
		{"Togo (Monitor slip: 29 May 2013)", "2012-12-01", "2013-05-30"},
		{"not in force", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregates.InitialReportDue(opt(tc.eif))
			assert.Equal(t, opt(tc.want), got, "InitialReportDue(%s): got %s, want %s", tc.eif, got, tc.want)
			if tc.eif != "" {
				assert.Equal(t, 180, int(got-opt(tc.eif)), "days from entry into force to the due date")
			}
		})
	}
}

func TestAnnualReportDue(t *testing.T) {
	for _, tc := range []struct {
		year int
		want string
	}{
		// rules.md §5, Art. 7(2): due 30 April of Y, covering Y-1.
		{2011, "2012-04-30"},
		{2012, "2013-04-30"},
		{2024, "2025-04-30"},
	} {
		got := aggregates.AnnualReportDue(tc.year)
		assert.Equal(t, d(tc.want), got, "AnnualReportDue(%d): got %s, want %s", tc.year, got, tc.want)
	}
}

func TestAnnualRulesFirstYear(t *testing.T) {
	// Computed from each rule's definition (rules.md §5 open question).
	for _, tc := range []struct {
		eif  string
		want map[string]int // rule name -> first calendar year covered
	}{
		// Initial report due 28 Jan 2011.
		{"2010-08-01", map[string]int{"after-initial-due-year": 2011, "first-full-year": 2011, "entry-into-force-year": 2010}},
		// Initial report due 30 Jun 2011; the whole of 2011 is under the Convention.
		{"2011-01-01", map[string]int{"after-initial-due-year": 2011, "first-full-year": 2011, "entry-into-force-year": 2011}},
		// Initial report due 28 Aug 2011.
		{"2011-03-01", map[string]int{"after-initial-due-year": 2011, "first-full-year": 2012, "entry-into-force-year": 2011}},
		// Mozambique: initial report due 28 Feb 2012 (rules.md §5).
		{"2011-09-01", map[string]int{"after-initial-due-year": 2012, "first-full-year": 2012, "entry-into-force-year": 2011}},
	} {
		for _, r := range aggregates.AnnualRules() {
			want, ok := tc.want[r.Name]
			require.True(t, ok, "rule %q has no expected value in the table", r.Name)
			got := r.FirstYear(d(tc.eif))
			assert.Equal(t, want, got, "%s.FirstYear(%s): got %d, want %d", r.Name, tc.eif, got, want)
		}
	}
}

func TestDefaultAnnualRuleFitsObservedFirstUpdates(t *testing.T) {
	conv := aggregates.Convention{EntryIntoForce: d("2010-08-01"), ThirtiethDeposit: d("2010-02-16")}
	// rules.md §5: "Ireland, Lesotho and BiH made their first annual update
	// on 30 Apr 2012 ... Mozambique (EIF 1 Sep 2011, initial report due 28
	// Feb 2012) made its first annual update in 2013, covering 2012."
	// Deposits from states.csv.
	observed := []struct {
		state, deposit, eif, firstDue string
	}{
		{"Ireland", "2008-12-03", "2010-08-01", "2012-04-30"},
		{"Lesotho", "2010-05-28", "2010-11-01", "2012-04-30"},
		{"Bosnia and Herzegovina", "2010-09-07", "2011-03-01", "2012-04-30"},
		{"Mozambique", "2011-03-14", "2011-09-01", "2013-04-30"},
	}
	firstDue := func(r aggregates.AnnualRule, deposit string) events.Date {
		return aggregates.AnnualReportDue(r.FirstYear(conv.EntryIntoForceFor(d(deposit))))
	}
	for _, o := range observed {
		eif := conv.EntryIntoForceFor(d(o.deposit))
		require.Equal(t, d(o.eif), eif, "%s: entry into force of a deposit on %s", o.state, o.deposit)
		got := firstDue(aggregates.DefaultAnnualRule, o.deposit)
		assert.Equal(t, d(o.firstDue), got, "%s (EIF %s): first annual update due under %s: got %s, want %s",
			o.state, o.eif, aggregates.DefaultAnnualRule.Name, got, o.firstDue)
	}
	// The other candidates each contradict an observation: that is why
	// the default is the default.
	for _, r := range aggregates.AnnualRules() {
		if r.Name == aggregates.DefaultAnnualRule.Name {
			continue
		}
		fits := true
		for _, o := range observed {
			fits = fits && firstDue(r, o.deposit) == d(o.firstDue)
		}
		assert.False(t, fits, "rule %s also fits every observed first update", r.Name)
	}
}

func TestAnnualRuleByName(t *testing.T) {
	rules := aggregates.AnnualRules()
	require.NotEmpty(t, rules)
	assert.Equal(t, aggregates.DefaultAnnualRule.Name, rules[0].Name, "AnnualRules lists the default first")
	seen := map[string]bool{}
	for _, r := range rules {
		assert.False(t, seen[r.Name], "rule name %q is used twice", r.Name)
		seen[r.Name] = true
		assert.NotEmpty(t, r.Description, "rule %q has a description", r.Name)
		got, ok := aggregates.AnnualRuleByName(r.Name)
		require.True(t, ok, "AnnualRuleByName(%q)", r.Name)
		assert.Equal(t, r.Name, got.Name)
	}
	_, ok := aggregates.AnnualRuleByName("no-such-rule")
	assert.False(t, ok, "an unknown rule name is not found")
}

func TestWithdrawalEffective(t *testing.T) {
	for _, tc := range []struct {
		name, received, want string
	}{
		// rules.md §8, Art. 20(3): Lithuania's withdrawal took effect on 6
		// Mar 2025 (13MSP President's statement); the receipt on 6 Sep 2024
		// is back-calculated [computed].
		{"Lithuania", "2024-09-06", "2025-03-06"},
		{"July rolls over to January", "2024-07-15", "2025-01-15"},
		// End of month: six months after a day the sixth month lacks ends
		// on that month's last day, not in the month after (time.AddDate
		// would give 3 March for 31 August).
		{"31 August to 28 February", "2024-08-31", "2025-02-28"},
		{"31 August to 29 February of a leap year", "2023-08-31", "2024-02-29"},
		{"30 August to 28 February", "2024-08-30", "2025-02-28"},
		{"31 March to 30 September", "2024-03-31", "2024-09-30"},
		{"31 December to 30 June", "2024-12-31", "2025-06-30"},
		{"31 January to 31 July", "2025-01-31", "2025-07-31"},
		{"28 February to 28 August", "2025-02-28", "2025-08-28"},
		{"no withdrawal", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregates.WithdrawalEffective(opt(tc.received))
			assert.Equal(t, opt(tc.want), got, "WithdrawalEffective(%s): got %s, want %s", tc.received, got, tc.want)
		})
	}
}

package projections

import (
	"sort"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Report is the Convention-wide tables as of a date: sorted lists of ISO3
// codes, in the manner of the appendix of a Meeting of States Parties'
// progress report. Its JSON form is the public output of `ccm report
// --format json` and of GET /v1/report.
type Report struct {
	AsOf    events.Date `json:"as_of"`
	KnownAt KnownAt     `json:"known_at"`
	// Meeting is the code of the meeting whose last day is AsOf, if any.
	Meeting string `json:"meeting,omitempty"`
	// EntryIntoForce is the Convention's own entry into force, derived from
	// the thirtieth instrument (null before it).
	EntryIntoForce events.Date `json:"entry_into_force"`

	StatesParties []string                `json:"states_parties"`
	InForce       []string                `json:"in_force"`
	NotInForce    []string                `json:"not_in_force"`
	Signatories   []string                `json:"signatories"`
	Withdrawing   []string                `json:"withdrawing"`
	Withdrawn     []string                `json:"withdrawn"`
	ByRegion      map[string]RegionCounts `json:"by_region"`
	Article3      Article3Table           `json:"article3"`
	Article4      Article4Table           `json:"article4"`
	Article5      Article5Table           `json:"article5"`
	Article6      Article6Table           `json:"article6"`
	Article7      Article7Table           `json:"article7"`
	Article9      Article9Table           `json:"article9"`
	// Unknown lists, apart from the tables, the States whose status the
	// record does not know as of the date (see Coverage).
	Unknown UnknownTable `json:"unknown"`
	// Coverage says through which day the record is complete, by class
	// of facts (absent when the ledger declares none).
	Coverage Coverage `json:"coverage,omitempty"`
}

// UnknownTable lists the States whose status is unknown, by article: the
// record stops before the date, and the status rests on a fact that may
// have come since. A State whose treaty status is unknown is in Treaty
// only, if the record holds a treaty action of it.
type UnknownTable struct {
	Treaty          []string `json:"treaty"`
	Article3        []string `json:"article3"`
	Article4        []string `json:"article4"`
	Article5        []string `json:"article5"`
	Article7Initial []string `json:"article7_initial"`
	Article7Annual  []string `json:"article7_annual"`
	Article9        []string `json:"article9"`
}

// RegionCounts counts States Parties and signatories of one region.
type RegionCounts struct {
	StatesParties int `json:"states_parties"`
	Signatories   int `json:"signatories"`
}

// Article3Table lists States Parties by stockpile destruction status.
type Article3Table struct {
	Obligations []string `json:"obligations"` // pending or overdue
	Overdue     []string `json:"overdue"`
	Completed   []string `json:"completed"`
	Retaining   []string `json:"retaining"`
	// Uncertain: past the deadline, with a completion dated to a range
	// that holds the date (ObligationUncertain).
	Uncertain []string `json:"uncertain"`
}

// Article4Table lists States Parties by clearance status.
type Article4Table struct {
	Obligations []string `json:"obligations"` // pending or overdue
	Overdue     []string `json:"overdue"`
	Completed   []string `json:"completed"`
	Uncertain   []string `json:"uncertain"` // as for Article 3
}

// Article5Table lists States Parties with victim assistance obligations.
type Article5Table struct {
	Obligations []string `json:"obligations"`
}

// Article6Table lists States Parties by what they reported under Article 6.
type Article6Table struct {
	// Requested: reported needs for assistance.
	Requested []string `json:"requested"`
	// Provided: reported providing assistance.
	Provided []string `json:"provided"`
}

// Article7Table lists States Parties by transparency reporting status.
type Article7Table struct {
	// InitialSubmitted: submitted the initial report (on time or late).
	InitialSubmitted []string `json:"initial_submitted"`
	// InitialLate: initial report due before the date and not submitted.
	InitialLate []string `json:"initial_late"`
	// InitialNotDue: initial report not yet due and not submitted.
	InitialNotDue []string `json:"initial_not_due"`
	// InitialUncertain: initial report due before the date, submitted on
	// a day in a range that holds the date: it may not have come yet.
	InitialUncertain []string `json:"initial_uncertain"`
	// AnnualYear is the calendar year covered by the latest annual report
	// due on or before the date (due 30 April of the next year).
	AnnualYear int `json:"annual_year"`
	// AnnualDue: States owing that annual report under the rule applied;
	// AnnualSubmitted and AnnualLate split them.
	AnnualDue       []string `json:"annual_due"`
	AnnualSubmitted []string `json:"annual_submitted"`
	AnnualLate      []string `json:"annual_late"`
	// AnnualUncertain: as InitialUncertain, for that annual report.
	AnnualUncertain []string `json:"annual_uncertain"`
	// Rule names the annual-report rule applied.
	Rule string `json:"rule"`
}

// Article9Table lists States Parties by national implementation status.
type Article9Table struct {
	Adopted        []string `json:"adopted"`
	InProgress     []string `json:"in_progress"`
	DeemedAdequate []string `json:"deemed_adequate"`
}

// ReportOf derives the Convention-wide tables as of asOf from the fold.
func ReportOf(f *Fold, asOf events.Date, opt Options) Report {
	r, _ := reportAndStatuses(f, asOf, opt)
	return r
}

// Statuses derives the status of every State the fold knows, as of asOf,
// sorted by code.
func Statuses(f *Fold, asOf events.Date, opt Options) []Status {
	_, sts := reportAndStatuses(f, asOf, opt)
	return sts
}

func reportAndStatuses(f *Fold, asOf events.Date, opt Options) (Report, []Status) {
	conv := f.Convention(asOf)
	sts := make([]Status, 0, len(f.scopes))
	for _, iso3 := range f.Scopes() {
		sts = append(sts, statusOf(f, conv, iso3, asOf, opt))
	}
	var meeting string
	for _, m := range f.Meetings() {
		if m.End == asOf {
			meeting = m.Code
		}
	}
	return Tables(sts, asOf, conv.EntryIntoForce, meeting, knownAt(f), opt), sts
}

// AnnualYearDue returns the calendar year covered by the latest annual
// Article 7 report due on or before asOf (due 30 April of the next year).
func AnnualYearDue(asOf events.Date) int {
	y := asOf.Year() - 1
	if asOf < events.MakeDate(asOf.Year(), 4, 30) {
		y--
	}
	return y
}

// Tables builds the Convention-wide tables from the statuses of every State
// as of asOf (each status must have been derived as of asOf with the same
// options). eif is the Convention's entry into force as of asOf, meeting the
// code of the meeting ending on asOf, if any.
func Tables(sts []Status, asOf, eif events.Date, meeting string, known KnownAt, opt Options) Report {
	r := Report{AsOf: asOf, KnownAt: known, Meeting: meeting, EntryIntoForce: eif, ByRegion: map[string]RegionCounts{}}
	for _, reg := range events.Regions() {
		r.ByRegion[string(reg)] = RegionCounts{}
	}
	annualYear := AnnualYearDue(asOf)
	r.Article7.AnnualYear = annualYear
	r.Article7.Rule = opt.annualRule().Name
	if len(sts) > 0 {
		r.Coverage = sts[0].Coverage
	}
	for _, st := range sts {
		iso3 := st.State
		rc := r.ByRegion[st.Region]
		switch st.TreatyStatus {
		case Unknown:
			// A State of which the record holds no treaty action is
			// left out, as when it is known to have none.
			if st.TreatyLastKnown != TreatyNone {
				r.Unknown.Treaty = append(r.Unknown.Treaty, iso3)
			}
			continue
		case TreatySignatory:
			r.Signatories = append(r.Signatories, iso3)
			rc.Signatories++
			r.ByRegion[st.Region] = rc
			continue
		case TreatyWithdrawn:
			r.Withdrawn = append(r.Withdrawn, iso3)
			continue
		case TreatyNone:
			continue
		}
		// A State Party: deposited, in force or not, withdrawing or not.
		r.StatesParties = append(r.StatesParties, iso3)
		rc.StatesParties++
		r.ByRegion[st.Region] = rc
		if st.TreatyStatus == TreatyWithdrawing {
			r.Withdrawing = append(r.Withdrawing, iso3)
		}
		if st.EntryIntoForce != 0 && st.EntryIntoForce <= asOf {
			r.InForce = append(r.InForce, iso3)
		} else {
			r.NotInForce = append(r.NotInForce, iso3)
		}
		switch st.Article3.Status {
		case ObligationPending:
			r.Article3.Obligations = append(r.Article3.Obligations, iso3)
		case ObligationOverdue:
			r.Article3.Obligations = append(r.Article3.Obligations, iso3)
			r.Article3.Overdue = append(r.Article3.Overdue, iso3)
		case ObligationCompleted:
			r.Article3.Completed = append(r.Article3.Completed, iso3)
		case ObligationUncertain:
			r.Article3.Uncertain = append(r.Article3.Uncertain, iso3)
		case Unknown:
			r.Unknown.Article3 = append(r.Unknown.Article3, iso3)
		}
		if st.Article3.Retained && st.Article3.Status != Unknown {
			r.Article3.Retaining = append(r.Article3.Retaining, iso3)
		}
		switch st.Article4.Status {
		case ObligationPending:
			r.Article4.Obligations = append(r.Article4.Obligations, iso3)
		case ObligationOverdue:
			r.Article4.Obligations = append(r.Article4.Obligations, iso3)
			r.Article4.Overdue = append(r.Article4.Overdue, iso3)
		case ObligationCompleted:
			r.Article4.Completed = append(r.Article4.Completed, iso3)
		case ObligationUncertain:
			r.Article4.Uncertain = append(r.Article4.Uncertain, iso3)
		case Unknown:
			r.Unknown.Article4 = append(r.Unknown.Article4, iso3)
		}
		switch st.Article5.Status {
		case "active":
			r.Article5.Obligations = append(r.Article5.Obligations, iso3)
		case Unknown:
			r.Unknown.Article5 = append(r.Unknown.Article5, iso3)
		}
		if st.Article6.Requested != 0 {
			r.Article6.Requested = append(r.Article6.Requested, iso3)
		}
		if st.Article6.Provided != 0 {
			r.Article6.Provided = append(r.Article6.Provided, iso3)
		}
		switch ini := st.Article7.Initial; ini.Status {
		case ReportUncertain:
			if ini.Submitted > asOf {
				r.Article7.InitialUncertain = append(r.Article7.InitialUncertain, iso3)
			} else {
				r.Article7.InitialSubmitted = append(r.Article7.InitialSubmitted, iso3)
			}
		case ReportSubmitted, ReportSubmittedLate:
			r.Article7.InitialSubmitted = append(r.Article7.InitialSubmitted, iso3)
		case ReportLate:
			r.Article7.InitialLate = append(r.Article7.InitialLate, iso3)
		case Unknown:
			r.Unknown.Article7Initial = append(r.Unknown.Article7Initial, iso3)
		case ReportNotDue:
			r.Article7.InitialNotDue = append(r.Article7.InitialNotDue, iso3)
		}
		for _, a := range st.Article7.Annual {
			if a.Year != annualYear {
				continue
			}
			r.Article7.AnnualDue = append(r.Article7.AnnualDue, iso3)
			switch {
			case a.Submitted > asOf:
				r.Article7.AnnualUncertain = append(r.Article7.AnnualUncertain, iso3)
			case a.Submitted != 0:
				r.Article7.AnnualSubmitted = append(r.Article7.AnnualSubmitted, iso3)
			case a.Status == Unknown:
				r.Unknown.Article7Annual = append(r.Unknown.Article7Annual, iso3)
			default:
				r.Article7.AnnualLate = append(r.Article7.AnnualLate, iso3)
			}
		}
		switch st.Article9.Status {
		case string(events.LegislationAdopted):
			r.Article9.Adopted = append(r.Article9.Adopted, iso3)
		case string(events.LegislationInProgress):
			r.Article9.InProgress = append(r.Article9.InProgress, iso3)
		case string(events.LegislationDeemedAdequate):
			r.Article9.DeemedAdequate = append(r.Article9.DeemedAdequate, iso3)
		case Unknown:
			r.Unknown.Article9 = append(r.Unknown.Article9, iso3)
		}
	}
	r.normalize()
	return r
}

// normalize makes every list non-nil and sorted, so JSON shows [] not null
// and output is stable.
func (r *Report) normalize() {
	for _, l := range reportLists(r) {
		if *l.list == nil {
			*l.list = []string{}
		}
		sort.Strings(*l.list)
	}
}

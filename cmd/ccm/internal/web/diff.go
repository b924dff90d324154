package web

import (
	"strconv"

	"github.com/ccm-ledger/ccm-ledger/projections"
)

// summaryRow is one line of a period's summary: what happened, and to
// whom.
type summaryRow struct {
	Label  string
	States []datedState
}

type datedState struct {
	State, Note string
}

// summaryRows reads a diff's summary as an auditor's list, empty lines
// included: "nobody withdrew" is an answer too.
func summaryRows(s projections.DiffSummary) []summaryRow {
	dated := func(l []projections.DatedState) []datedState {
		out := make([]datedState, 0, len(l))
		for _, d := range l {
			out = append(out, datedState{d.State, d.Date.String()})
		}
		return out
	}
	plain := func(l []string) []datedState {
		out := make([]datedState, 0, len(l))
		for _, c := range l {
			out = append(out, datedState{State: c})
		}
		return out
	}
	ext := make([]datedState, 0, len(s.Extensions))
	for _, e := range s.Extensions {
		ext = append(ext, datedState{e.State, "Art. " + strconv.Itoa(e.Article) + ", granted " + e.Granted.String() + ", until " + e.Until.String()})
	}
	return []summaryRow{
		{"Joined (instrument deposited)", dated(s.Joined)},
		{"Withdrew (notified)", dated(s.Withdrawn)},
		{"Completed stockpile destruction (Art. 3)", dated(s.Article3Completed)},
		{"Completed clearance (Art. 4)", dated(s.Article4Completed)},
		{"Granted an extension", ext},
		{"Art. 3 still pending at the end", plain(s.Article3Pending)},
		{"Art. 4 still pending at the end", plain(s.Article4Pending)},
	}
}

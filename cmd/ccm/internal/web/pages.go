package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// prepare resolves a page's bounds and reads the meetings for its picker.
func (s *Server) prepare(r *http.Request) (*view, Querier, *pageError) {
	v := viewOf(r)
	q, e := s.querier(r)
	if e != nil {
		return v, nil, e
	}
	if v.Bounds, e = s.resolve(r, q, "as_of"); e != nil {
		return v, nil, e
	}
	ms, err := q.Meetings(r.Context(), projections.Bounds{KnownAtSeq: v.Bounds.KnownAtSeq, KnownAtTime: v.Bounds.KnownAtTime})
	if err != nil {
		return v, nil, s.internal(err)
	}
	v.Meetings = ms
	return v, q, nil
}

// overviewData is the overview page.
type overviewData struct {
	Report   projections.Report
	Tables   []listTable
	Regions  []regionRow
	Total    regionRow
	Coverage coverage
	Charts   []chart
}

func (s *Server) overview(r *http.Request) (*shown, *pageError) {
	v, q, e := s.prepare(r)
	if e != nil {
		return nil, e
	}
	rep, err := q.Report(r.Context(), v.Bounds)
	if err != nil {
		return nil, s.internal(err)
	}
	v.KnownAt = rep.KnownAt
	d := &overviewData{Report: rep, Tables: reportTables(rep), Coverage: coverageRows(rep.Coverage, rep.AsOf)}
	d.Regions, d.Total = regionRows(rep)
	if d.Charts, err = s.charts(r, q, v); err != nil {
		return nil, s.internal(err)
	}
	return &shown{"overview", &page{Title: "The Convention " + v.Title(), Nav: "overview", view: v, Data: d}}, nil
}

// statesData is the page of States.
type statesData struct {
	Table *statesTable
	// CSV is the download of the rows shown, All the API's of every
	// State in the same view.
	CSV, All string
}

func (s *Server) statesView(r *http.Request) (*view, *statesTable, *pageError) {
	v, q, e := s.prepare(r)
	if e != nil {
		return v, nil, e
	}
	sts, err := q.Statuses(r.Context(), v.Bounds)
	if err != nil {
		return v, nil, s.internal(err)
	}
	var rep *projections.Report
	if param(r, "list") != "" {
		x, err := q.Report(r.Context(), v.Bounds)
		if err != nil {
			return v, nil, s.internal(err)
		}
		rep = &x
	}
	if len(sts) > 0 {
		v.KnownAt = sts[0].KnownAt
	} else if rep != nil {
		v.KnownAt = rep.KnownAt
	}
	t, e := filterStates(r, sts, rep)
	return v, t, e
}

func (s *Server) states(r *http.Request) (*shown, *pageError) {
	v, t, e := s.statesView(r)
	if e != nil {
		return nil, e
	}
	v.Extra = r.URL.Query()
	d := &statesData{Table: t, CSV: v.Link(s.cfg.StatesCSV, "q", t.Q, "region", t.Region, "treaty", t.Treaty, "list", t.List,
		"sort", param(r, "sort"), "dir", param(r, "dir")),
		All: v.Link("/v1/states", "format", "csv")}
	return &shown{"states", &page{Title: "States " + v.Title(), Nav: "states", view: v, Data: d}}, nil
}

func (s *Server) statesCSV(w http.ResponseWriter, r *http.Request) *pageError {
	v, t, e := s.statesView(r)
	if e != nil {
		return e
	}
	if err := writeStatesCSV(w, t, v.Bounds.AsOf.String()); err != nil {
		s.cfg.Logger.Printf("web: states.csv: %v", err)
	}
	return nil
}

func (s *Server) profile(r *http.Request) (*shown, *pageError) {
	code := strings.ToUpper(r.PathValue("iso3"))
	if _, ok := events.LookupState(code); !ok {
		return nil, &pageError{Status: http.StatusNotFound, Title: "No such State",
			Message: r.PathValue("iso3") + " is not the ISO 3166-1 alpha-3 code of a State."}
	}
	v, q, e := s.prepare(r)
	if e != nil {
		return nil, e
	}
	d, err := s.profileOf(r, q, v, code)
	if errors.Is(err, projections.ErrUnknownState) {
		return nil, &pageError{Status: http.StatusNotFound, Title: "No such State", Message: err.Error()}
	}
	if err != nil {
		return nil, s.internal(err)
	}
	return &shown{"profile", &page{Title: d.History.Name + " " + v.Title(), Nav: "states", view: v, Data: d}}, nil
}

// diffData is the page of differences.
type diffData struct {
	Diff     projections.Diff
	From, To string
	Summary  []summaryRow
}

func (s *Server) diff(r *http.Request) (*shown, *pageError) {
	v := viewOf(r)
	q, e := s.querier(r)
	if e != nil {
		return nil, e
	}
	d := &diffData{From: param(r, "from"), To: param(r, "to")}
	v.Extra = r.URL.Query()
	// The meetings proposed are those known at the view's known_at.
	known, e := s.resolveValue(r, q, "known_at", "")
	if e != nil {
		return nil, e
	}
	ms, err := q.Meetings(r.Context(), projections.Bounds{KnownAtSeq: known.KnownAtSeq, KnownAtTime: known.KnownAtTime})
	if err != nil {
		return nil, s.internal(err)
	}
	v.Meetings = ms
	if d.From == "" || d.To == "" {
		// The form alone, with the last two meetings proposed.
		if len(ms) >= 2 && d.From == "" && d.To == "" {
			d.From, d.To = ms[len(ms)-2].Code, ms[len(ms)-1].Code
		}
		if d.From == "" || d.To == "" {
			return nil, badRequest("Give both ends of the period.", fieldf("from", "and to are required: a date (YYYY-MM-DD) or a meeting code"))
		}
	}
	from, e := s.resolveValue(r, q, "from", d.From)
	if e != nil {
		return nil, e
	}
	to, e := s.resolveValue(r, q, "to", d.To)
	if e != nil {
		return nil, e
	}
	if from.AsOf > to.AsOf {
		return nil, badRequest("The period ends before it starts.", fieldf("from", "%s is after to (%s)", from.AsOf, to.AsOf))
	}
	if d.Diff, err = q.Diff(r.Context(), from, to); err != nil {
		return nil, s.internal(err)
	}
	v.KnownAt, v.Bounds = d.Diff.To.KnownAt, to
	d.Summary = summaryRows(d.Diff.Summary)
	return &shown{"diff", &page{Title: "From " + d.From + " to " + d.To, Nav: "diff", view: v, Data: d}}, nil
}

func (s *Server) meetings(r *http.Request) (*shown, *pageError) {
	v := viewOf(r)
	q, e := s.querier(r)
	if e != nil {
		return nil, e
	}
	b, e := s.resolve(r, q, "as_of")
	if e != nil {
		return nil, e
	}
	ms, err := q.Meetings(r.Context(), projections.Bounds{KnownAtSeq: b.KnownAtSeq, KnownAtTime: b.KnownAtTime})
	if err != nil {
		return nil, s.internal(err)
	}
	v.Meetings = ms
	v.Bounds = b
	return &shown{"meetings", &page{Title: "Meetings of States Parties", Nav: "meetings", view: v, Data: ms}}, nil
}

package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// The charts are drawn on the server as SVG: they are the engine's own
// answers at each point, print as sharply as text, need no script (the
// CSP allows none inline) and no library in the binary; each comes with
// its figures as a table, for screen readers and spreadsheets.

// chart is a bar chart: one band per label, one bar (or one segment of a
// stacked bar) per series.
type chart struct {
	ID, Title, Desc string
	Labels          []string
	Series          []series
	Stacked         bool
}

type series struct {
	Name   string
	Values []int
}

// Chart geometry, in the units of the viewBox (the SVG scales to its box).
const (
	chartW, chartH                    = 720, 280
	padLeft, padRight, padTop         = 44, 8, 12
	padBottom                         = 40
	plotW, plotH                      = chartW - padLeft - padRight, chartH - padTop - padBottom
	maxSeriesClasses                  = 6
	labelEvery                float64 = 26 // the least room a label needs
)

// SVG draws the chart.
func (c chart) SVG() template.HTML {
	top := 0
	for i := range c.Labels {
		sum := 0
		for _, s := range c.Series {
			if c.Stacked {
				sum += s.Values[i]
			} else {
				sum = max(sum, s.Values[i])
			}
		}
		top = max(top, sum)
	}
	step := niceStep(top)
	top = int(math.Ceil(float64(max(top, 1))/float64(step))) * step
	y := func(v int) float64 { return padTop + plotH - float64(v)/float64(top)*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" class="chart">`, chartW, chartH, c.ID, c.ID)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, c.ID, esc(c.Title), c.ID, esc(c.Desc))
	for v := 0; v <= top; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, chartW-padRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%d</text>`, padLeft-4, y(v)+4, v)
	}
	n := len(c.Labels)
	band := float64(plotW) / float64(max(n, 1))
	every := int(math.Ceil(labelEvery / band))
	for i, label := range c.Labels {
		x0 := padLeft + float64(i)*band
		c.bars(&b, i, x0+band*0.1, band*0.8, y)
		if i%every == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+band/2, chartH-padBottom+16, esc(label))
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, chartW-padRight, y(0), y(0))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bars draws the bars of band i in [x, x+w).
func (c chart) bars(b *strings.Builder, i int, x, w float64, y func(int) float64) {
	base := 0
	bw := w / float64(max(len(c.Series), 1))
	for k, s := range c.Series {
		v := s.Values[i]
		if v == 0 {
			continue
		}
		bx, from := x+float64(k)*bw, 0
		if c.Stacked {
			bx, bw, from = x, w, base
			base += v
		}
		fmt.Fprintf(b, `<rect class="s%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s, %s: %d</title></rect>`,
			k%maxSeriesClasses, bx, y(from+v), max(bw-0.5, 0.5), y(from)-y(from+v), esc(c.Labels[i]), esc(s.Name), v)
	}
}

// Classes lists the series' CSS classes, for the legend.
func (c chart) Classes() []string {
	out := make([]string, len(c.Series))
	for i := range c.Series {
		out[i] = "s" + strconv.Itoa(i%maxSeriesClasses)
	}
	return out
}

// niceStep is a step of 1, 2 or 5 times a power of ten that gives about
// five grid lines up to top.
func niceStep(top int) int {
	if top <= 5 {
		return 1
	}
	raw := float64(top) / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return int(m * p)
		}
	}
	return int(10 * p)
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// chartPoint is a date the meeting charts are drawn at.
type chartPoint struct {
	label string
	b     projections.Bounds
}

// charts are the overview's charts: States Parties by region and the
// Articles 3 and 4 obligations at each meeting up to the view's date (and
// at the date itself when it is later), and the Article 7 annual reports
// by the year they cover as of the date.
func (s *Server) charts(r *http.Request, q Querier, v *view) ([]chart, error) {
	var pts []chartPoint
	known := projections.Bounds{KnownAtSeq: v.Bounds.KnownAtSeq, KnownAtTime: v.Bounds.KnownAtTime}
	for _, m := range formalMeetings(v.Meetings) {
		if m.End <= v.Bounds.AsOf {
			b := known
			b.AsOf, b.Meeting = m.End, m.Code
			pts = append(pts, chartPoint{m.Code, b})
		}
	}
	if len(pts) == 0 || pts[len(pts)-1].b.AsOf < v.Bounds.AsOf {
		pts = append(pts, chartPoint{v.Bounds.AsOf.String(), v.Bounds})
	}
	regions := chart{ID: "chart-regions", Title: "States Parties by region",
		Desc: "States Parties of each region at each Meeting of States Parties", Stacked: true}
	for _, reg := range events.Regions() {
		regions.Series = append(regions.Series, series{Name: string(reg)})
	}
	obl := chart{ID: "chart-obligations", Title: "Articles 3 and 4: obligations pending and completed",
		Desc:   "States Parties with stockpile destruction (Art. 3) and clearance (Art. 4) pending and completed, at each Meeting of States Parties",
		Series: []series{{Name: "Art. 3 pending"}, {Name: "Art. 3 completed"}, {Name: "Art. 4 pending"}, {Name: "Art. 4 completed"}}}
	for _, p := range pts {
		rep, err := q.Report(r.Context(), p.b)
		if err != nil {
			return nil, err
		}
		regions.Labels = append(regions.Labels, p.label)
		for i, reg := range events.Regions() {
			regions.Series[i].Values = append(regions.Series[i].Values, rep.ByRegion[string(reg)].StatesParties)
		}
		obl.Labels = append(obl.Labels, p.label)
		for i, l := range [][]string{rep.Article3.Obligations, rep.Article3.Completed, rep.Article4.Obligations, rep.Article4.Completed} {
			obl.Series[i].Values = append(obl.Series[i].Values, len(l))
		}
	}
	sts, err := q.Statuses(r.Context(), v.Bounds)
	if err != nil {
		return nil, err
	}
	return []chart{regions, obl, reportsChart(sts, v.Bounds.AsOf)}, nil
}

// formalMeetings are the Meetings of States Parties and the Review
// Conferences (codes 3MSP, 1RC), where the progress reports are adopted;
// every meeting when the ledger records none of them.
func formalMeetings(ms []projections.Meeting) []projections.Meeting {
	var out []projections.Meeting
	for _, m := range ms {
		if n := strings.TrimRight(m.Code, "MSPRC"); n != m.Code && n != "" && strings.Trim(n, "0123456789") == "" {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return ms
	}
	return out
}

// reportsChart counts the annual reports due by the year they cover: on
// time, late (submitted late or not yet), uncertain (dated to a range that
// holds the due date or the date asked), and unknown (past the record's
// reach).
func reportsChart(sts []projections.Status, asOf events.Date) chart {
	c := chart{ID: "chart-reports", Title: "Article 7 annual reports: on time, late, uncertain and unknown",
		Desc:    "Annual transparency reports due, by the calendar year they cover (due 30 April of the next year), as of " + asOf.String(),
		Stacked: true, Series: []series{{Name: "on time"}, {Name: "late"}, {Name: "uncertain"}, {Name: "unknown"}}}
	byYear := map[int][4]int{}
	for _, st := range sts {
		for _, a := range st.Article7.Annual {
			var k int
			switch a.Status {
			case projections.ReportNotDue:
				continue
			case projections.ReportSubmitted:
				k = 0
			case projections.ReportSubmittedLate, projections.ReportLate:
				k = 1
			case projections.ReportUncertain:
				k = 2
			default:
				k = 3
			}
			n := byYear[a.Year]
			n[k]++
			byYear[a.Year] = n
		}
	}
	var years []int
	for y := range byYear {
		years = append(years, y)
	}
	sort.Ints(years)
	for _, y := range years {
		c.Labels = append(c.Labels, strconv.Itoa(y))
		for k := range c.Series {
			c.Series[k].Values = append(c.Series[k].Values, byYear[y][k])
		}
	}
	return c
}

package web

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// The reports chart counts each annual report status in its own series:
// an uncertain report is neither late nor unknown.
func TestReportsChartKeepsUncertainApart(t *testing.T) {
	annual := func(statuses ...string) projections.Status {
		var st projections.Status
		for _, s := range statuses {
			st.Article7.Annual = append(st.Article7.Annual, projections.ReportStatus{Year: 2011, Status: s})
		}
		return st
	}
	c := reportsChart([]projections.Status{
		annual(projections.ReportSubmitted), annual(projections.ReportLate), annual(projections.ReportSubmittedLate),
		annual(projections.ReportUncertain), annual(projections.Unknown), annual(projections.ReportNotDue),
	}, events.MustDate("2012-09-14"))
	assert.Equal(t, []string{"2011"}, c.Labels)
	got := map[string]int{}
	for _, s := range c.Series {
		got[s.Name] = s.Values[0]
	}
	assert.Equal(t, map[string]int{"on time": 1, "late": 2, "uncertain": 1, "unknown": 1}, got)
}

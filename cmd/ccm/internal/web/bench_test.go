package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// BenchmarkPagesInChromium measures, in Chromium, every page as of a
// meeting on a 100,000-event synthetic ledger served as `ccm serve` does
// (the live fold, the API and the web view on one handler): the time the
// browser's own Navigation Timing gives from the request to the end of
// the load event, in ms per page. The first load of each page (nothing
// cached by the engine yet) is logged apart.
//
//	go test ./cmd/ccm/internal/web -run '^$' -bench PagesInChromium -benchtime 10x -v
func BenchmarkPagesInChromium(b *testing.B) {
	start := time.Now()
	lg := newLedger(b, synth.Generate(100_000, 1))
	b.Logf("imported 100,000 events and read them into the live fold in %v", time.Since(start).Round(time.Millisecond))
	ts := lg.serve(b, httpapi.Access{Token: testToken})
	meeting, before := synth.MeetingCode(2020), synth.MeetingCode(2019)
	bd, err := lg.engine.Resolve(context.Background(), meeting, "", synth.End)
	require.NoError(b, err)
	sts, err := lg.engine.Statuses(context.Background(), bd)
	require.NoError(b, err)
	// The State with the longest history makes the slowest profile.
	busiest, most := "", -1
	for _, st := range sts {
		if n := len(st.Article7.Annual); n > most {
			busiest, most = st.State, n
		}
	}
	pages := []struct{ name, path string }{
		{"overview", "/?as_of=" + meeting},
		{"states", "/states?as_of=" + meeting},
		{"states-filtered", "/states?as_of=" + meeting + "&list=article3.obligations&sort=a3_deadline"},
		{"profile", "/states/" + busiest + "?as_of=" + meeting},
		{"diff", "/diff?from=" + before + "&to=" + meeting},
		{"meetings", "/meetings"},
	}
	tb := openTab(b, ts.URL)
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.Logf("%s first load: %.0f ms", p.path, loadTime(b, tb, p.path))
			var total float64
			for b.Loop() {
				total += loadTime(b, tb, p.path)
			}
			b.ReportMetric(total/float64(b.N), "ms/page")
		})
	}
}

// loadTime loads a page and returns the browser's time from the request
// to the end of the load event, in milliseconds.
func loadTime(b *testing.B, tb *tab, path string) float64 {
	b.Helper()
	tb.do(chromedp.Navigate(tb.base + path))
	ms, err := chromedp.Run(tb.ctx, chromedp.Evaluate[float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return n.loadEventEnd - n.startTime; })()`))
	require.NoError(b, err)
	return ms
}

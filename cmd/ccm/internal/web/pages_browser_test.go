package web_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// bounds resolves a date or meeting with the reference engine.
func (lg *ledger) bounds(t *testing.T, asOf string) projections.Bounds {
	t.Helper()
	b, err := lg.engine.Resolve(context.Background(), asOf, "", events.DateOf(today))
	require.NoError(t, err)
	return b
}

// TestBrowserOverviewAndItsLinks: the overview as of the 3MSP shows the
// engine's tables; a count leads to the States it counts, and a State to
// its profile; the charts are drawn at each meeting up to the date.
func TestBrowserOverviewAndItsLinks(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	ctx := context.Background()
	rep, err := lg.engine.Report(ctx, lg.bounds(t, "3MSP"))
	require.NoError(t, err)
	require.NotEmpty(t, rep.StatesParties)

	tb := openTab(t, ts.URL)
	tb.open("/?as_of=3MSP")
	assert.Contains(t, tb.text("h1"), "as of 2012-09-14 (3MSP)")
	parties := strconv.Itoa(len(rep.StatesParties))
	assert.Equal(t, parties, tb.text(`a[data-list="states_parties"]`), "States Parties as of the 3MSP")
	assert.Equal(t, strconv.Itoa(len(rep.Article3.Obligations)), tb.text(`a[data-list="article3.obligations"]`))
	assert.Equal(t, strconv.Itoa(len(rep.Article7.InitialLate)), tb.text(`a[data-list="article7.initial_late"]`))
	assert.Equal(t, parties, tb.text("#t-regions tfoot td"), "the regions add up to the States Parties")
	assert.Equal(t, 3, tb.count("svg.chart"), "three charts")
	assert.Equal(t, 3, tb.count("#chart-regions .figures tbody tr"), "one point per meeting up to the 3MSP")
	last, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS("#chart-regions .figures tbody tr:last-child th")))
	require.NoError(t, err)
	assert.Equal(t, "3MSP", last, "the figures end at the 3MSP")

	tb.do(chromedp.Click(chromedp.CSS(`a[data-list="states_parties"]`)), chromedp.WaitReady(chromedp.CSS("#states-table")))
	assert.Equal(t, "/states?as_of=3MSP&list=states_parties", tb.location(), "the link keeps the view")
	assert.Equal(t, len(rep.StatesParties), tb.count("#states-table tbody tr"), "one row per State Party")
	assert.Equal(t, parties, tb.text("#states-table caption .count"))

	first := rep.StatesParties[0]
	name := stateName(first)
	tb.do(chromedp.Click(chromedp.CSS("#states-table tbody tr:first-child th a")), chromedp.WaitReady(chromedp.CSS("#t-articles")))
	assert.Equal(t, "/states/"+first+"?as_of=3MSP", tb.location())
	assert.Contains(t, tb.text("h1"), name)

	tb.do(chromedp.Click(chromedp.CSS(`nav a[href^="/meetings"]`)), chromedp.WaitReady(chromedp.CSS("#t-meetings")))
	ms, err := lg.engine.Meetings(ctx, projections.Bounds{})
	require.NoError(t, err)
	assert.Equal(t, len(ms), tb.count("#t-meetings tbody tr"), "every meeting recorded")
	tb.do(chromedp.Click(chromedp.CSS(`#t-meetings a[href$="&to=3MSP"]`)), chromedp.WaitReady(chromedp.CSS("#t-summary")))
	u, err := url.Parse(tb.location())
	require.NoError(t, err)
	from := u.Query().Get("from")
	require.NotEmpty(t, from, "the link names the meeting before the 3MSP")
	d, err := lg.engine.Diff(ctx, lg.bounds(t, from), lg.bounds(t, "3MSP"))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(len(d.Summary.Joined)), tb.text("#t-summary tbody tr:first-child td.num"), "joined from %s to the 3MSP", from)
	assert.Equal(t, len(d.Tables), tb.count("#t-tables tbody tr"), "one row per list that changed")
}

func stateName(iso3 string) string {
	c, _ := events.LookupState(iso3)
	return c.Name
}

// TestBrowserStatesSortAndFilter: the table of States sorts on a click of
// its header and filters as one types, keeping the address a citation;
// without JavaScript the same links and form do it on the server.
func TestBrowserStatesSortAndFilter(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	sts, err := lg.engine.Statuses(context.Background(), lg.bounds(t, "3MSP"))
	require.NoError(t, err)
	last := sts[len(sts)-1].State // sorted by code

	tb := openTab(t, ts.URL)
	tb.open("/states?as_of=3MSP")
	require.Equal(t, len(sts), tb.count("#states-table tbody tr"))
	tb.do(chromedp.Click(chromedp.CSS(`th[data-key="iso3"] a`)))
	assert.Equal(t, "ascending", eval[string](tb, `document.querySelector('th[data-key="iso3"]').getAttribute("aria-sort")`))
	tb.do(chromedp.Click(chromedp.CSS(`th[data-key="iso3"] a`)))
	assert.Equal(t, "descending", eval[string](tb, `document.querySelector('th[data-key="iso3"]').getAttribute("aria-sort")`))
	assert.Equal(t, last, tb.text("#states-table tbody tr:first-child td"), "sorted by code, descending")
	u, err := url.Parse(tb.location())
	require.NoError(t, err)
	assert.Equal(t, url.Values{"as_of": {"3MSP"}, "sort": {"iso3"}, "dir": {"desc"}}, u.Query(), "the order is in the address")

	tb.do(chromedp.SendKeys(chromedp.CSS("#f-q"), "swe"))
	assert.Equal(t, 1, eval[int](tb, `[...document.querySelectorAll("#states-table tbody tr")].filter(r => !r.hidden).length`), "filtered as one types")
	assert.Equal(t, "1", tb.text("#states-table caption .count"))

	nojs := openTab(t, ts.URL)
	_, err = chromedp.Call(nojs.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	nojs.open("/states?as_of=3MSP")
	nojs.do(chromedp.Click(chromedp.CSS(`th[data-key="iso3"] a`)), chromedp.WaitReady(chromedp.CSS(`th[data-key="iso3"][aria-sort="ascending"]`)))
	nojs.do(chromedp.Click(chromedp.CSS(`th[data-key="iso3"] a`)), chromedp.WaitReady(chromedp.CSS(`th[data-key="iso3"][aria-sort="descending"]`)))
	assert.Equal(t, last, nojs.text("#states-table tbody tr:first-child td"), "sorted by the server")
	nojs.do(chromedp.SetValue(chromedp.CSS("#f-q"), "swe"), chromedp.Submit(chromedp.CSS("#f-q")),
		chromedp.WaitReady(chromedp.CSS(`input#f-q[value="swe"]`)))
	assert.Equal(t, 1, nojs.count("#states-table tbody tr"), "filtered by the server")
	assert.Contains(t, nojs.location(), "q=swe")
	assert.Contains(t, nojs.location(), "sort=iso3", "the filter keeps the order")
}

// TestBrowserProfile: a State's profile shows the engine's timeline, its
// retracted events struck through with the reason, its derived compliance
// events and the quantities recorded.
func TestBrowserProfile(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	h, err := lg.engine.History(context.Background(), "LTU", lg.bounds(t, "3MSP"))
	require.NoError(t, err)
	var retracted, quantities int
	var reason string
	for _, e := range h.Entries {
		if e.Retracted != nil {
			if retracted++; reason == "" {
				reason = e.Retracted.Reason
			}
		}
		switch events.Type(e.Type) {
		case events.StockpileDeclared, events.StockpileDestroyed, events.RetentionDeclared:
			quantities++
		}
	}
	require.Positive(t, retracted, "the record retracts an event of Lithuania's")

	tb := openTab(t, ts.URL)
	tb.open("/states/ltu?as_of=3MSP")
	assert.Contains(t, tb.text("h1"), "Lithuania")
	assert.Equal(t, len(h.Entries), tb.count("#t-timeline tbody tr"), "every entry of the history")
	assert.Equal(t, retracted, tb.count("#t-timeline tbody tr.retracted"))
	assert.Equal(t, retracted, tb.count("#t-timeline tbody tr.retracted td:nth-child(2) del"), "struck through")
	assert.Contains(t, tb.text("#t-timeline tbody tr.retracted .reason"), firstWords(reason, 6), "with the reason")
	assert.Equal(t, quantities, tb.count("#t-quantities tbody tr"))
	assert.Equal(t, lastKnownText(h.Status.TreatyStatus, h.Status.TreatyLastKnown), tb.text("#t-articles tbody tr:first-child td"))
	assert.Positive(t, tb.count("#t-compliance tbody td.kind-entered-into-force"), "the entry into force is a derived compliance event")
	assert.Regexp(t, regexp.MustCompile(`seq \d+, \d{4}-\d\d-\d\d`), tb.text("#t-timeline tbody tr.event td:nth-child(4)"), "record times")
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	return strings.Join(w[:min(n, len(w))], " ")
}

func lastKnownText(status, last string) string {
	if last != "" && last != status {
		return status + " (last known: " + last + ")"
	}
	return status
}

// TestBrowserBadParameters: a bad date, an unknown meeting or parameter
// give a 400 page that names the parameter.
func TestBrowserBadParameters(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	tb := openTab(t, ts.URL)
	for path, field := range map[string]string{"/?as_of=2012-02-30": "as_of", "/states?as_of=99MSP": "as_of", "/diff?from=3MSP&to=1MSP": "from"} {
		res, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(ts.URL+path))
		require.NoError(t, err)
		assert.EqualValues(t, 400, res.Status, path)
		assert.Equal(t, "Bad request", tb.text("h1"), path)
		assert.Equal(t, field, tb.text("main table tbody th code"), path)
	}
}

// TestBrowserKeyboard: the first Tab reaches the skip link, which moves
// the focus to the main part; the navigation follows in order; a sortable
// header is reached by Tab and sorts with Enter.
func TestBrowserKeyboard(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	tb := openTab(t, ts.URL)
	tb.open("/states?as_of=3MSP")
	focused := func() string {
		return eval[string](tb, `(document.activeElement.textContent || document.activeElement.id || "").trim()`)
	}
	var order []string
	for range 7 {
		tb.do(chromedp.KeyEvent(kb.Tab))
		order = append(order, focused())
	}
	assert.Equal(t, []string{"Skip to content", "ccm-ledger", "Overview", "States", "Changes", "Meetings", "Sign in"}, order, "focus order")

	tb.open("/states?as_of=3MSP")
	tb.do(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
	assert.Equal(t, "main", eval[string](tb, "document.activeElement.id"), "the skip link moves the focus to the content")
	for i := 0; i < 60 && eval[string](tb, `document.activeElement.closest("th[data-key]")?.dataset.key || ""`) != "region"; i++ {
		tb.do(chromedp.KeyEvent(kb.Tab))
	}
	require.Equal(t, "region", eval[string](tb, `document.activeElement.closest("th[data-key]")?.dataset.key || ""`), "a sortable header takes the focus")
	tb.do(chromedp.KeyEvent(kb.Enter))
	assert.Equal(t, "ascending", eval[string](tb, `document.querySelector('th[data-key="region"]').getAttribute("aria-sort")`), "Enter sorts")
}

// TestBrowserLive: a page shown as of today reloads its data when an
// event is recorded; a page pinned by known_at does not listen.
func TestBrowserLive(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	tb := openTab(t, ts.URL)
	tb.open("/")
	require.Equal(t, "/events/stream", eval[string](tb, "document.body.dataset.live || ''"))
	before := tb.text(`a[data-list="article5.obligations"]`)

	ev, err := events.New(uuid.Nil, events.VictimsDeclared, "SWE", events.MustDate("2012-06-01"), nil, "test: a live page")
	require.NoError(t, err)
	_, err = lg.ledger.RecordCommand(context.Background(), ev)
	require.NoError(t, err)
	_, err = chromedp.Run(tb.ctx, chromedp.Poll[bool](`document.body.dataset.updates === "1"`, chromedp.WithPollingTimeout(time.Minute)))
	require.NoError(t, err, "the page reloads its data")
	rep, err := lg.engine.Report(context.Background(), projections.Bounds{AsOf: events.DateOf(today)})
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(len(rep.Article5.Obligations)), tb.text(`a[data-list="article5.obligations"]`), "the new figure (was %s)", before)
	assert.Contains(t, tb.text(".live-note"), "Updated")

	tb.open("/?known_at=5")
	assert.Empty(t, eval[string](tb, "document.body.dataset.live || ''"), "a cited view does not change")
}

// TestBrowserPrintAndScreenshots: printing the overview gives a report of
// a few A4 pages without navigation or forms; every page is shot at 1280
// and 390 pixels, and none is wider than a phone at 390.
func TestBrowserPrintAndScreenshots(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	dir := screenshotDir(t)
	t.Logf("screenshots and the printed overview: %s", dir)
	tb := openTab(t, ts.URL)

	tb.open("/?as_of=3MSP")
	pdf, err := chromedp.Run(tb.ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize()))
	require.NoError(t, err)
	file := filepath.Join(dir, "overview-3MSP.pdf")
	require.NoError(t, os.WriteFile(file, pdf, 0o644))
	pages := pdfPages(t, file)
	assert.GreaterOrEqual(t, pages, 1)
	assert.LessOrEqual(t, pages, 8, "a progress report of a few pages")
	text := run(t, "pdftotext", "-layout", file, "-")
	assert.Contains(t, text, "States Parties")
	assert.NotContains(t, text, "Skip to content", "no navigation on paper")
	assert.NotContains(t, text, "Known at", "no forms on paper")
	run(t, "pdftoppm", "-png", "-r", "60", file, filepath.Join(dir, "overview-3MSP-print"))

	for name, path := range map[string]string{
		"overview": "/?as_of=3MSP", "states": "/states?as_of=3MSP", "profile": "/states/LTU?as_of=3MSP",
		"diff": "/diff?from=1MSP&to=3MSP", "meetings": "/meetings", "signin": "/signin", "bad-request": "/?as_of=someday",
		"overview-today": "/",
	} {
		tb.open(path)
		for _, w := range []int64{1280, 390} {
			tb.shoot(dir, name, w)
			if w == 390 {
				wide := eval[int](tb, "document.documentElement.scrollWidth")
				assert.LessOrEqual(t, wide, 392, "%s at 390 px: the page scrolls sideways (%d px)", path, wide)
			}
		}
	}
	tb.do(chromedp.EmulateReset())
}

func pdfPages(t *testing.T, file string) int {
	t.Helper()
	out := run(t, "pdfinfo", file)
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, "pdfinfo: %s", out)
	n, _ := strconv.Atoi(m[1])
	return n
}

// run runs a command of poppler-utils; it fails the test, saying what to
// install, when the command is missing.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	_, err := exec.LookPath(name)
	require.NoError(t, err, "%s is part of poppler-utils: apt-get install poppler-utils", name)
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

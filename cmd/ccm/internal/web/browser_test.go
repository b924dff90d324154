package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The browser tests drive a headless Chromium, one for the test binary,
// started by the first test that needs it; every test opens its own tab.
// They never skip: without Chromium they fail and say how to install it.

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// chromiumPath is $CCM_CHROMIUM, or the first Chromium on PATH.
func chromiumPath() string {
	if p := os.Getenv("CCM_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browserContext returns the context of the test binary's browser,
// starting it the first time.
func browserContext(t testing.TB) context.Context {
	t.Helper()
	browser.once.Do(func() {
		path := chromiumPath()
		if path == "" {
			browser.err = fmt.Errorf("the web view's tests need Chromium, and none is on PATH: apt-get install chromium (or set CCM_CHROMIUM to its path)")
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
			chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true))
		if os.Geteuid() == 0 {
			// Chromium refuses to run as root with its sandbox.
			opts = append(opts, chromedp.NoSandbox)
		}
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.ctx, browser.cancel = bctx, func() { bcancel(); acancel() }
		// A loaded machine starts Chromium slowly; the start is bounded
		// by the allocator's context only, so a slow start is no failure.
		browser.err = chromedp.Do(bctx)
	})
	require.NoError(t, browser.err, "start Chromium")
	return browser.ctx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tabTimeout bounds everything one tab does: generous, for a loaded
// machine; no test asserts a duration.
const tabTimeout = 3 * time.Minute

// tab is one browser tab on a test server, recording every request the
// page makes and every script error, CSP violation or console error.
type tab struct {
	t    testing.TB
	ctx  context.Context
	base string

	mu       sync.Mutex
	urls     []string
	problems []string
}

// openTab opens a tab; at the test's end it checks that no request left
// the server and that the pages raised no error.
func openTab(t testing.TB, base string) *tab {
	t.Helper()
	tctx, cancel := chromedp.NewContext(browserContext(t))
	ctx, tcancel := context.WithTimeout(tctx, tabTimeout)
	tb := &tab{t: t, ctx: ctx, base: base}
	t.Cleanup(func() {
		tcancel()
		cancel()
	})
	require.NoError(t, chromedp.Do(tctx), "open a tab")
	require.NoError(t, chromedp.Listen(tctx, tb.event))
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	require.NoError(t, err)
	t.Cleanup(tb.check)
	return tb
}

func (tb *tab) event(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.urls = append(tb.urls, e.Request.URL)
	case *runtime.EventExceptionThrown:
		tb.problems = append(tb.problems, "exception: "+e.ExceptionDetails.Text)
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			tb.problems = append(tb.problems, "console error")
		}
	case *cdplog.EventEntryAdded:
		// A CSP violation, a failed load (other than the 4xx pages the
		// tests ask for) or a script error is an entry of level error.
		if e.Entry.Level == cdplog.EntryLevelError && !strings.Contains(e.Entry.Text, "status of 4") {
			tb.problems = append(tb.problems, string(e.Entry.Source)+": "+e.Entry.Text)
		}
	}
}

// check fails the test when a request went to another host or a page
// raised an error.
func (tb *tab) check() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, u := range tb.urls {
		if !strings.HasPrefix(u, tb.base+"/") && u != tb.base && !strings.HasPrefix(u, "data:") && u != "about:blank" {
			tb.t.Errorf("a request left the server: %s", u)
		}
	}
	if len(tb.urls) == 0 {
		tb.t.Errorf("no request was seen: the network listener is not working")
	}
	for _, p := range tb.problems {
		tb.t.Errorf("the page raised an error: %s", p)
	}
}

// do runs actions, failing the test on an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	require.NoError(tb.t, chromedp.Do(tb.ctx, actions...))
}

// eval evaluates a JavaScript expression.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	require.NoError(tb.t, err, "evaluate %s", js)
	return v
}

// open navigates to a path of the server and waits for its main part.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// text is the text of the first element a CSS selector matches.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(tb.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

// count is the number of elements a CSS selector matches.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// location is the tab's URL, relative to the server.
func (tb *tab) location() string {
	tb.t.Helper()
	u, err := chromedp.Run(tb.ctx, chromedp.Location())
	require.NoError(tb.t, err)
	return strings.TrimPrefix(u, tb.base)
}

// screenshotDir is $CCM_SCREENSHOTS, or ccm-screenshots in the temporary
// directory: kept after the tests, for a person to look at.
func screenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CCM_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ccm-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// shoot writes a full-page screenshot of the tab at a width.
func (tb *tab) shoot(dir, name string, width int64) {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(width, 900, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
		p.Mobile = width < 600
	}))
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(tb.t, err)
	require.NoError(tb.t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, width)), png, 0o644))
}

// Package browser drives headless Chromium (Debian's chromium package; .ci/run installs it) with
// chromedp for the pages' tests: a page's console errors and failed requests, an accessibility
// check (labels, text contrast, keyboard focus, no sideways scrolling), screenshots.
//
// Without Chromium the tests skip, unless IOTWATCH_REQUIRE (CI: all) makes that a failure.
package browser

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

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/iotwatch/iotwatch/shared/testsupport/need"
)

// Viewports are the sizes every page is checked at: a laptop's and a phone's.
var Viewports = []Viewport{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// Viewport is a window size; Mobile emulates a phone (touch, device-width layout).
type Viewport struct {
	Name   string
	W, H   int64
	Mobile bool
}

// Browser is one headless Chromium for a test binary's tests.
type Browser struct {
	ctx    context.Context
	cancel func()
}

func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start starts Chromium, or skips the test when there is none (fails where need.Required).
func Start(t testing.TB) *Browser {
	t.Helper()
	path := chromium()
	if path == "" {
		need.Missing(t, need.Chromium, "Chromium is not installed (apt-get install chromium; .ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	b := &Browser{ctx: ctx, cancel: func() { cancel(); cancelAlloc() }}
	t.Cleanup(b.cancel)
	return b
}

// Page is one tab.
type Page struct {
	t        testing.TB
	Ctx      context.Context
	mu       sync.Mutex
	errors   []string
	requests []string
}

// Open opens url in a new tab at the viewport, and collects the tab's console errors, uncaught
// exceptions and failed requests from then on.
func (b *Browser) Open(t testing.TB, url string, vp Viewport) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	p := &Page{t: t, Ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				p.errors = append(p.errors, "console: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			p.errors = append(p.errors, "exception: "+e.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError {
				p.errors = append(p.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, e.Request.URL)
		case *network.EventLoadingFailed:
			if !e.Canceled {
				p.errors = append(p.errors, "request failed: "+e.ErrorText)
			}
		}
	})
	emulate := chromedp.EmulateViewport(vp.W, vp.H)
	if vp.Mobile {
		emulate = chromedp.EmulateViewport(vp.W, vp.H, chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	// In front: a tab opened while the last one is still closing may otherwise be a background
	// tab, which Chromium does not render (a screenshot then waits for a frame that never comes).
	if err := chromedp.Run(ctx, page.BringToFront(), log.Enable(), network.Enable(), emulate, chromedp.Navigate(url), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return p
}

// Errors are what the page reported as errors so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Requests are the URLs the page requested so far (itself, its assets, its streams).
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Run runs chromedp actions in the tab, failing the test on an error.
func (p *Page) Run(actions ...chromedp.Action) {
	p.t.Helper()
	if err := chromedp.Run(p.Ctx, actions...); err != nil {
		p.t.Fatalf("in the browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression into out.
func (p *Page) Eval(js string, out any) {
	p.t.Helper()
	p.Run(chromedp.Evaluate(js, out))
}

// WaitFor polls a JavaScript condition until it is true, or fails after d.
func (p *Page) WaitFor(js string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		if err := chromedp.Run(p.Ctx, chromedp.Evaluate("!!("+js+")", &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for %s", d, js)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Screenshot writes the viewport as a PNG to dir/name.png and returns the path.
func (p *Page) Screenshot(dir, name string) string {
	p.t.Helper()
	var png []byte
	p.Run(page.BringToFront(), chromedp.CaptureScreenshot(&png))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// a11yJS lists the page's accessibility problems: a document language, a label for every form
// control, text for every link and button, a text alternative for every image, WCAG AA contrast
// for every visible text (4.5:1; 3:1 for large text) against the background it is drawn on, and
// no content wider than the viewport.
const a11yJS = `(() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("the document has no lang");
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const label = (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) || el.closest('label') || el.getAttribute('aria-label');
    if (!label) problems.push('no label: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!(el.textContent.trim() || el.getAttribute('aria-label'))) problems.push('no text: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('img, svg, [role=img]')) {
    if (el.closest('[role=img][aria-label]') && el.closest('[role=img][aria-label]') !== el) continue;
    if (el.tagName === 'IMG' ? !el.hasAttribute('alt') : !(el.getAttribute('aria-label') || el.getAttribute('aria-hidden') === 'true'))
      problems.push('no text alternative: ' + el.outerHTML.slice(0, 80));
  }
  const rgb = s => { const m = s.match(/rgba?\(([^)]+)\)/); return m ? m[1].split(/[\s,\/]+/).filter(Boolean).map(Number) : null; };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c && (c.length < 4 || c[3] > 0.5)) return c; } return [255, 255, 255]; };
  const lum = c => { const a = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('script, style, .skip') || el.getClientRects().length === 0) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.opacity === '0') continue;
    const fg = rgb(cs.color), b = bg(el);
    if (!fg) continue;
    const l1 = lum(fg), l2 = lum(b), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight) >= 700;
    const need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
    if (ratio < need - 0.01) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': "' + node.textContent.trim().slice(0, 40) + '"');
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('wider than the viewport: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
  return problems;
})()`

var focusable = map[string]bool{"A": true, "BUTTON": true, "INPUT": true, "SELECT": true, "SUMMARY": true, "TEXTAREA": true}

// Accessibility fails the test for every problem a11yJS finds, then presses Tab: the first
// focus goes to the skip link, and each of the next ones to a link, button or form control that
// shows where the focus is (an outline).
func (p *Page) Accessibility() {
	p.t.Helper()
	var problems []string
	p.Eval(a11yJS, &problems)
	for _, pr := range problems {
		p.t.Error("accessibility: " + pr)
	}
	for i := range 4 {
		var focus struct {
			Tag, Text, Outline string
		}
		p.Run(chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(`(() => { const e = document.activeElement; const cs = getComputedStyle(e);
			return {tag: e.tagName, text: (e.textContent || '').trim().slice(0, 40), outline: cs.outlineStyle + ' ' + cs.outlineWidth}; })()`, &focus))
		if i == 0 && !strings.Contains(focus.Text, "Skip to the content") {
			p.t.Errorf("the first Tab focuses %s %q, not the skip link", focus.Tag, focus.Text)
		}
		if !focusable[focus.Tag] || strings.HasPrefix(focus.Outline, "none") || strings.HasSuffix(focus.Outline, " 0px") {
			p.t.Errorf("Tab %d focuses %s %q with outline %q: the focus must show", i+1, focus.Tag, focus.Text, focus.Outline)
		}
	}
}

// NoErrors fails the test for each error the page reported.
func (p *Page) NoErrors(what string) {
	p.t.Helper()
	for _, e := range p.Errors() {
		p.t.Errorf("%s: %s", what, e)
	}
}

// String names the viewport.
func (v Viewport) String() string { return fmt.Sprintf("%s %dx%d", v.Name, v.W, v.H) }

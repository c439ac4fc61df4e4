package links_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/browser"
)

// TestThePagesScriptIsTheOneAllowed: the page's only script is the one its Content-Security-Policy
// allows by hash (any other script, and a changed one, is refused by the browser).
func TestThePagesScriptIsTheOneAllowed(t *testing.T) {
	e := newEnv(t)
	e.reading(t, 0, 25)
	e.now = t0.Add(time.Minute)
	res, err := http.Post(e.pub.ns[0].SnoozeLink, "", nil)
	require.NoError(t, err)
	defer res.Body.Close()
	page, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(string(page), -1)
	require.Len(t, scripts, 1, string(page))
	sum := sha256.Sum256([]byte(scripts[0][1]))
	policy := res.Header.Get("Content-Security-Policy")
	assert.Contains(t, policy, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	assert.Contains(t, policy, "default-src 'none'")
}

// TestSnoozeEndsOnTheReadersClock: in a browser in Asia/Kolkata, the snooze's end reads on its
// clock (UTC+5:30), the zone named; the script runs under the page's policy (no error).
func TestSnoozeEndsOnTheReadersClock(t *testing.T) {
	b := browser.Start(t)
	e := newEnv(t)
	e.reading(t, 0, 25)
	e.now = t0.Add(time.Minute) // the snooze ends an hour later: 2026-03-01T09:01:00Z
	p := b.Open(t, "about:blank", browser.Viewports[0])
	p.Run(emulation.SetTimezoneOverride("Asia/Kolkata"), chromedp.Navigate(e.pub.ns[0].SnoozeLink), chromedp.WaitReady("button"))
	p.Run(chromedp.Evaluate(`document.querySelector("form").submit()`, nil)) // the button's post (a Click waits on the page it leaves)
	p.WaitFor(`document.querySelector("time") && document.querySelector("time").textContent.includes("(")`, 20*time.Second)
	var text string
	p.Eval(`document.querySelector("time").textContent`, &text)
	assert.Contains(t, text, "2:31", "09:01 UTC is 14:31 in Kolkata")
	assert.Regexp(t, `\(Asia/(Kolkata|Calcutta)\)$`, text, "the zone named (Chromium's ICU says Calcutta)")
	p.NoErrors("the snooze page")
}

// Package links is the one-click acknowledge and snooze of iotwatch's emails and SMS (DESIGN.md,
// "Acknowledge and snooze"). A link names a device and carries a short code, an HMAC-SHA256 under
// the deployment's secret of what it may do: the action, the device, the user, the rule, the
// start of the episode it was sent for, and the day it was sent (it expires 7 days later). Its
// page asks for a confirmation (a GET changes nothing, so a mail scanner that follows links
// acknowledges nothing); the confirmation (a POST) acts through evaluator.Act. A link for another
// episode, an altered one, an expired one or one already used gets a page that says so and
// changes nothing. The same http.Handler serves `iotwatch run --http` and the AWS function.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// Action is what a link does.
type Action string

// The actions of links, as their paths spell them.
const (
	Ack    Action = "a" // acknowledge the episode
	Snooze Action = "z" // snooze the user's rule on the device for SnoozeFor
)

// SnoozeFor is how long a snooze link snoozes.
const SnoozeFor = time.Hour

// MaxAge is how long a link works after the day it was sent.
const MaxAge = 7 * 24 * time.Hour

// MinSecret is the shortest secret accepted, in bytes.
const MinSecret = 32

// Signer makes and checks links.
type Signer struct {
	secret []byte
	base   string // where the handler is served, without a trailing slash
}

// NewSigner returns a signer; base is the URL the handler is served at ("" for one that only
// checks links, as the handler does: it need not know its own address).
func NewSigner(secret []byte, base string) (*Signer, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("the links' secret has %d bytes; want at least %d", len(secret), MinSecret)
	}
	if base == "" {
		return &Signer{secret: append([]byte(nil), secret...)}, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("links' base URL %q: want http(s)://host[/path]", base)
	}
	return &Signer{secret: append([]byte(nil), secret...), base: strings.TrimSuffix(base, "/")}, nil
}

var code32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// code is the link's code: 16 characters of the HMAC of what it allows.
func (s *Signer) code(a Action, device, user string, rule alert.Rule, episodeStartMs int64, day string) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "iotwatch-link-v1\x00%s\x00%s\x00%s\x00%s\x00%d\x00%s", a, device, user, rule, episodeStartMs, day)
	return strings.ToLower(code32.EncodeToString(m.Sum(nil)[:10]))
}

// Links are the links an alert's texts carry.
type Links struct {
	Ack, Snooze string
}

// For returns the links of an alert of the episode that opened at episodeStartMs (its OPEN's
// window start: an ESCALATE's own window is its VIOLATION run): for an OPEN, ESCALATE or REMIND
// (the others have nothing to act on), empty otherwise. The same alert, the same links.
func (s *Signer) For(a *alert.Alert, episodeStartMs int64) Links {
	if s == nil || s.base == "" || (a.Kind != alert.Open && a.Kind != alert.Escalate && a.Kind != alert.Remind) {
		return Links{}
	}
	start := episodeStartMs
	day := a.AlertTime.UTC().Format(time.DateOnly)
	path := s.base + "/%s/" + url.PathEscape(a.DeviceID) + "/"
	return Links{
		Ack:    fmt.Sprintf(path, Ack) + s.code(Ack, a.DeviceID, a.UserID, a.Rule, start, day),
		Snooze: fmt.Sprintf(path, Snooze) + s.code(Snooze, a.DeviceID, a.UserID, a.Rule, start, day),
	}
}

// LinksFor implements evaluator.Linker.
func (s *Signer) LinksFor(a *alert.Alert, episodeStartMs int64) (ack, snooze string) {
	l := s.For(a, episodeStartMs)
	return l.Ack, l.Snooze
}

// Verdict is what a link's code says, checked against a device's open episodes.
type Verdict struct {
	OK      bool
	Expired bool // it matched, but more than MaxAge after the day it was sent
	Episode alarm.Episode
	Day     string
}

// Check finds the open episode of the device a code was made for, sent on a day from MaxAge
// before now; an expired code is told apart from an unknown one (altered, for an episode that is
// over, or not from this deployment) by trying 30 more days.
func (s *Signer) Check(a Action, device, code string, episodes []alarm.Episode, now time.Time) Verdict {
	today := now.UTC().Truncate(24 * time.Hour)
	days := int(MaxAge / (24 * time.Hour))
	for d := 0; d <= days+30; d++ {
		day := today.AddDate(0, 0, -d).Format(time.DateOnly)
		for _, e := range episodes {
			if hmac.Equal([]byte(code), []byte(s.code(a, device, e.User, e.Rule, e.Since.UnixMilli(), day))) {
				sent, _ := time.Parse(time.DateOnly, day)
				expired := now.Sub(sent) > MaxAge+24*time.Hour // MaxAge from the end of the day it was sent
				return Verdict{OK: !expired, Expired: expired, Episode: e, Day: day}
			}
		}
	}
	return Verdict{}
}

// Parse reads a link's path: /{a|z}/{device}/{code}.
func Parse(path string) (Action, string, string, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 3 || (parts[0] != string(Ack) && parts[0] != string(Snooze)) {
		return "", "", "", fmt.Errorf("not a link")
	}
	device, err := url.PathUnescape(parts[1])
	if err != nil || device == "" {
		return "", "", "", fmt.Errorf("not a link")
	}
	if len(parts[2]) != 16 {
		return "", "", "", fmt.Errorf("not a link")
	}
	return Action(parts[0]), device, parts[2], nil
}

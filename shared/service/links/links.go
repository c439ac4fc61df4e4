// Package links is the one-click acknowledge and snooze of iotwatch's emails and SMS (DESIGN.md,
// "Acknowledge and snooze"). A link names a device and carries a short token: the day the alert
// was sent, a name of the episode it was sent for (of the user, the rule and the episode's
// start), and an HMAC-SHA256 under the deployment's secret of those and the action, so that a
// forged or expired link is refused before the table is read (it expires 7 days after the day
// it was sent). Its page asks for a confirmation (a GET changes nothing, so a mail scanner that
// follows links acknowledges nothing); the confirmation (a POST) acts through evaluator.Act. A
// link for another episode, an altered one, an expired one or one already used gets a page that
// says so and changes nothing. The same http.Handler serves `iotwatch run --http` and the AWS
// function.
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

// A link's token is what the link allows, readable without the table, and its MAC: 10 bytes
// written as 16 characters of lowercase base32, as short as the codes of the first links, so
// that an SMS keeps its link (alert.SMSWithLink leaves out a link of more than 99 characters; a
// function URL's is 68 before its path):
//
//	day      1 byte: the UTC day the alert was sent, in days since 1970-01-01, modulo 256 (the
//	         day is the latest one with that remainder up to tomorrow; the MAC is over all of it)
//	episode  5 bytes: the first 5 of HMAC-SHA256(secret, "iotwatch-episode-v2", device, user,
//	         rule, the episode's OPEN window start in ms), which names the episode on its device
//	mac      4 bytes: the first 4 of HMAC-SHA256(secret, "iotwatch-link-v2", action, device,
//	         day, episode)
//
// The MAC covers everything the path carries, so a forged or altered link is refused after one
// HMAC, before the table is read, whatever the number of the device's open episodes; an expired
// one too (its day is in the token). Only a link this deployment made costs a read of the device
// and one HMAC per open episode of it, to find the episode it names. The bits are shared for
// what each guards: the MAC's 32 only keep the table from being read (a forger's request reads
// it once in 2^32), while acting needs them and the 40 bits of an open episode's name too, both
// keyed (72 bits); a name shared by accident with another open episode of the device would
// make a link act on the wrong one, so it gets the larger share (about (k-1) in 2^40 a link,
// with k open episodes on the device).
const (
	dayBytes     = 1
	episodeBytes = 5
	macBytes     = 4
	tokenBytes   = dayBytes + episodeBytes + macBytes
)

// TokenLen is the length of a link's token in its path.
var TokenLen = code32.EncodedLen(tokenBytes)

// episodeID names an episode of a device in a token.
func (s *Signer) episodeID(device, user string, rule alert.Rule, episodeStartMs int64) [episodeBytes]byte {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "iotwatch-episode-v2\x00%s\x00%s\x00%s\x00%d", device, user, rule, episodeStartMs)
	var id [episodeBytes]byte
	copy(id[:], m.Sum(nil))
	return id
}

// mac is the MAC of a token's day and episode for an action on a device.
func (s *Signer) mac(a Action, device string, day int64, episode [episodeBytes]byte) []byte {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "iotwatch-link-v2\x00%s\x00%s\x00%d\x00", a, device, day)
	m.Write(episode[:])
	return m.Sum(nil)[:macBytes]
}

// dayOf is t's UTC day, in days since 1970-01-01.
func dayOf(t time.Time) int64 {
	return t.UTC().Unix() / 86400
}

// dayFrom is the latest day up to tomorrow (a clock a little behind the signer's) whose
// remainder modulo 256 is r.
func dayFrom(r byte, now time.Time) int64 {
	last := dayOf(now) + 1
	return last - int64(byte(last)-r)
}

func (s *Signer) token(a Action, device, user string, rule alert.Rule, episodeStartMs int64, sent time.Time) string {
	day := dayOf(sent)
	episode := s.episodeID(device, user, rule, episodeStartMs)
	b := make([]byte, 0, tokenBytes)
	b = append(b, byte(day))
	b = append(b, episode[:]...)
	b = append(b, s.mac(a, device, day, episode)...)
	return strings.ToLower(code32.EncodeToString(b))
}

// Links are the links an alert's texts carry.
type Links struct {
	Ack, Snooze string
}

// For returns the links of an alert of the episode that opened at episodeStartMs (its OPEN's
// window start: an ESCALATE's own window is its VIOLATION run), sent at sent (the wall clock of
// the evaluation that sends it, not the reading's event time: an old reading's alert gets a
// week too, a device whose clock is fast does not date its links ahead): for an OPEN, ESCALATE
// or REMIND (the others have nothing to act on), empty otherwise. The same alert sent on the
// same day, the same links.
func (s *Signer) For(a *alert.Alert, episodeStartMs int64, sent time.Time) Links {
	if s == nil || s.base == "" || (a.Kind != alert.Open && a.Kind != alert.Escalate && a.Kind != alert.Remind) {
		return Links{}
	}
	path := s.base + "/%s/" + url.PathEscape(a.DeviceID) + "/"
	return Links{
		Ack:    fmt.Sprintf(path, Ack) + s.token(Ack, a.DeviceID, a.UserID, a.Rule, episodeStartMs, sent),
		Snooze: fmt.Sprintf(path, Snooze) + s.token(Snooze, a.DeviceID, a.UserID, a.Rule, episodeStartMs, sent),
	}
}

// LinksFor implements evaluator.Linker.
func (s *Signer) LinksFor(a *alert.Alert, episodeStartMs int64, sent time.Time) (ack, snooze string) {
	l := s.For(a, episodeStartMs, sent)
	return l.Ack, l.Snooze
}

// Status is what a link's path says before the table is read.
type Status int

// The statuses of a link's path.
const (
	NotALink Status = iota // not /{a|z}/{device}/{token}
	Altered                // its MAC does not match: altered, forged, from another deployment, or a link of the first format
	Expired                // made here, more than MaxAge after the day it was sent
	Valid                  // made here, and not expired: what it names is still to be found
)

// Token is a link's path read, and its MAC checked.
type Token struct {
	Action Action
	Device string
	// Code is the token as the path spells it: what marks the link used.
	Code string
	// Sent is the UTC day the link was sent, Expires when it stops working.
	Sent, Expires time.Time
	episode       [episodeBytes]byte
}

// Verify reads a link's path, /{a|z}/{device}/{token}, and checks its MAC and its age: one HMAC,
// no read of the table, whatever the path holds.
func (s *Signer) Verify(path string, now time.Time) (Token, Status) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 3 || (parts[0] != string(Ack) && parts[0] != string(Snooze)) {
		return Token{}, NotALink
	}
	device, err := url.PathUnescape(parts[1])
	if err != nil || device == "" {
		return Token{}, NotALink
	}
	// Lower case only, and 16 characters for 10 bytes (no spare bits): one spelling per token,
	// so that a used link cannot be used again spelled otherwise.
	code := parts[2]
	b, err := code32.DecodeString(strings.ToUpper(code))
	if err != nil || len(code) != TokenLen || len(b) != tokenBytes || strings.ToLower(code) != code {
		return Token{}, NotALink
	}
	day := dayFrom(b[0], now)
	var episode [episodeBytes]byte
	copy(episode[:], b[dayBytes:])
	a := Action(parts[0])
	if !hmac.Equal(b[dayBytes+episodeBytes:], s.mac(a, device, day, episode)) {
		return Token{}, Altered
	}
	sent := time.Unix(day*86400, 0).UTC()
	t := Token{Action: a, Device: device, Code: code, Sent: sent, Expires: sent.Add(MaxAge + 24*time.Hour), episode: episode}
	if now.After(t.Expires) { // MaxAge from the end of the day it was sent
		return t, Expired
	}
	return t, Valid
}

// Find returns the open episode a verified token names, among the device's: false when it is
// over, or when the name fits more than one (the link then does nothing rather than guess).
func (s *Signer) Find(t Token, episodes []alarm.Episode) (alarm.Episode, bool) {
	var found alarm.Episode
	n := 0
	for _, e := range episodes {
		if s.episodeID(t.Device, e.User, e.Rule, e.Since.UnixMilli()) == t.episode {
			found = e
			n++
		}
	}
	return found, n == 1
}

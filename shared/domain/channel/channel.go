// Package channel is where a person's alerts go besides SNS email and SMS (issue 25): a Slack or
// Teams incoming webhook, any HTTPS webhook, a PagerDuty service. It reads and writes the
// channels CSV (`user_id,channel,target,min_severity,secret`), validated whole: one bad cell
// refuses the file, and the error names the file, line and field. It decides, without state,
// which alert goes to which channel (Routes), and names an episode for PagerDuty (EpisodeKey).
// It does no I/O: the senders are shared/service/notify's.
package channel

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Header is the channels CSV's header.
var Header = []string{"user_id", "channel", "target", "min_severity", "secret"}

// Kind is the kind of a channel.
type Kind string

// The kinds of channel. Email and SMS go through SNS, on AWS only.
const (
	Email     Kind = "email"
	SMS       Kind = "sms"
	Slack     Kind = "slack"
	Teams     Kind = "teams"
	Webhook   Kind = "webhook"
	PagerDuty Kind = "pagerduty"
)

// Kinds lists every kind, in the order messages name them.
var Kinds = []Kind{Email, SMS, Slack, Teams, Webhook, PagerDuty}

// DefaultMinSeverity is a channel's min_severity when its cell is empty: every alert of every
// episode (WARNING is the lowest severity, so nothing is left out by default).
const DefaultMinSeverity = alert.Warning

// MinSecretLen is the shortest webhook secret: 16 bytes, 128 bits when they are random, the
// least an HMAC key should have.
const MinSecretLen = 16

// Channel is one destination of one person's alerts.
type Channel struct {
	UserID string
	Kind   Kind
	// Target is where it goes: an email address, an E.164 phone number, a Slack, Teams or
	// webhook URL, a PagerDuty routing key. For Slack, Teams and PagerDuty the target itself is
	// a secret (whoever has it can post): print Redacted, never Target.
	Target string
	// MinSeverity is the least severity an episode must have reached for its alerts to go here.
	MinSeverity alert.Severity
	// Secret is a webhook's HMAC-SHA256 key ("" for the other kinds).
	Secret string
}

// ID names the channel without its secrets (a hash of user, kind and target): dead letters and
// logs carry it, and it finds the channel in its file or table again.
func (c *Channel) ID() string {
	sum := sha256.Sum256([]byte(c.UserID + "\x00" + string(c.Kind) + "\x00" + c.Target))
	return hex.EncodeToString(sum[:8])
}

// Redacted is the target as it may be printed: a URL's scheme and host only
// ("https://hooks.slack.com/***"), a routing key's last 4 characters ("***c6f1"); email
// addresses and phone numbers as they are (they are the user's own, and not credentials).
func (c *Channel) Redacted() string {
	switch c.Kind {
	case Slack, Teams, Webhook:
		u, err := url.Parse(c.Target)
		if err != nil || u.Host == "" {
			return "***"
		}
		return u.Scheme + "://" + u.Host + "/***"
	case PagerDuty:
		if len(c.Target) < 8 {
			return "***"
		}
		return "***" + c.Target[len(c.Target)-4:]
	}
	return c.Target
}

// String is the channel as listings show it, secrets redacted.
func (c Channel) String() string {
	s := fmt.Sprintf("%s %s %s %s", c.UserID, c.Kind, c.Redacted(), c.minSeverity())
	if c.Secret != "" {
		s += " secret ***"
	}
	return s
}

// GoString keeps secrets out of %#v too.
func (c Channel) GoString() string { return "channel.Channel{" + c.String() + "}" }

func (c *Channel) minSeverity() alert.Severity {
	if c.MinSeverity == "" {
		return DefaultMinSeverity
	}
	return c.MinSeverity
}

// routingKey is the shape of a PagerDuty Events API v2 routing key: 32 letters and digits (an
// integration key is 32 lowercase hex digits, e.g. 3fcc9112463424b599f996f9e780dfc6).
var routingKey = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// phone is an E.164 number, the form SNS sends SMS to.
var phone = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Validate checks a channel's cells (as Put and the CSV reader do), naming the field of the
// first problem; it fills MinSeverity's default.
func (c *Channel) Validate() (field string, err error) {
	if err := threshold.ValidUserID(c.UserID); err != nil {
		return "user_id", err
	}
	switch c.Kind {
	case Email:
		a, err := mail.ParseAddress(c.Target)
		if err != nil || a.Address != c.Target {
			return "target", fmt.Errorf("%q is not an email address (name@example.com)", c.Target)
		}
	case SMS:
		if !phone.MatchString(c.Target) {
			return "target", fmt.Errorf("%q is not a phone number in E.164 form (+ country code and number, e.g. +14155550100)", c.Target)
		}
	case Slack, Teams, Webhook:
		if err := ValidURL(c.Target); err != nil {
			return "target", err
		}
	case PagerDuty:
		if !routingKey.MatchString(c.Target) {
			return "target", fmt.Errorf("is not a PagerDuty Events API v2 routing key (32 letters and digits, the integration key of the service's Events API v2 integration)")
		}
	default:
		return "channel", fmt.Errorf("%q is not a channel (known: %s)", c.Kind, kindList())
	}
	switch c.MinSeverity {
	case "":
		c.MinSeverity = DefaultMinSeverity
	case alert.Warning, alert.Violation:
	default:
		return "min_severity", fmt.Errorf("%q: want WARNING or VIOLATION (empty: WARNING)", c.MinSeverity)
	}
	switch {
	case c.Kind == Webhook && c.Secret == "":
		return "secret", fmt.Errorf("a webhook needs a secret to sign its requests (at least %d characters)", MinSecretLen)
	case c.Kind == Webhook && len(c.Secret) < MinSecretLen:
		return "secret", fmt.Errorf("is shorter than %d characters", MinSecretLen)
	case c.Kind != Webhook && c.Secret != "":
		return "secret", fmt.Errorf("only a webhook takes a secret (a %s channel's target is its credential)", c.Kind)
	}
	return "", nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ValidURL checks a Slack, Teams or webhook target: an absolute https URL, or http on loopback
// (127.0.0.0/8, ::1, localhost) for receivers on the same machine and tests; no user:password
// part (it would be sent in clear to whoever logs URLs).
func ValidURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", Redact(s), err)
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q is not an absolute URL (https://host/path)", Redact(s))
	case u.User != nil:
		return fmt.Errorf("%q has a user:password part; put credentials in the path or the secret", Redact(s))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && Loopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q is http on a host that is not loopback: use https (http only on 127.0.0.0/8, ::1, localhost)", Redact(s))
	}
	return fmt.Errorf("%q: want an https URL", Redact(s))
}

// Redact is a URL with its path, query and credentials hidden, for messages.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if len(s) > 12 {
			return s[:8] + "***"
		}
		return "***"
	}
	return u.Scheme + "://" + u.Host + "/***"
}

// Loopback reports whether host (no port) is this machine: localhost, 127.0.0.0/8 or ::1.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseCSV reads a whole channels file (columns matched by name; user_id, channel and target
// required; name is the file name used in messages). Any invalid line refuses the file: the
// error joins one *csvfile.LineError per problem, and no channel is returned. A (user, channel,
// target) named twice is refused.
func ParseCSV(r io.Reader, name string) ([]Channel, error) {
	seen := map[[3]string]int{}
	return csvfile.Read(r, name, csvfile.Columns{Known: Header, Required: []string{"user_id", "channel", "target"}}, func(row *csvfile.Row) Channel {
		c := Channel{
			UserID:      row.Get("user_id"),
			Kind:        Kind(strings.ToLower(row.Get("channel"))),
			Target:      row.Get("target"),
			MinSeverity: alert.Severity(strings.ToUpper(row.Get("min_severity"))),
			Secret:      row.Get("secret"),
		}
		if field, err := c.Validate(); err != nil {
			row.Errorf(field, "%v", err)
			return c
		}
		k := [3]string{c.UserID, string(c.Kind), c.Target}
		if prev, dup := seen[k]; dup {
			row.Errorf("target", "user %q's %s channel to %s is already on line %d", c.UserID, c.Kind, c.Redacted(), prev)
		} else {
			seen[k] = row.Line()
		}
		return c
	})
}

// WriteCSV writes channels in the CSV's form (ParseCSV reads it back). It writes secrets: the
// file is the user's own, to be kept as private as the targets it holds.
func WriteCSV(w io.Writer, chans []Channel) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, c := range chans {
		if err := cw.Write([]string{c.UserID, string(c.Kind), c.Target, string(c.minSeverity()), c.Secret}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ByID finds the channel whose ID is id (a dead letter's), if chans still has it.
func ByID(chans []Channel, id string) (Channel, bool) {
	for _, c := range chans {
		if c.ID() == id {
			return c, true
		}
	}
	return Channel{}, false
}

// Of returns the channels of user, in their order.
func Of(chans []Channel, user string) []Channel {
	var out []Channel
	for _, c := range chans {
		if c.UserID == user {
			out = append(out, c)
		}
	}
	return out
}

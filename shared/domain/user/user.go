// Package user holds what a person who receives alerts chose for themselves: their time zone,
// their quiet hours in it, and the lowest severity that still reaches them during quiet hours
// (DESIGN.md, "Acknowledge and snooze"). It reads and writes the users CSV
// (`user_id,timezone,quiet_hours,quiet_min_severity`), validated whole: one bad cell refuses the
// file, and the error names the file, line and field.
package user

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones everywhere, a Lambda's minimal image included

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Header is the users CSV's header.
var Header = []string{"user_id", "timezone", "quiet_hours", "quiet_min_severity", "units"}

// DefaultQuietMinSeverity is what reaches a user during quiet hours when they did not say.
const DefaultQuietMinSeverity = alert.Violation

// Quiet is a daily window of local wall-clock time, in minutes after midnight: From inclusive,
// To exclusive. From > To crosses midnight (22:00-07:00); From == To is no window.
type Quiet struct {
	From, To int
}

// User is one person's preferences.
type User struct {
	ID       string
	Zone     *time.Location // an IANA zone (UTC when the cell is empty)
	ZoneName string         // as written, for writing it back
	Quiet    Quiet
	// QuietMinSeverity is the lowest severity sent during quiet hours (the rest is held for the
	// digest).
	QuietMinSeverity alert.Severity
	// Units is the system the user reads values in ("" as written: metric).
	Units alert.UnitSystem
}

// Presentation is how the user reads alerts' texts: in their units, on their zone's clock, with
// the metrics' units of catalog (nil: the built-ins' only). A nil user reads metric and UTC.
func (u *User) Presentation(catalog alert.Units) alert.Presentation {
	if u == nil {
		return alert.Presentation{Catalog: catalog}
	}
	return alert.Presentation{Units: u.Units, Zone: u.zone(), Catalog: catalog}
}

// HasQuiet reports whether the user has quiet hours.
func (u *User) HasQuiet() bool { return u.Quiet.From != u.Quiet.To }

// InQuiet reports whether t falls in the user's quiet hours, on the wall clock of their zone on
// that day (so that 22:00-07:00 stays 22:00-07:00 across a change of daylight saving time).
func (u *User) InQuiet(t time.Time) bool {
	if !u.HasQuiet() {
		return false
	}
	lt := t.In(u.zone())
	m := lt.Hour()*60 + lt.Minute()
	if u.Quiet.From < u.Quiet.To {
		return m >= u.Quiet.From && m < u.Quiet.To
	}
	return m >= u.Quiet.From || m < u.Quiet.To
}

// QuietEnd is when the quiet hours that t falls in end (the digest goes out then); t itself
// when t is not in quiet hours. It is always after t. An end in a spring-forward gap is where
// time.Date puts it (02:30 in Paris's gap is 03:30 CEST); an end in an autumn hour that happens
// twice is its second instant when the first is not after t (an alert at the second 01:15 of
// a window ending 01:30 waits for the second 01:30).
func (u *User) QuietEnd(t time.Time) time.Time {
	if !u.InQuiet(t) {
		return t
	}
	lt := t.In(u.zone())
	m := lt.Hour()*60 + lt.Minute()
	day := lt
	if u.Quiet.From > u.Quiet.To && m >= u.Quiet.From {
		day = lt.AddDate(0, 0, 1) // 23:30 in 22:00-07:00 ends tomorrow
	}
	end := time.Date(day.Year(), day.Month(), day.Day(), u.Quiet.To/60, u.Quiet.To%60, 0, 0, u.zone())
	if !end.After(t) {
		end = end.Add(time.Hour) // the repeated hour's second instant
	}
	if !end.After(t) {
		end = t.Add(time.Minute) // cannot happen with whole-hour DST changes; never before t
	}
	return end
}

// Holds reports whether an alert of severity sev at time t is held for the user's digest
// instead of sent: it falls in quiet hours and is below their quiet_min_severity.
func (u *User) Holds(sev alert.Severity, t time.Time) bool {
	return u.InQuiet(t) && rank(sev) < rank(u.minSeverity())
}

func (u *User) minSeverity() alert.Severity {
	if u.QuietMinSeverity == "" {
		return DefaultQuietMinSeverity
	}
	return u.QuietMinSeverity
}

func (u *User) zone() *time.Location {
	if u.Zone == nil {
		return time.UTC
	}
	return u.Zone
}

func rank(s alert.Severity) int {
	if s == alert.Violation {
		return 2
	}
	return 1
}

// String writes the quiet window as HH:MM-HH:MM ("" when none).
func (q Quiet) String() string {
	if q.From == q.To {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.From/60, q.From%60, q.To/60, q.To%60)
}

// ParseQuiet reads HH:MM-HH:MM ("" is no window).
func ParseQuiet(s string) (Quiet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Quiet{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Quiet{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 22:00-07:00", s)
	}
	f, err1 := clock(from)
	t, err2 := clock(to)
	if err := errors.Join(err1, err2); err != nil {
		return Quiet{}, fmt.Errorf("%q: %w", s, err)
	}
	if f == t {
		return Quiet{}, fmt.Errorf("%q: starts and ends at the same time (leave the cell empty for none)", s)
	}
	return Quiet{From: f, To: t}, nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil || len(strings.TrimSpace(s)) != 5 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 23:59)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// ParseCSV reads a whole users file (columns matched by name, user_id required; name is the
// file name used in messages). Any invalid line refuses the file: the error joins one
// *csvfile.LineError per problem, and no user is returned.
func ParseCSV(r io.Reader, name string) ([]User, error) {
	seen := map[string]int{}
	return csvfile.Read(r, name, csvfile.Columns{Known: Header, Required: []string{"user_id"}}, func(row *csvfile.Row) User {
		u := parseUser(row)
		if !row.OK() {
			return u
		}
		if prev, dup := seen[u.ID]; dup {
			row.Errorf("user_id", "user %q is already on line %d", u.ID, prev)
		} else {
			seen[u.ID] = row.Line()
		}
		return u
	})
}

// parseUser checks one line's cells, recording every problem on row.
func parseUser(row *csvfile.Row) User {
	u := User{ID: row.Get("user_id"), ZoneName: row.Get("timezone"), Zone: time.UTC}
	if err := threshold.ValidUserID(u.ID); err != nil {
		row.Errorf("user_id", "%v", err)
	}
	if u.ZoneName != "" {
		loc, err := time.LoadLocation(u.ZoneName)
		if err != nil || u.ZoneName == "Local" {
			row.Errorf("timezone", "%q is not an IANA time zone (such as Europe/Paris or America/New_York)", u.ZoneName)
		} else {
			u.Zone = loc
		}
	}
	q, err := ParseQuiet(row.Get("quiet_hours"))
	if err != nil {
		row.Errorf("quiet_hours", "%v", err)
	}
	u.Quiet = q
	switch s := alert.Severity(strings.ToUpper(row.Get("quiet_min_severity"))); s {
	case "":
	case alert.Warning, alert.Violation:
		u.QuietMinSeverity = s
	default:
		row.Errorf("quiet_min_severity", "%q: want WARNING or VIOLATION (empty: VIOLATION)", row.Get("quiet_min_severity"))
	}
	switch s := alert.UnitSystem(strings.ToLower(row.Get("units"))); s {
	case "", alert.MetricUnits, alert.ImperialUnits:
		u.Units = s
	default:
		row.Errorf("units", "%q: want metric or imperial (empty: metric)", row.Get("units"))
	}
	return u
}

// WriteCSV writes users in the CSV's form (ParseCSV reads it back).
func WriteCSV(w io.Writer, users []User) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, u := range users {
		if err := cw.Write([]string{u.ID, u.ZoneName, u.Quiet.String(), string(u.QuietMinSeverity), string(u.Units)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

package lake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The lake's hour partitions, both ways: Partition and HourFile build keys, ParseHour reads them
// back, Hours and HourObjects walk a range. Every key is slash-separated and relative to the
// lake's root (a bucket, or a local directory); every time is UTC.

// DayLayout is how the dt= part of a key spells a day.
const DayLayout = "2006-01-02"

// PartitionGlob matches every hour partition under prefix ("prefix/dt=*/hour=*/"), for engines
// that read the partitions' values from the path (hive partitioning); DayGlob every day folder.
func PartitionGlob(prefix string) string { return prefix + "/dt=*/hour=*/" }

// DayGlob matches every day folder under prefix ("prefix/dt=*/").
func DayGlob(prefix string) string { return prefix + "/dt=*/" }

// Hours lists the UTC hours in [from, to): from's own hour first, to excluded.
func Hours(from, to time.Time) []time.Time {
	var out []time.Time
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		out = append(out, h)
	}
	return out
}

// DayPrefix returns "prefix/dt=YYYY-MM-DD/" for the UTC day of t.
func DayPrefix(prefix string, t time.Time) string {
	return prefix + "/dt=" + t.UTC().Format(DayLayout) + "/"
}

// ParseHour reads the UTC hour a key names: a partition ("…/dt=YYYY-MM-DD/hour=HH/…", a file
// in it or the folder itself) or a table's hour file ("…/dt=YYYY-MM-DD/hour=HH.parquet"). It is
// strict: the day as DayLayout, the hour as two digits from 00 to 23; false for anything else.
func ParseHour(key string) (time.Time, bool) {
	parts := strings.Split(key, "/")
	for i := 0; i+1 < len(parts); i++ {
		day, ok := strings.CutPrefix(parts[i], "dt=")
		if !ok {
			continue
		}
		hour, ok := strings.CutPrefix(parts[i+1], "hour=")
		if !ok {
			return time.Time{}, false
		}
		if i+2 == len(parts) { // an hour file: hour=HH.parquet
			hour = strings.TrimSuffix(hour, ".parquet")
		}
		if len(hour) != 2 || hour[0] < '0' || hour[0] > '2' || hour[1] < '0' || hour[1] > '9' {
			return time.Time{}, false
		}
		t, err := time.Parse(DayLayout+"T15", day+"T"+hour)
		if err != nil {
			return time.Time{}, false
		}
		return t, true
	}
	return time.Time{}, false
}

// Lister lists the objects whose keys start with a prefix (ending in '/'), in any order: the
// lake bucket on AWS (shared/aws/s3lake), a local directory (Dir). A prefix with nothing under
// it gives none, not an error.
type Lister interface {
	List(ctx context.Context, prefix string) ([]string, error)
}

// Dir is a local lake, by its root directory.
type Dir string

// List implements Lister over the files below root/prefix: regular files only, and none whose
// name or folder is hidden (a leading dot: a write in progress).
func (d Dir) List(_ context.Context, prefix string) ([]string, error) {
	base := filepath.Join(string(d), filepath.FromSlash(prefix))
	var out []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != base {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(string(d), p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", base, err)
	}
	return out, nil
}

// Path is where key is on disk in the local lake d.
func (d Dir) Path(key string) string { return filepath.Join(string(d), filepath.FromSlash(key)) }

// HourObjects lists the objects directly in prefix's hour partitions of the hours in [from, to)
// whose names end in suffix ("" for any), oldest hour first and by name within an hour. It lists
// the partition itself for one hour, else once a UTC day (DayPrefix), whatever the number of hours.
// A day that cannot be listed is an error, with what the other days hold.
func HourObjects(ctx context.Context, l Lister, prefix string, from, to time.Time, suffix string) ([]string, error) {
	hours := Hours(from, to)
	if len(hours) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(hours))
	for _, h := range hours {
		want[Partition(prefix, h)] = true
	}
	var out []string
	var errs []error
	for d := hours[0].Truncate(24 * time.Hour); d.Before(to); d = d.Add(24 * time.Hour) {
		listed := DayPrefix(prefix, d)
		if len(hours) == 1 {
			listed = Partition(prefix, hours[0])
		}
		keys, err := l.List(ctx, listed)
		if err != nil {
			errs = append(errs, err) // the other days are still listed: a caller may show them
			continue
		}
		for _, k := range keys {
			if want[path.Dir(k)+"/"] && strings.HasSuffix(k, suffix) && !strings.HasPrefix(path.Base(k), ".") {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out) // dt=…/hour=… sort as time
	return out, errors.Join(errs...)
}

// LatestHour is the newest hour with an hour partition under prefix in the local lake d (false:
// none), from the folders' names only. Names ParseHour refuses are passed over.
func LatestHour(d Dir, prefix string) (time.Time, bool) {
	days, _ := os.ReadDir(d.Path(prefix))
	var latest time.Time
	found := false
	for _, day := range days {
		hours, _ := os.ReadDir(d.Path(prefix + "/" + day.Name()))
		for _, h := range hours {
			if !h.IsDir() {
				continue
			}
			if t, ok := ParseHour(prefix + "/" + day.Name() + "/" + h.Name() + "/"); ok && (!found || t.After(latest)) {
				latest, found = t, true
			}
		}
	}
	return latest, found
}

// Package device holds a device's descriptive metadata (name, location), used to make alert texts
// readable, and reads it from the devices CSV (device_id,name,location).
package device

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Device is a device's metadata. Name and Location may be empty.
type Device struct {
	ID       string
	Name     string
	Location string
}

// Label is how texts name the device: "Name (id)", or the id alone.
func (d Device) Label() string {
	if d.Name == "" {
		return d.ID
	}
	return d.Name + " (" + d.ID + ")"
}

// Header is the CSV header of a devices file.
var Header = []string{"device_id", "name", "location"}

// MaxTextLen bounds name and location.
const MaxTextLen = 256

// ParseCSV reads a whole devices file; any invalid line refuses the file, naming file, line and field.
func ParseCSV(r io.Reader, name string) ([]Device, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s:1: reading the header: %w", name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	if strings.Join(header, ",") != strings.Join(Header, ",") {
		return nil, fmt.Errorf("%s:1: header is %q, want %q", name, strings.Join(header, ","), strings.Join(Header, ","))
	}
	var out []Device
	var errs []error
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
			break
		}
		if len(rec) != len(Header) {
			errs = append(errs, fmt.Errorf("%s:%d: has %d fields, want %d (%s)", name, line, len(rec), len(Header), strings.Join(Header, ",")))
			continue
		}
		d := Device{ID: strings.TrimSpace(rec[0]), Name: strings.TrimSpace(rec[1]), Location: strings.TrimSpace(rec[2])}
		if !reading.ValidDeviceID(d.ID) {
			errs = append(errs, fmt.Errorf("%s:%d: device_id: %q does not match %s", name, line, d.ID, reading.DeviceIDPattern))
		}
		for _, f := range []struct{ field, v string }{{"name", d.Name}, {"location", d.Location}} {
			if utf8.RuneCountInString(f.v) > MaxTextLen {
				errs = append(errs, fmt.Errorf("%s:%d: %s: longer than %d characters", name, line, f.field, MaxTextLen))
			}
		}
		if prev, dup := seen[d.ID]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: device_id: %q is already on line %d", name, line, d.ID, prev))
		}
		seen[d.ID] = line
		out = append(out, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

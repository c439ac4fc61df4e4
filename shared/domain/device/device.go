// Package device holds a device's descriptive metadata (name, location), used to make alert texts
// readable, and reads it from the devices CSV (device_id,name,location; columns matched by name).
package device

import (
	"io"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
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

// ParseCSV reads a whole devices file (columns matched by name, in any order; device_id
// required, name and location optional; name is the file name used in messages). Any invalid
// line refuses the file: the error joins one *csvfile.LineError per problem, naming file, line
// and field, and no device is returned.
func ParseCSV(r io.Reader, name string) ([]Device, error) {
	seen := map[string]int{}
	return csvfile.Read(r, name, csvfile.Columns{Known: Header, Required: []string{"device_id"}}, func(row *csvfile.Row) Device {
		d := Device{ID: row.Get("device_id"), Name: row.Get("name"), Location: row.Get("location")}
		if !reading.ValidDeviceID(d.ID) {
			row.Errorf("device_id", "%q does not match %s", d.ID, reading.DeviceIDPattern)
		}
		for _, f := range []struct{ field, v string }{{"name", d.Name}, {"location", d.Location}} {
			if utf8.RuneCountInString(f.v) > MaxTextLen {
				row.Errorf(f.field, "longer than %d characters", MaxTextLen)
			}
		}
		if prev, dup := seen[d.ID]; dup {
			row.Errorf("device_id", "%q is already on line %d", d.ID, prev)
		} else {
			seen[d.ID] = row.Line()
		}
		return d
	})
}

// Package occupancy reads the UCI Occupancy Detection CSV format (events/occupancy/) and turns each
// row into a reading message, as a room sensor would publish it. The "date" column has no zone and
// is read as UTC; msg_id is the device id and the row number, e.g. room-1-000140.
package occupancy

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Columns is the header the reader expects (after the unnamed row-number column).
var Columns = []string{"date", "Temperature", "Humidity", "Light", "CO2", "HumidityRatio", "Occupancy"}

// jsonNames maps each metric column to its field in the reading.
var jsonNames = []string{"temperature", "humidity", "light", "co2", "humidity_ratio", "occupancy"}

// Reader yields one reading message per row.
type Reader struct {
	cr     *csv.Reader
	name   string
	device string
	header bool
}

// NewReader reads rows of r (name is used in errors) as readings of device.
func NewReader(r io.Reader, name, device string) *Reader {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3) // a byte order mark, as spreadsheets write: before the CSV reader sees it
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &Reader{cr: cr, name: name, device: device}
}

// Row is one converted row.
type Row struct {
	Line      int
	EventTime time.Time
	Message   []byte // the reading as JSON
}

// Next returns the next row, or io.EOF.
func (r *Reader) Next() (Row, error) {
	if !r.header {
		rec, err := r.cr.Read()
		if err == io.EOF {
			return Row{}, fmt.Errorf("%s:1: empty file: want the header %s", r.name, strings.Join(Columns, ","))
		}
		if err != nil {
			return Row{}, fmt.Errorf("%s:1: %w", r.name, err)
		}
		if strings.Join(rec, ",") != strings.Join(Columns, ",") {
			return Row{}, fmt.Errorf("%s:1: header is %q, want %q", r.name, strings.Join(rec, ","), strings.Join(Columns, ","))
		}
		r.header = true
	}
	rec, err := r.cr.Read()
	if err == io.EOF {
		return Row{}, io.EOF
	}
	line, _ := r.cr.FieldPos(0)
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.Line
		}
		return Row{}, fmt.Errorf("%s:%d: %w", r.name, line, err)
	}
	if len(rec) != len(Columns)+1 {
		return Row{}, fmt.Errorf("%s:%d: has %d fields, want %d (row number, %s)", r.name, line, len(rec), len(Columns)+1, strings.Join(Columns, ","))
	}
	rowNum, err := strconv.Atoi(rec[0])
	if err != nil || rowNum < 0 {
		return Row{}, fmt.Errorf("%s:%d: row number %q is not a whole number", r.name, line, rec[0])
	}
	t, err := time.Parse("2006-01-02 15:04:05", rec[1])
	if err != nil {
		return Row{}, fmt.Errorf("%s:%d: date %q is not YYYY-MM-DD hh:mm:ss", r.name, line, rec[1])
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"device_id":`...)
	b = strconv.AppendQuote(b, r.device)
	b = append(b, `,"event_time":"`...)
	b = t.AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	for i, col := range rec[2:] {
		v, err := strconv.ParseFloat(col, 64)
		if err != nil {
			return Row{}, fmt.Errorf("%s:%d: %s %q is not a number", r.name, line, Columns[i+1], col)
		}
		b = append(b, `,"`...)
		b = append(b, jsonNames[i]...)
		b = append(b, `":`...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, `,"msg_id":`...)
	b = strconv.AppendQuote(b, fmt.Sprintf("%s-%06d", r.device, rowNum))
	b = append(b, '}')
	return Row{Line: line, EventTime: t, Message: b}, nil
}

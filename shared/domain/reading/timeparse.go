package reading

import (
	"encoding/json"
	"sync"
	"time"
)

// ParseTime parses the RFC 3339 spellings the contract accepts: YYYY-MM-DDTHH:MM:SS, an optional
// fraction of 1 to 9 digits, and a zone that is Z or ±HH:MM. It returns the instant in UTC.
// Lowercase 't'/'z', a space for 'T', leap seconds (:60) and missing zones are refused: the lake's
// partitioner (Firehose's JQ) must put every accepted spelling in the right hour, so the set of
// spellings is kept small and exact.
func ParseTime(b []byte) (time.Time, bool) {
	if len(b) < 20 {
		return time.Time{}, false
	}
	// YYYY-MM-DDTHH:MM:SS, two digits at a time (a call of num a field cost a third of a parse).
	y1, ok1 := digits2(b[0], b[1])
	y2, ok2 := digits2(b[2], b[3])
	month, ok3 := digits2(b[5], b[6])
	day, ok4 := digits2(b[8], b[9])
	hour, ok5 := digits2(b[11], b[12])
	min, ok6 := digits2(b[14], b[15])
	sec, ok7 := digits2(b[17], b[18])
	year := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		oh, okh := num(b[i+1 : i+3])
		om, okm := num(b[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+min*60+sec) - int64(offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 { // January or February of year 0
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// digits2 is the number two decimal digits spell, and whether they are digits.
func digits2(a, b byte) (int, bool) {
	x, y := a-'0', b-'0'
	return int(x)*10 + int(y), x <= 9 && y <= 9
}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// PartitionHour is the UTC hour whose dt=/hour= partition the lake files a message under, read
// from its time field (event_time for readings) as Firehose's partition expression reads it
// (shared/contract/lake/partition.jq): the message must be a JSON object, the last copy of a
// repeated field counts, and the field must be a time ParseTime accepts. A batched message (one
// with a top-level readings field, DESIGN.md "Batched messages") is filed by its first element's
// field: readings must be an array whose first element is an object holding it (a top-level copy
// of the field does not count). false: the message lands in the error prefix, not in a partition.
func PartitionHour(data []byte, field string) (time.Time, bool) {
	if field == "event_time" {
		// The reading's own scanner, when it can tell (a strict object, the time unescaped): five
		// times faster than the map below, with the same answer. It keeps a batch's first
		// element only.
		var f fields
		var first [1]fields
		b := batch{slots: first[:]}
		s := scanner{b: data, batch: &b}
		if s.object(&f) == "" {
			et := &f.eventTime
			if f.readings.kind != kindAbsent {
				if f.readings.kind != kindArray || b.elems == 0 || b.nonObject == 1 {
					return time.Time{}, false
				}
				if first[0].repeated != "" { // the last copy counts: the map's
					return partitionHourMap(data, field)
				}
				et = &first[0].eventTime
			}
			if et.kind == kindString && !et.escaped {
				t, ok := ParseTime(data[et.start:et.end])
				return t.Truncate(time.Hour), ok
			}
		}
	}
	return partitionHourMap(data, field)
}

// PartitionHours appends to dst the hours whose dt=/hour= partitions the lake files a message
// under, event_time read (DESIGN.md, "Batched messages in the lake"): PartitionHour's hour first,
// then, for a batched message that DecodeMessage does not reject whole (read without a catalog
// or a topic: a writer knows neither), each other hour of an element whose event_time the
// decoder accepts (RFC 3339 within [MinEventTime, MaxEventTime); the element's other fields do not
// matter), in the order of the elements, each once. A single reading, or a batch rejected whole,
// has PartitionHour's hour alone; a message PartitionHour cannot file has none (it goes to the
// error prefix). The aggregation of an hour takes from a batched line the elements of that hour.
func PartitionHours(data []byte, dst []time.Time) []time.Time {
	first, ok := PartitionHour(data, "event_time")
	if !ok {
		return dst
	}
	dst = append(dst, first)
	n := len(dst)
	h := hoursDecoders.Get().(*hoursDecoder)
	defer hoursDecoders.Put(h)
	d := &h.d
	d.batch.elems = 0 // a single message leaves it as it is
	var err error
	h.rs, _, err = d.DecodeMessage(data, Options{}, h.rs[:0])
	clear(h.rs) // keep nothing of the message alive in the pool
	if err != nil {
		return dst
	}
	for i := range d.batch.elems {
		et := &d.batch.slots[i].eventTime
		if et.kind != kindString {
			continue
		}
		raw := data[et.start:et.end]
		if et.escaped {
			raw = []byte(unescape(raw))
		}
		t, ok := ParseTime(raw)
		if !ok || t.Before(MinEventTime) || !t.Before(MaxEventTime) {
			continue
		}
		hour, seen := t.Truncate(time.Hour), false
		for _, o := range dst[n-1:] {
			if o.Equal(hour) {
				seen = true
				break
			}
		}
		if !seen {
			dst = append(dst, hour)
		}
	}
	return dst
}

// hoursDecoder is what PartitionHours decodes with: a Decoder keeps a batch's MaxBatch slots.
type hoursDecoder struct {
	d  Decoder
	rs []Reading
}

var hoursDecoders = sync.Pool{New: func() any { return new(hoursDecoder) }}

// partitionHourMap is PartitionHour by the standard library, for any field.
func partitionHourMap(data []byte, field string) (time.Time, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return time.Time{}, false
	}
	if batch, ok := m["readings"]; ok {
		var elems []json.RawMessage
		if json.Unmarshal(batch, &elems) != nil || len(elems) == 0 {
			return time.Time{}, false
		}
		var first map[string]json.RawMessage
		if json.Unmarshal(elems[0], &first) != nil {
			return time.Time{}, false
		}
		m = first
	}
	var s string
	if json.Unmarshal(m[field], &s) != nil {
		return time.Time{}, false
	}
	t, ok := ParseTime([]byte(s))
	return t.Truncate(time.Hour), ok
}

package device

import (
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // error substring; "" for success
		n        int
	}{
		{"ok", "device_id,name,location\nroom-1,Office 1,Floor 2\nroom-2,,\n", "", 2},
		{"quoted comma", "device_id,name,location\nroom-1,\"Office 1, north\",Floor 2\n", "", 1},
		{"bad id", "device_id,name,location\nroom 1,x,y\n", "d.csv:2: device_id", 0},
		{"duplicate", "device_id,name,location\nroom-1,a,b\nroom-1,c,d\n", "d.csv:3: device_id: \"room-1\" is already on line 2", 0},
		{"field count", "device_id,name,location\nroom-1,a\n", "d.csv:2: has 2 fields", 0},
		{"header", "id,name\n", "d.csv:1: id: unknown column", 0},
		{"columns by name", "location,device_id\nFloor 2,room-1\n", "", 1},
		{"long name", "device_id,name,location\nroom-1," + strings.Repeat("n", 257) + ",b\n", "d.csv:2: name: longer than 256", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tc.in), "d.csv")
			if tc.want == "" {
				if err != nil || len(got) != tc.n {
					t.Fatalf("ParseCSV = %v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || got != nil {
				t.Errorf("ParseCSV = %v, %v; want error with %q", got, err, tc.want)
			}
		})
	}
}

package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// smallLake is three devices, two days of readings, gold aggregated from them.
func smallLake(t testing.TB) lakegen.Lake {
	return lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 2, RealGold: true})
}

func newServer(t testing.TB, l lakegen.Lake, live Live) *Server {
	t.Helper()
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Rules: lakeview.StaticRules(l.Devices, l.Thresholds, nil), Live: live, Actions: live != nil,
		Now: func() time.Time { return l.End }})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t testing.TB, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

var chartJSON = regexp.MustCompile(`(?s)<script type="application/json">(.*?)</script>`)

// charts reads the charts a page holds, by id.
func charts(t testing.TB, body string) map[string]lakeview.Chart {
	t.Helper()
	out := map[string]lakeview.Chart{}
	for _, m := range chartJSON.FindAllStringSubmatch(body, -1) {
		var c lakeview.Chart
		require.NoError(t, json.Unmarshal([]byte(m[1]), &c), m[1][:min(200, len(m[1]))])
		out[c.ID] = c
	}
	return out
}

func TestPages(t *testing.T) {
	l := smallLake(t)
	s := newServer(t, l, nil)
	rows := regexp.MustCompile(`<tr data-episode="([^"]+)" data-open="(true|false)"`)
	tests := []struct {
		name, path string
		status     int
		want       []string
		check      func(t *testing.T, body string)
	}{
		{name: "overview", path: "/", status: 200, want: []string{"Room 0 (room-000)", "Building A floor 2", `<span class="badge bad">1 violation</span>`},
			check: func(t *testing.T, body string) {
				// The silent device comes first and stands out; the others reported 30 s ago.
				i := strings.Index(body, `data-device="room-002"`)
				require.Positive(t, i)
				assert.Less(t, i, strings.Index(body, `data-device="room-000"`))
				assert.Contains(t, body, `<tr class="standout" data-device="room-002">`)
				assert.Contains(t, body, `<tr class="" data-device="room-001">`)
				assert.Contains(t, body, `<td class="c-seen" data-label="Last seen" data-last-seen="room-001" title="2026-03-10 11:59">1 min ago</td>`)
				assert.Contains(t, body, `<td class="n c-hour" data-label="Readings, last hour">60</td>`) // readings in the last hour
				assert.Regexp(t, `<span class="big">2</span> reporting`, body)
				assert.Equal(t, 3, strings.Count(body, `<svg class="spark"`))
				assert.NotContains(t, body, `id="no-hours"`, "the last day's hours are aggregated")
				// Each sparkline says its scale: the lowest and highest hour's average.
				assert.Equal(t, 3, len(regexp.MustCompile(`<span class="spark-range" aria-hidden="true">\d+\.\d–\d+\.\d °C</span>`).FindAllString(body, -1)))
			}},
		{name: "device, raw readings", path: "/device/room-001?range=24h", status: 200, want: []string{"every reading", "alice temperature high warning"},
			check: func(t *testing.T, body string) {
				c := charts(t, body)
				require.Len(t, c, 4)
				assert.Equal(t, 1440, c["temperature"].Points) // one a minute
				assert.Len(t, c["temperature"].Series[0].Values, 1440)
				assert.Len(t, c["temperature"].Thresholds, 2)
				assert.Len(t, c["temperature"].Bands, 1) // today's 10:05–11:05 (yesterday's was before 12:00)
				assert.Equal(t, 20, strings.Count(body[strings.Index(body, `id="latest"`):], "<tr><td>2026-03-10 11:"))
			}},
		{name: "device, hourly", path: "/device/room-001?range=7d", status: 200, want: []string{"hourly minimum, average and maximum"},
			check: func(t *testing.T, body string) {
				c := charts(t, body)
				assert.Equal(t, 48, c["temperature"].Points) // two days aggregated
				require.Len(t, c["temperature"].Series, 3)
				assert.Len(t, c["co2"].Series, 2)
				for id, ch := range c { // every series of every chart has a value for every hour
					for _, se := range ch.Series {
						require.Len(t, se.Values, 48, "%s %s", id, se.Label)
						for i, v := range se.Values {
							require.NotNil(t, v, "%s %s hour %d", id, se.Label, i)
						}
					}
				}
				// min ≤ avg ≤ max, and 10:00's episode hour is the warm one (+2.5 °C)
				temps := c["temperature"].Series
				for i := range temps[0].Values {
					assert.LessOrEqual(t, *temps[0].Values[i], *temps[1].Values[i])
					assert.LessOrEqual(t, *temps[1].Values[i], *temps[2].Values[i])
				}
				assert.Contains(t, temps[1].Label, "avg")
			}},
		{name: "device, silent since two hours", path: "/device/room-002", status: 200,
			check: func(t *testing.T, body string) {
				c := charts(t, body)
				assert.Equal(t, 1440-120, c["humidity"].Points)
				assert.Len(t, c["humidity"].Bands, 1, "device_silent is shaded on every chart")
				// Each episode's peak with its unit (TestPeak: seconds silent).
				assert.Contains(t, body, `<td>2026-03-10 10:05</td><td>2026-03-10 11:05</td><td class="n">24.1 °C</td></tr>`)
			}},
		{name: "device, not an id", path: "/device/no%20such", status: 404},
		{name: "alerts, all", path: "/alerts", status: 200, want: []string{"10 episodes,"},
			check: func(t *testing.T, body string) {
				assert.Len(t, rows.FindAllString(body, -1), 10) // 3 devices × 3 days (10:05 of the first one is in), and the silence
				assert.NotContains(t, body, "/actions/", "no buttons without a running pipeline")
				assert.NotContains(t, body, `class="pager"`, "10 episodes fit one page")
				// By device: those with open episodes first, then the most episodes; each links
				// to its own list, and draws its episodes on one timeline.
				byDevice := regexp.MustCompile(`<tr data-device="([^"]+)"><th scope="row"><a href="([^"]+)">[^<]*</a></th><td class="n">(\d+)</td><td class="n">(\d+)</td><td class="n">(\d+)</td>`).FindAllStringSubmatch(body, -1)
				require.Len(t, byDevice, 3)
				assert.Equal(t, []string{"room-002", "/alerts?device=room-002", "4", "1", "3"}, byDevice[0][1:])
				assert.Equal(t, []string{"room-000", "/alerts?device=room-000", "3", "1", "3"}, byDevice[1][1:])
				assert.Equal(t, []string{"room-001", "/alerts?device=room-001", "3", "0", "3"}, byDevice[2][1:])
				// The timeline's ticks: the days of the week at midnight UTC, in ISO order.
				assert.Contains(t, body, `<div class="ticks" aria-hidden="true"><span style="left:7.14%">03-04</span><span style="left:21.43%">03-05</span>`)
			}},
		{name: "alerts, one device", path: "/alerts?device=room-000", status: 200,
			check: func(t *testing.T, body string) {
				for _, m := range rows.FindAllStringSubmatch(body, -1) {
					assert.True(t, strings.HasPrefix(m[1], "room-000/"), m[1])
				}
				assert.Len(t, rows.FindAllString(body, -1), 3)
				assert.NotContains(t, body, `id="by-device"`, "one device: no grouping")
			}},
		{name: "alerts, open only", path: "/alerts?open=1", status: 200,
			check: func(t *testing.T, body string) {
				got := rows.FindAllStringSubmatch(body, -1)
				require.Len(t, got, 2)
				assert.Equal(t, "room-002/alice/device_silent", got[0][1]) // newest first
				assert.Equal(t, "room-000/alice/temperature_high", got[1][1])
			}},
		{name: "alerts, violations of a rule", path: "/alerts?rule=device_silent&severity=VIOLATION", status: 200, want: []string{"No episode matches."}},
		{name: "heatmap", path: "/heatmap", status: 200, want: []string{"Building A floor 1", "Building A floor 3", "average temperature, °C"},
			check: func(t *testing.T, body string) {
				assert.Equal(t, 3, strings.Count(body, `<tr><th scope="row">`))
			}},
		{name: "heatmap by health", path: "/heatmap?by=health&range=7d", status: 200, want: []string{"health, % of the expected readings", ">100</td>", "Colours run from 0 % to 100 %, always."}},
		{name: "heatmap, its own scale", path: "/heatmap", status: 200,
			want: []string{"Colours run from 19.5 °C to 24.4 °C, the coldest to the warmest hour shown", `<a href="?by=temperature&amp;range=24h&amp;scale=fixed">fixed scale, 16 to 28 °C</a>`,
				`style="background:#c82828;color:#ffffff" title="Building A floor 2, 10:00: 24.4 °C"`}}, // the warmest hour: the scale's red end
		{name: "heatmap, a fixed scale", path: "/heatmap?scale=fixed", status: 200,
			want: []string{"Colours run from 16.0 °C to 28.0 °C, a fixed scale", `href="?by=temperature&amp;range=7d&amp;scale=fixed"`,
				// 24.4 °C is 0.7 of the way on 16–28 °C: a purple-red, not the scale's red end.
				`style="background:#9a3b55;color:#ffffff" title="Building A floor 2, 10:00: 24.4 °C"`}},
		{name: "pipeline", path: "/pipeline", status: 200, want: []string{"malformed_json", "out_of_range", "{not json"},
			check: func(t *testing.T, body string) {
				assert.Regexp(t, `malformed_json<div class="muted">invalid character</div></td><td class="n">2</td>`, body)
				// Numbers right-aligned under headers right-aligned: each under its own header.
				assert.Contains(t, body, `<th scope="col" class="n">Records</th><th scope="col" class="n">Readings</th><th scope="col" class="n">Duplicates</th><th scope="col" class="n">Rejected</th><th scope="col" class="n">Late</th>`)
				assert.Contains(t, body, "Quarantine, by arrival time: 2026-03-03 12:00 to 2026-03-10 12:00 on the wall clock")
				assert.NotContains(t, body, `id="all-late"`, "the generated lake's readings arrived on time")
				assert.Equal(t, 24, strings.Count(body[strings.Index(body, `id="runs"`):], "<tr><td>2026-03-"))
				tp := charts(t, body)["throughput"]
				require.Equal(t, 24, tp.Points)
				received := tp.Series[0].Values
				require.NotNil(t, received[23])
				assert.Equal(t, 120.0, *received[23], "11:00: room-002 silent since 10:00")
				assert.Equal(t, 180.0, *received[21], "09:00: three devices × 60")
				assert.Equal(t, time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC).Unix(), tp.X[23], "the last hour that is over")
				assert.Equal(t, 180.0, *tp.Series[1].Values[23], "expected: the silent device too")
				assert.NotContains(t, body, `data-live="rate"`)
			}},
		{name: "asset", path: "/assets/uPlot.iife.min.js", status: 200, want: []string{"uPlot"}},
		{name: "no live events", path: "/events", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s, tc.path)
			require.Equal(t, tc.status, code, body[:min(len(body), 300)])
			for _, w := range tc.want {
				assert.Contains(t, body, w)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	t.Run("alerts in pages", func(t *testing.T) { alertsInPages(t, s) })
}

// TestPeak writes an episode's peak with its unit: a silence in seconds, a metric's in its unit.
func TestPeak(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	for _, tc := range []struct {
		e    lakeview.Episode
		want string
	}{
		{lakeview.Episode{Rule: "device_silent", Peak: v(600), Unit: "s"}, "600 s silent"},
		{lakeview.Episode{Rule: "temperature_high", Peak: v(24.06), Unit: "°C"}, "24.1 °C"},
		{lakeview.Episode{Rule: "co2_high", Peak: v(1210), Unit: "ppm"}, "1210.0 ppm"},
		{lakeview.Episode{Rule: "occupancy_no_occupancy", Peak: v(1)}, "1.0"},
		{lakeview.Episode{Rule: "device_silent"}, "–"},
	} {
		assert.Equal(t, tc.want, peak(tc.e), tc.e.Rule)
	}
}

func TestAHistoricalLakeShowsItsLastDay(t *testing.T) {
	l := smallLake(t)
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Now: func() time.Time { return l.End.Add(400 * 24 * time.Hour) }})
	require.NoError(t, err)
	defer s.Close()
	_, body := get(t, s, "/device/room-001")
	assert.Contains(t, body, "This lake's readings end at 2026-03-10 11:59 UTC") // its last reading
	_, over := get(t, s, "/")
	assert.Contains(t, over, `<td class="c-seen" data-label="Last seen" data-last-seen="room-001" title="2026-03-10 11:59">0 s ago</td>`, "not silent: the lake's time is its last reading's")
	assert.Equal(t, 1440, charts(t, body)["temperature"].Points)
}

// TestNoHourAggregatedYet: a run's first hour, its readings in bronze and no hour aggregated: the
// overview says why health and the sparklines are empty, and shows what the readings tell.
func TestNoHourAggregatedYet(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 2, RawDays: 1})
	s := newServer(t, l, nil)
	_, body := get(t, s, "/")
	assert.Contains(t, body, `<p class="note" role="note" id="no-hours">No hour of the last day is aggregated yet`)
	assert.Contains(t, body, `<td class="n c-hour" data-label="Readings, last hour">60</td>`, "the last hour's readings, from bronze")
	assert.Contains(t, body, `<td class="n c-health" data-label="Health, 24 h">–</td>`)
}

func TestAnEmptyLake(t *testing.T) {
	s, err := New(context.Background(), Config{Lake: t.TempDir()})
	require.NoError(t, err)
	defer s.Close()
	for _, p := range []string{"/", "/alerts", "/heatmap", "/pipeline", "/device/room-1"} {
		code, body := get(t, s, p)
		assert.Equal(t, 200, code, p+": "+body)
	}
	_, body := get(t, s, "/")
	assert.Contains(t, body, "No device has reported to this lake yet.")
}

// TestTheHoursShownAreTheOnesThatAreOver: half an hour into an hour, the heatmap and the
// throughput end with the hour before it (aggregated once over), full, not with an empty column.
func TestTheHoursShownAreTheOnesThatAreOver(t *testing.T) {
	l := smallLake(t)
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Now: func() time.Time { return l.End.Add(30 * time.Minute) }})
	require.NoError(t, err)
	defer s.Close()
	_, body := get(t, s, "/heatmap")
	assert.Contains(t, body, `<th scope="col">11</th></tr></thead>`, "the last column is 11:00")
	assert.Equal(t, 2, strings.Count(body, ":00: no data"), "floor 3 (room-002, silent) at 10:00 and 11:00, every other hour full")
	_, body = get(t, s, "/pipeline")
	tp := charts(t, body)["throughput"]
	require.NotNil(t, tp.Series[0].Values[23])
	_, body = get(t, s, "/")
	assert.Regexp(t, `<td class="n c-health" data-label="Health, 24 h">(91.7|92) %</td>`, body, "room-002: 22 of the 24 hours")
}

func TestLoopbackPagesRefuseAnotherHost(t *testing.T) {
	s, err := New(context.Background(), Config{Lake: t.TempDir(), Loopback: true})
	require.NoError(t, err)
	defer s.Close()
	for host, want := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "evil.example:8080": 403, "evil.example": 403} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, host)
	}
}

func TestLocalPath(t *testing.T) {
	for back, ok := range map[string]bool{"/alerts?open=1": true, "/": true, "/device/room-1": true,
		"//evil.example": false, "/\\evil.example": false, "https://evil.example/": false, "alerts": false, "": false, "/a\r\nLocation: x": false} {
		assert.Equal(t, ok, localPath(back), "%q", back)
	}
}

// TestARegisteredDeviceThatNeverReported is 0 % healthy, on the overview and in its location.
func TestARegisteredDeviceThatNeverReported(t *testing.T) {
	l := smallLake(t)
	devs := append(l.Devices, device.Device{ID: "room-099", Name: "Store room", Location: "Basement"})
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: devs, Now: func() time.Time { return l.End }})
	require.NoError(t, err)
	defer s.Close()
	_, body := get(t, s, "/")
	row := body[strings.Index(body, `data-device="room-099"`):]
	row = row[:strings.Index(row, "</tr>")]
	assert.Contains(t, row, `<td class="n c-health" data-label="Health, 24 h">0 %</td>`)
	assert.Contains(t, row, "silent")
	_, body = get(t, s, "/heatmap?by=health")
	assert.Contains(t, body, "Basement")
	assert.Contains(t, body, `title="Basement, 11:00: 0 %">0</td>`)
}

// alertsInPages pages the alerts list of TestPages's server four to a page: the newest first,
// the filters kept across the pages, a page past the last shows the last.
func alertsInPages(t *testing.T, s *Server) {
	defer func(n int) { perPage = n }(perPage)
	perPage = 4
	rows := regexp.MustCompile(`<tr data-episode="`)
	tests := []struct {
		path, count, newer, older string
		rows                      int
	}{
		{"/alerts", "10 episodes, 2026-03-03 12:00 to 2026-03-10 12:00: 1 to 4 below, page 1 of 3.", "", "/alerts?page=2", 4},
		{"/alerts?page=2", ": 5 to 8 below, page 2 of 3.", "/alerts?page=1", "/alerts?page=3", 4},
		{"/alerts?page=3&user=alice", ": 9 to 10 below, page 3 of 3.", "/alerts?page=2&amp;user=alice", "", 2},
		{"/alerts?page=9", ": 9 to 10 below, page 3 of 3.", "/alerts?page=2", "", 2},
		{"/alerts?device=room-000", "3 episodes, 2026-03-03 12:00 to 2026-03-10 12:00.", "", "", 3},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, s, tc.path)
			require.Equal(t, 200, code)
			assert.Contains(t, body, tc.count)
			assert.Len(t, rows.FindAllString(body, -1), tc.rows)
			for _, l := range []struct{ rel, href string }{{"prev", tc.newer}, {"next", tc.older}} {
				if l.href == "" {
					assert.NotContains(t, body, `rel="`+l.rel+`"`)
				} else {
					assert.Contains(t, body, `<a href="`+l.href+`" rel="`+l.rel+`"`)
				}
			}
		})
	}
}

// stillLive is a running pipeline with no open episodes and nothing counted.
type stillLive struct{}

func (stillLive) States() map[string]evaluator.State { return nil }
func (stillLive) Counters() Counters                 { return Counters{} }
func (stillLive) Do(context.Context, string, links.Request, string) (bool, int, error) {
	return false, 0, nil
}

// TestAReplayOnTheWallClockIsExplained: a running pipeline whose readings are far older than the
// clock (a recording replayed to a run on the wall clock) says why its devices are silent though
// they report; the same lake served after the run (no pipeline) does not.
func TestAReplayOnTheWallClockIsExplained(t *testing.T) {
	l := smallLake(t)
	later := func() time.Time { return l.End.Add(400 * 24 * time.Hour) }
	live, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Live: stillLive{}, Now: later})
	require.NoError(t, err)
	defer live.Close()
	_, body := get(t, live, "/")
	assert.Contains(t, body, "a device whose newest reading is that old is silent, however recently the reading arrived")
	assert.Contains(t, body, "--clock watermark")
	served, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Now: later})
	require.NoError(t, err)
	defer served.Close()
	_, body = get(t, served, "/")
	assert.Contains(t, body, `id="historical"`)
	assert.NotContains(t, body, "--clock watermark")
}

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
)

// TestRunWithTLSFromAConfigFile: a CA and a device certificate from the CLI, a run configured
// by a TOML file with TLS, and the simulator publishing over TLS as room-1.
func TestRunWithTLSFromAConfigFile(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	code, out, errOut := runCLI(t, "", "ca", "init", "--dir", ca)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "(hosts: localhost, 127.0.0.1)\n", "the names the server certificate holds, none empty")
	code, out, errOut = runCLI(t, "", "device", "register", "room-1", "--local", "--ca", ca)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "devices/room-1.pem")
	assert.Regexp(t, `valid 730 days, until \d{4}-\d\d-\d\d\)`, out, "the lifetime in days and its end")
	assert.Contains(t, out, "mosquitto_pub -h HOST -p 8883 --cafile "+filepath.Join(ca, "ca.pem")+" --cert "+filepath.Join(ca, "devices", "room-1.pem")+
		" --key "+filepath.Join(ca, "devices", "room-1-key.pem")+" -i room-1 -q 1 -t devices/room-1/readings", "the command that publishes as the device")

	lakeDir, addrFile := filepath.Join(dir, "lake"), filepath.Join(dir, "addr")
	cfg := filepath.Join(dir, "iotwatch.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`# iotwatch run settings
lake = "`+lakeDir+`"
thresholds = "../../events/thresholds.csv"
mqtt = "127.0.0.1:0"
addr-file = "`+addrFile+`"
aggregate-every = "0s"
max-log-bytes = 1073741824
tls-cert = "`+filepath.Join(ca, "server.pem")+`"
tls-key = "`+filepath.Join(ca, "server-key.pem")+`"
client-ca = "`+filepath.Join(ca, "ca.pem")+`"
`), 0o644))
	readings := filepath.Join(dir, "room-1.jsonl")
	var lines strings.Builder
	for i := range 50 {
		lines.WriteString(`{"device_id":"room-1","event_time":"2026-03-01T08:` + twoDigits(i) + `:00Z","temperature":21}` + "\n")
	}
	require.NoError(t, os.WriteFile(readings, []byte(lines.String()), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runOut, runErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfg, "--quiet"}, strings.NewReader(""), &runOut, &runErr)
	}()
	broker := wait.File(t, addrFile, 10*time.Second, runErr.String)
	code, out, errOut = runCLI(t, "", "simulate", "--broker", broker, "--readings", readings, "--tls",
		"--cert", filepath.Join(ca, "devices", "room-1.pem"), "--key", filepath.Join(ca, "devices", "room-1-key.pem"),
		"--ca", filepath.Join(ca, "ca.pem"))
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "50 published, 50 acknowledged")
	code, _, _ = runCLI(t, "", "simulate", "--broker", broker, "--readings", readings) // no certificate
	assert.NotEqual(t, 0, code)
	cancel()
	require.Equal(t, 0, <-done, runErr.String())
	assert.Contains(t, runErr.String(), "messages 50, readings 50")
}

func twoDigits(i int) string { return string([]byte{byte('0' + i/10), byte('0' + i%10)}) }

func TestRunRefusesWhatIsUnsafeOrWrong(t *testing.T) {
	dir := t.TempDir()
	badChannels := filepath.Join(dir, "channels.csv") // http to the network: refused, the run does not start
	require.NoError(t, os.WriteFile(badChannels, []byte("user_id,channel,target\nalice,slack,http://hooks.example.com/x\n"), 0o644))
	for _, tc := range []struct {
		name, config string
		args         []string
		want         string
	}{
		{name: "MQTT on the network without TLS", args: []string{"--mqtt", "0.0.0.0:0"},
			want: "refusing to accept MQTT from the network without TLS"},
		{name: "HTTP on the network without TLS", args: []string{"--http", "0.0.0.0:0"},
			want: "refusing to serve HTTP to the network without TLS"},
		{name: "TLS half given", args: []string{"--tls-cert", "x.pem"}, want: "--tls-cert, --tls-key and --client-ca together"},
		{name: "unknown setting", config: "lake = \"x\"\nmqttt = \"127.0.0.1:1\"\n", want: `iotwatch.toml:2: "mqttt" is not a setting`},
		{name: "bad value", config: "\nmax-log-bytes = \"lots\"\n", want: `iotwatch.toml:2: max-log-bytes = "lots"`},
		{name: "not TOML", config: "lake = \n", want: "iotwatch.toml:1:"},
		{name: "bad channels file", config: "channels = \"" + badChannels + "\"\npagerduty-url = \"http://127.0.0.1:1/v2/enqueue\"\n",
			want: `channels.csv:2: target: "http://hooks.example.com/***" is http on a host that is not loopback`},
		{name: "bad notify-drain", args: []string{"--notify-drain", "soon"}, want: `invalid argument "soon" for "--notify-drain"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--lake", filepath.Join(dir, tc.name), "--thresholds", "../../events/thresholds.csv"}, tc.args...)
			if tc.config != "" {
				path := filepath.Join(dir, "iotwatch.toml")
				require.NoError(t, os.WriteFile(path, []byte(tc.config), 0o644))
				args = append(args, "--config", path)
			}
			code, _, errOut := runCLI(t, "", args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, tc.want)
		})
	}
}

// TestTheShippedConfigIsValid: every key of deploy/iotwatch.toml is a flag of run, with a value
// it takes, and the unit runs it with the hardening the README promises.
func TestTheShippedConfigIsValid(t *testing.T) {
	cmd := newRun(&bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, applyConfig("../../deploy/iotwatch.toml", cmd.Flags()))
	for _, k := range []string{"lake", "mqtt", "http", "link-base", "max-log-bytes", "notify-drain"} {
		assert.True(t, cmd.Flags().Lookup(k).Changed, k)
	}
	unit, err := os.ReadFile("../../deploy/iotwatch.service")
	require.NoError(t, err)
	for _, d := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=iotwatch", "NoNewPrivileges=yes",
		"ExecStart=/usr/local/bin/iotwatch run --config /etc/iotwatch/iotwatch.toml", "LoadCredential=server-key.pem:"} {
		assert.Contains(t, string(unit), "\n"+d, d)
	}
}

// tree lists what is under dir (paths relative to it), or nil when dir does not exist.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel)
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return out
}

// TestRunRefusesOutOfRangeSettings: every numeric or duration setting of run outside its range
// is refused at start, naming the flag, its value and the range, whether given as a flag or in
// the config file; nothing is made on disk and no summary is printed.
func TestRunRefusesOutOfRangeSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "100000000"}, "--shards 100000000: out of range: want 1 to 64"},
		{[]string{"--shards", "-1"}, "--shards -1: out of range: want 1 to 64 (or 0: the default)"},
		{[]string{"--batch-size", "10001"}, "--batch-size 10001: out of range: want 1 to 10000"},
		{[]string{"--batch-size", "-5"}, "--batch-size -5: out of range"},
		{[]string{"--batch-window", "-1s"}, "--batch-window -1s: out of range: want 1ms to 5m0s"},
		{[]string{"--batch-window", "10m"}, "--batch-window 10m0s: out of range"},
		{[]string{"--interval", "-1m"}, "--interval -1m0s: out of range: want 1s to 1h0m0s"},
		{[]string{"--interval", "2h"}, "--interval 2h0m0s: out of range"},
		{[]string{"--interval", "500ms"}, "--interval 500ms: out of range"},
		{[]string{"--aggregate-every", "-1h"}, "--aggregate-every -1h0m0s: out of range: want 1m0s to 24h0m0s (or 0: only when the run stops)"},
		{[]string{"--aggregate-every", "1ns"}, "--aggregate-every 1ns: out of range"},
		{[]string{"--aggregate-every", "48h"}, "--aggregate-every 48h0m0s: out of range"},
		{[]string{"--max-log-bytes", "100"}, "--max-log-bytes 100: out of range: want 0 (the disk is the cap) or at least 264208"},
		{[]string{"--max-log-bytes", "-1"}, "--max-log-bytes -1: out of range"},
		{[]string{"--clock", "sundial"}, `--clock "sundial": want wall or watermark`},
		{[]string{"--link-base", "ftp://x"}, `--link-base "ftp://x": want http(s)://host`},
		{[]string{"--http", ":8080", "--tls-cert", "x"}, "TLS needs --tls-cert, --tls-key and --client-ca together"},
		{[]string{"--config", "CONFIG", "--shards", "2"}, "--interval -1m0s: out of range"}, // the file's value, checked as the flag's
		// Two wrong settings: both said at once.
		{[]string{"--shards", "0", "--batch-size", "0", "--interval", "-1s", "--max-log-bytes", "1"}, "--interval -1s: out of range"},
		{[]string{"--interval", "-1s", "--max-log-bytes", "1"}, "--max-log-bytes 1: out of range"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			lakeDir := filepath.Join(dir, "lake")
			args := []string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--mqtt", "127.0.0.1:0"}
			for _, a := range tc.args {
				if a == "CONFIG" {
					a = filepath.Join(dir, "iotwatch.toml")
					require.NoError(t, os.WriteFile(a, []byte("interval = \"-1m\"\n"), 0o644))
				}
				args = append(args, a)
			}
			code, out, errOut := runCLI(t, "", args...)
			assert.Equal(t, 2, code, errOut)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "messages 0", "a refused start prints no summary")
			assert.Empty(t, out)
			assert.Nil(t, tree(t, lakeDir), "a refused start makes nothing on disk")
		})
	}
}

// TestARefusedStartLeavesTheLakeUntouched: the refusals found only once the lake is locked (a bad
// thresholds file, the MQTT address taken, the lake in use) leave a new lake absent and an
// existing one as it was, and print the reason only.
func TestARefusedStartLeavesTheLakeUntouched(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("user_id,device_id,temp_warning\nalice,room-1,hot\n"), 0o644))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bad thresholds file", []string{"--thresholds", bad}, "bad.csv:2"},
		{"the MQTT address taken", []string{"--mqtt", taken.Addr().String()}, "listening for MQTT on " + taken.Addr().String()},
		{"MQTT on the network without TLS", []string{"--mqtt", "0.0.0.0:0"}, "refusing to accept MQTT from the network without TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lakeDir := filepath.Join(dir, "new-lake")
			args := append([]string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--mqtt", "127.0.0.1:0"}, tc.args...)
			code, _, errOut := runCLI(t, "", args...)
			assert.Equal(t, 2, code, errOut)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "messages 0")
			assert.Nil(t, tree(t, lakeDir), "nothing made on disk")
		})
	}

	// A lake in use: the second run is refused and changes nothing in it.
	lakeDir, addrFile := filepath.Join(dir, "lake"), filepath.Join(dir, "addr")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--mqtt", "127.0.0.1:0",
			"--addr-file", addrFile, "--aggregate-every", "0", "--quiet"}, strings.NewReader(""), &bytes.Buffer{}, &runErr)
	}()
	wait.File(t, addrFile, 10*time.Second, runErr.String)
	before := tree(t, lakeDir)
	code, _, errOut := runCLI(t, "", "run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--mqtt", "127.0.0.1:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "the lake is in use")
	assert.NotContains(t, errOut, "messages 0")
	assert.Equal(t, before, tree(t, lakeDir))
	cancel()
	require.Equal(t, 0, <-done, runErr.String())
}

// TestDeviceRevokeAndRegisterForce, end to end over MQTT with TLS through iotwatch run: a name
// registered twice is refused; `device revoke` makes the running broker refuse the device within
// a few seconds, without a restart; `register --force` gives it a certificate that works, and the
// one it replaced stays refused.
func TestDeviceRevokeAndRegisterForce(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	code, _, errOut := runCLI(t, "", "ca", "init", "--dir", ca)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runCLI(t, "", "device", "register", "room-1", "--local", "--ca", ca)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runCLI(t, "", "device", "register", "room-1", "--local", "--ca", ca)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "room-1: the device has a certificate already")
	assert.Contains(t, errOut, "--force")
	code, _, errOut = runCLI(t, "", "device", "register", "room-1", "--local", "--ca", ca, "--days", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--days 0: out of range: want 1 to 3650")

	oldCert, oldKey := filepath.Join(dir, "room-1.pem"), filepath.Join(dir, "room-1-key.pem")
	for from, to := range map[string]string{filepath.Join(ca, "devices", "room-1.pem"): oldCert, filepath.Join(ca, "devices", "room-1-key.pem"): oldKey} {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o600))
	}
	addrFile := filepath.Join(dir, "addr")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--lake", filepath.Join(dir, "lake"), "--thresholds", "../../events/thresholds.csv",
			"--mqtt", "127.0.0.1:0", "--addr-file", addrFile, "--aggregate-every", "0", "--quiet",
			"--tls-cert", filepath.Join(ca, "server.pem"), "--tls-key", filepath.Join(ca, "server-key.pem"),
			"--client-ca", filepath.Join(ca, "ca.pem")}, strings.NewReader(""), &bytes.Buffer{}, &runErr)
	}()
	broker := wait.File(t, addrFile, 10*time.Second, runErr.String)
	readings := filepath.Join(dir, "room-1.jsonl")
	require.NoError(t, os.WriteFile(readings, []byte(`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21}`+"\n"), 0o644))
	publish := func(cert, key string) (int, string) {
		code, out, errOut := runCLI(t, "", "simulate", "--broker", broker, "--readings", readings, "--tls",
			"--cert", cert, "--key", key, "--ca", filepath.Join(ca, "ca.pem"))
		return code, out + errOut
	}
	code, out := publish(oldCert, oldKey)
	require.Equal(t, 0, code, out)

	code, out, errOut = runCLI(t, "", "device", "revoke", "room-1", "--ca", ca)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "revoked the certificate of room-1")
	revokedAt, sent, maybe := time.Now(), 1, 0
	for {
		code, out := publish(oldCert, oldKey)
		if code != 0 && strings.Contains(out, "connecting to ") {
			break // refused at the connection: nothing of it can have arrived
		}
		if code != 0 {
			// connected before the run read the list again, and dropped when it did: its one
			// message may have been acknowledged by the broker before the drop, or not
			maybe++
		} else {
			sent++ // before the run read the list again
		}
		require.Less(t, time.Since(revokedAt), 10*time.Second, "the revoked certificate still connects")
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("refused %s after the revocation", time.Since(revokedAt).Round(100*time.Millisecond))
	code, _, errOut = runCLI(t, "", "device", "revoke", "room-1", "--ca", ca)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "revoked already")

	code, out, errOut = runCLI(t, "", "device", "register", "room-1", "--local", "--ca", ca, "--force")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "revoked the old certificate of room-1")
	time.Sleep(1500 * time.Millisecond) // the run reads the list again every second
	code, out = publish(filepath.Join(ca, "devices", "room-1.pem"), filepath.Join(ca, "devices", "room-1-key.pem"))
	assert.Equal(t, 0, code, out)
	code, _ = publish(oldCert, oldKey)
	assert.NotEqual(t, 0, code, "the replaced certificate stays refused")
	cancel()
	require.Equal(t, 0, <-done, runErr.String())
	assert.Contains(t, runErr.String(), "refused a connection whose certificate is revoked")
	got := regexp.MustCompile(`messages (\d+),`).FindStringSubmatch(runErr.String())
	require.NotNil(t, got, runErr.String())
	n, _ := strconv.Atoi(got[1])
	assert.True(t, n >= sent+1 && n <= sent+1+maybe, "messages %d: want %d, and at most %d more from connections dropped at the revocation: the refused connections published nothing", n, sent+1, maybe)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

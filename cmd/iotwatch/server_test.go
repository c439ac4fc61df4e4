package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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
	for _, k := range []string{"lake", "mqtt", "http", "link-base", "max-log-bytes"} {
		assert.True(t, cmd.Flags().Lookup(k).Changed, k)
	}
	unit, err := os.ReadFile("../../deploy/iotwatch.service")
	require.NoError(t, err)
	for _, d := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=iotwatch", "NoNewPrivileges=yes",
		"ExecStart=/usr/local/bin/iotwatch run --config /etc/iotwatch/iotwatch.toml", "LoadCredential=server-key.pem:"} {
		assert.Contains(t, string(unit), "\n"+d, d)
	}
}

package iotdevice_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/iotwatch/iotwatch/shared/aws/iotdevice"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// fakeIoT answers the IoT REST API calls of a registration and records them.
type fakeIoT struct {
	mu    sync.Mutex
	calls []string
	fail  string // a path prefix to fail with 400
}

func (f *fakeIoT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	call := r.Method + " " + r.URL.Path
	if p := r.Header.Get("x-amzn-principal"); p != "" {
		call += " principal=" + p
	}
	if len(body) > 0 {
		call += " " + string(body)
	}
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.fail != "" && strings.HasPrefix(r.URL.Path, f.fail) {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(404)
		w.Write([]byte(`{"message":"policy not found"}`))
		return
	}
	switch {
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/things/"):
		name := strings.TrimPrefix(r.URL.Path, "/things/")
		json.NewEncoder(w).Encode(map[string]string{"thingName": name, "thingArn": "arn:aws:iot:eu-west-1:123456789012:thing/" + name})
	case r.Method == "POST" && r.URL.Path == "/keys-and-certificate":
		if r.URL.Query().Get("setAsActive") != "true" {
			w.WriteHeader(400)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"certificateArn": "arn:aws:iot:eu-west-1:123456789012:cert/abc", "certificateId": "abc",
			"certificatePem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
			"keyPair":        map[string]string{"PublicKey": "pub", "PrivateKey": "-----BEGIN RSA PRIVATE KEY-----\nsecret\n-----END RSA PRIVATE KEY-----\n"}})
	case r.Method == "PUT", r.Method == "POST":
		w.Write([]byte(`{}`))
	case r.Method == "GET" && r.URL.Path == "/endpoint":
		json.NewEncoder(w).Encode(map[string]string{"endpointAddress": "abc123-ats.iot.eu-west-1.amazonaws.com"})
	default:
		w.WriteHeader(404)
	}
}

func client(t *testing.T, f *fakeIoT) *iot.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return iot.NewFromConfig(awstest.Config(srv.URL))
}

func TestRegister(t *testing.T) {
	f := &fakeIoT{}
	dir := t.TempDir()
	reg, err := iotdevice.Register(context.Background(), client(t, f), "room-7", "iotwatch-DevicePolicy", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"POST /things/room-7 {}",
		"POST /keys-and-certificate",
		`PUT /target-policies/iotwatch-DevicePolicy {"target":"arn:aws:iot:eu-west-1:123456789012:cert/abc"}`,
		"PUT /things/room-7/principals principal=arn:aws:iot:eu-west-1:123456789012:cert/abc",
		"GET /endpoint",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if reg.Endpoint != "abc123-ats.iot.eu-west-1.amazonaws.com" || reg.Topic != "devices/room-7/readings" || reg.Thing != "room-7" {
		t.Errorf("registration = %+v", reg)
	}
	key, err := os.Stat(filepath.Join(dir, "room-7.private.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v, %v", key, err)
	}
	if b, _ := os.ReadFile(reg.CertFile); !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("certificate file holds %q", b)
	}
	// Registering again refuses to overwrite the credentials.
	if _, err := iotdevice.Register(context.Background(), client(t, f), "room-7", "p", dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second registration: %v", err)
	}
}

func TestRegisterErrors(t *testing.T) {
	for _, tc := range []struct {
		name, device, policy, fail, want string
	}{
		{"bad name", "room 7", "p", "", "does not match"},
		{"no policy", "room-7", "", "", "no device policy"},
		{"unknown policy", "room-7", "nope", "/target-policies/", "attaching policy nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeIoT{fail: tc.fail}
			_, err := iotdevice.Register(context.Background(), client(t, f), tc.device, tc.policy, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Register error = %v; want %q", err, tc.want)
			}
		})
	}
}

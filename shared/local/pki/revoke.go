package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/durable"
)

// RevokedFile is the deny list of a CA directory: the certificates the broker refuses although
// the CA signed them, one a line (serial in hex, the device id, when), read by iotwatch run.
const RevokedFile = "revoked.csv"

const revokedHeader = "serial,device_id,revoked_at"

// ErrExists is returned (wrapped) by IssueDevice when the device has a certificate already.
var ErrExists = errors.New("the device has a certificate already")

// ErrRevoked is returned (wrapped) by Revoke for a certificate on the deny list already.
var ErrRevoked = errors.New("revoked already")

// DeviceCert reads the certificate IssueDevice wrote for a device.
func DeviceCert(caDir, id string) (*x509.Certificate, error) {
	path := filepath.Join(caDir, DevicesDir, id+".pem")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate of %s: %w", id, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return c, nil
}

// Revoke adds the device's current certificate (caDir/devices/<id>.pem) to the CA's deny list
// and returns its serial (hex). A certificate revoked already is an error that says so.
func Revoke(caDir, id string, now time.Time) (string, error) {
	c, err := DeviceCert(caDir, id)
	if err != nil {
		return "", err
	}
	return revokeCert(caDir, c, now)
}

var revoking sync.Mutex // one writer of a deny list at a time in this process

func revokeCert(caDir string, c *x509.Certificate, now time.Time) (string, error) {
	revoking.Lock()
	defer revoking.Unlock()
	path := filepath.Join(caDir, RevokedFile)
	entries, err := readRevoked(path)
	if err != nil {
		return "", err
	}
	serial := c.SerialNumber.Text(16)
	if _, ok := entries[serial]; ok {
		return serial, fmt.Errorf("the certificate %s of %s: %w", serial, c.Subject.CommonName, ErrRevoked)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(old) == 0 {
		old = []byte(revokedHeader + "\n")
	}
	line := fmt.Sprintf("%s,%s,%s\n", serial, c.Subject.CommonName, now.UTC().Format(time.RFC3339))
	if err := durable.WriteFile(path, append(old, line...), 0o644); err != nil { // whole or not at all: the broker reloads it
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return serial, nil
}

// readRevoked reads a deny list: serials (hex, lower case) to device ids. A missing file is an
// empty list; a bad line refuses the whole file, naming it.
func readRevoked(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the deny list: %w", err)
	}
	return parseRevoked(path, b)
}

func parseRevoked(path string, b []byte) (map[string]string, error) {
	out := map[string]string{}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 3
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && strings.Join(rec, ",") == revokedHeader {
			continue
		}
		n, ok := new(big.Int).SetString(rec[0], 16)
		if !ok || n.Sign() <= 0 {
			return nil, fmt.Errorf("%s:%d: serial %q: want a certificate serial number in hex", path, line, rec[0])
		}
		out[n.Text(16)] = rec[1]
	}
}

// DenyList is a CA's deny list as the broker reads it: Reload reads the file again when it
// changed (a missing file is an empty list), and Revoked answers from what was read last.
type DenyList struct {
	path    string
	serials atomic.Pointer[map[string]string]
	mu      sync.Mutex // one Reload at a time
	stamp   fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// OpenDenyList reads the deny list at path (RevokedFile of the CA directory); a bad file is an
// error, a missing one an empty list.
func OpenDenyList(path string) (*DenyList, error) {
	d := &DenyList{path: path}
	d.serials.Store(&map[string]string{})
	if _, err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Path is the file the list is read from.
func (d *DenyList) Path() string { return d.path }

// Reload reads the file again if its size or modification time changed, and says whether the
// list changed. On an error the list read last stays in force.
func (d *DenyList) Reload() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st fileStamp
	fi, err := os.Stat(d.path)
	switch {
	case err == nil:
		st = fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("reading the deny list: %w", err)
	}
	if st == d.stamp {
		return false, nil
	}
	serials, err := readRevoked(d.path)
	if err != nil {
		return false, err
	}
	d.stamp = st
	d.serials.Store(&serials)
	return true, nil
}

// Revoked says whether the certificate is on the list.
func (d *DenyList) Revoked(c *x509.Certificate) bool {
	_, ok := (*d.serials.Load())[c.SerialNumber.Text(16)]
	return ok
}

// Len is the number of certificates on the list.
func (d *DenyList) Len() int { return len(*d.serials.Load()) }

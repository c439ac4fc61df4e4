// Package pki issues the certificates of a one-machine site, as AWS IoT Core does for the cloud:
// a local certificate authority, the broker's server certificate, and one client certificate
// per device whose common name is the device's id (the broker lets it publish to its own
// topic only). Keys are ECDSA P-256; private keys are written readable by their owner only.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// The lifetimes of what is issued.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 825 * 24 * time.Hour // what browsers and most clients accept of a server certificate
	DeviceLifetime = 2 * 365 * 24 * time.Hour
)

// The files of a CA directory.
const (
	CACert     = "ca.pem"
	CAKey      = "ca-key.pem"
	ServerCert = "server.pem"
	ServerKey  = "server-key.pem"
	DevicesDir = "devices"
)

// InitCA creates a CA in dir and a server certificate it signs for hosts (names or addresses;
// localhost and 127.0.0.1 are always in it). An existing CA is never overwritten.
func InitCA(dir string, hosts []string, now time.Time) error {
	if _, err := os.Stat(filepath.Join(dir, CAKey)); err == nil {
		return fmt.Errorf("%s already holds a CA: refusing to overwrite it (its devices' certificates would stop working)", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the CA directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "iotwatch local CA", Organization: []string{"iotwatch"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating the CA certificate: %w", err)
	}
	if err := writePair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey), der, key); err != nil {
		return err
	}
	ca, caKey, err := load(dir)
	if err != nil {
		return err
	}
	stmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "iotwatch broker"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			stmpl.IPAddresses = append(stmpl.IPAddresses, ip)
		} else if h != "" {
			stmpl.DNSNames = append(stmpl.DNSNames, h)
		}
	}
	return issue(ca, caKey, stmpl, filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey))
}

// IssueDevice issues a client certificate for a device, valid from notBefore for lifetime,
// into caDir/devices/<id>.pem and <id>-key.pem, and returns their paths. A device with a
// certificate already is refused (ErrExists): ReissueDevice replaces it.
func IssueDevice(caDir, id string, notBefore time.Time, lifetime time.Duration) (cert, key string, err error) {
	if !reading.ValidDeviceID(id) {
		return "", "", fmt.Errorf("device id %q is not valid (letters, digits, '-', '_', '.', ':' only)", id)
	}
	if _, err := os.Stat(filepath.Join(caDir, DevicesDir, id+".pem")); err == nil {
		return "", "", fmt.Errorf("%s: %w (%s): give --force to issue a new one (the old one is then revoked)", id, ErrExists,
			filepath.Join(caDir, DevicesDir, id+".pem"))
	}
	return issueDevice(caDir, id, notBefore, lifetime)
}

// ReissueDevice issues a new certificate for a device, as IssueDevice, after putting its current
// one (if any) on the CA's deny list: whoever holds the old key can no longer connect. It
// returns the old certificate's serial (hex; "" when there was none).
func ReissueDevice(caDir, id string, notBefore time.Time, lifetime time.Duration, now time.Time) (cert, key, revoked string, err error) {
	if !reading.ValidDeviceID(id) {
		return "", "", "", fmt.Errorf("device id %q is not valid (letters, digits, '-', '_', '.', ':' only)", id)
	}
	if _, _, err := load(caDir); err != nil { // the CA first: nothing revoked if nothing can be issued
		return "", "", "", err
	}
	if old, err := DeviceCert(caDir, id); err == nil {
		if revoked, err = revokeCert(caDir, old, now); err != nil && !errors.Is(err, ErrRevoked) {
			return "", "", "", err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", "", err
	}
	cert, key, err = issueDevice(caDir, id, notBefore, lifetime)
	return cert, key, revoked, err
}

func issueDevice(caDir, id string, notBefore time.Time, lifetime time.Duration) (cert, key string, err error) {
	ca, caKey, err := load(caDir)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(caDir, DevicesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("creating %s: %w", dir, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cert, key = filepath.Join(dir, id+".pem"), filepath.Join(dir, id+"-key.pem")
	return cert, key, issue(ca, caKey, tmpl, cert, key)
}

func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating a key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("signing the certificate of %s: %w", tmpl.Subject.CommonName, err)
	}
	return writePair(certPath, keyPath, der, key)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	return n
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding a private key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", keyPath, err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", certPath, err)
	}
	return nil
}

func load(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA in %s (iotwatch ca init --dir %s creates one): %w", dir, dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the CA key is not an ECDSA key")
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	return ca, key, nil
}

// BrokerTLS is the broker's TLS configuration: its certificate, and client certificates
// required and verified against clientCA.
func BrokerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cfg, err := ServerTLS(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("reading --client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--client-ca %s holds no PEM certificate", clientCAFile)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return cfg, nil
}

// ServerTLS is a server's TLS configuration with its certificate (TLS 1.2 at least).
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading --tls-cert and --tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

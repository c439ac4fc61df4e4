package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/local/pki"
)

func newCA(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The local certificate authority of a one-machine site (iotwatch run with TLS)"}
	var dir string
	var hosts []string
	initCmd := &cobra.Command{
		Use:   "init --dir DIR [--host NAME]...",
		Short: "Create a CA and the broker's server certificate",
		Long: `init writes DIR/ca.pem and ca-key.pem (the CA, ECDSA P-256, 10 years) and DIR/server.pem and
server-key.pem (the broker's, 825 days, for localhost, 127.0.0.1 and every --host). Keys are
readable by their owner only; an existing CA is never overwritten. Then:

  iotwatch device register room-1 --local --ca DIR
  iotwatch run ... --mqtt 0.0.0.0:8883 --tls-cert DIR/server.pem --tls-key DIR/server-key.pem --client-ca DIR/ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.InitCA(dir, hosts, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "CA %s, server certificate %s (hosts: %s)\n",
				filepath.Join(dir, pki.CACert), filepath.Join(dir, pki.ServerCert), strings.Join(append([]string{"localhost", "127.0.0.1"}, hosts...), ", "))
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory of the CA")
	initCmd.Flags().StringSliceVar(&hosts, "host", nil, "a name or address devices reach the broker at (repeatable)")
	requireFlags(initCmd, "dir")
	cmd.AddCommand(initCmd)
	return cmd
}

// registerLocal issues a device's certificate from the local CA; force replaces one it has,
// revoking the old.
func registerLocal(stdout io.Writer, caDir, name string, lifetime time.Duration, force bool) error {
	var cert, key, revoked string
	var err error
	if force {
		cert, key, revoked, err = pki.ReissueDevice(caDir, name, time.Now().Add(-time.Minute), lifetime, time.Now())
	} else {
		cert, key, err = pki.IssueDevice(caDir, name, time.Now().Add(-time.Minute), lifetime)
	}
	if err != nil {
		return err
	}
	if revoked != "" {
		fmt.Fprintf(stdout, "revoked the old certificate of %s (serial %s) in %s\n", name, revoked, filepath.Join(caDir, pki.RevokedFile))
	}
	ca := filepath.Join(caDir, pki.CACert)
	fmt.Fprintf(stdout, "certificate %s, key %s (common name %s, valid %d days, until %s)\n", cert, key, name,
		int(lifetime.Round(24*time.Hour)/(24*time.Hour)), time.Now().Add(lifetime).UTC().Format("2006-01-02"))
	// the client id must be the certificate's name; a device publishes on its own topic only
	fmt.Fprintf(stdout, "Publish a reading with mosquitto_pub (HOST: a name on the broker's certificate, as ca init listed):\n"+
		"  mosquitto_pub -h HOST -p 8883 --cafile %s --cert %s --key %s -i %s -q 1 -t devices/%s/readings \\\n"+
		"    -m '{\"device_id\":\"%s\",\"event_time\":\"'\"$(date -u +%%FT%%TZ)\"'\",\"temperature\":21.5}'\n",
		shellQuote(ca), shellQuote(cert), shellQuote(key), name, name, name)
	fmt.Fprintf(stdout, "or simulate: iotwatch simulate --broker HOST:8883 --tls --cert %s --key %s --ca %s ...\n",
		shellQuote(cert), shellQuote(key), shellQuote(ca))
	return nil
}

func newDeviceRevoke(stdout io.Writer) *cobra.Command {
	var caDir string
	cmd := &cobra.Command{
		Use:   "revoke NAME --ca DIR",
		Short: "Put a device's local certificate on the deny list: iotwatch run refuses it",
		Long: `revoke adds the certificate of NAME (DIR/devices/NAME.pem, issued by iotwatch device register
NAME --local) to DIR/revoked.csv, the deny list. A running iotwatch run reads the list again
within a second (every second it checks whether the file changed): it disconnects the device if
connected and refuses its connections from then on; a run started later reads it at start
(--revoked, by default revoked.csv beside --client-ca). iotwatch device register NAME --local
--force issues the device a new certificate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			serial, err := pki.Revoke(caDir, args[0], time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked the certificate of %s (serial %s) in %s\n", args[0], serial, filepath.Join(caDir, pki.RevokedFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&caDir, "ca", "", "the CA directory (iotwatch ca init)")
	requireFlags(cmd, "ca")
	return cmd
}

// shellQuote quotes a path for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

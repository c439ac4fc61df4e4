// Package iotdevice registers a device with AWS IoT Core: a thing named as the device, an active
// certificate, the stack's device policy attached to it, and the certificate attached to the
// thing, so that the device can connect as itself and publish only its own readings topic.
package iotdevice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Client is the part of the IoT API registration uses.
type Client interface {
	CreateThing(ctx context.Context, in *iot.CreateThingInput, opts ...func(*iot.Options)) (*iot.CreateThingOutput, error)
	CreateKeysAndCertificate(ctx context.Context, in *iot.CreateKeysAndCertificateInput, opts ...func(*iot.Options)) (*iot.CreateKeysAndCertificateOutput, error)
	AttachPolicy(ctx context.Context, in *iot.AttachPolicyInput, opts ...func(*iot.Options)) (*iot.AttachPolicyOutput, error)
	AttachThingPrincipal(ctx context.Context, in *iot.AttachThingPrincipalInput, opts ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error)
	DescribeEndpoint(ctx context.Context, in *iot.DescribeEndpointInput, opts ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error)
}

// Registration is what a device needs to connect.
type Registration struct {
	Thing          string `json:"thing_name"`
	CertificateArn string `json:"certificate_arn"`
	Endpoint       string `json:"endpoint"`
	Topic          string `json:"topic"`
	CertFile       string `json:"cert_file"`
	KeyFile        string `json:"key_file"`
}

// Register creates the thing and its certificate and writes NAME.cert.pem and NAME.private.key
// (mode 0600) into dir. The key exists only in that file: IoT keeps no copy.
func Register(ctx context.Context, c Client, name, policy, dir string) (Registration, error) {
	var r Registration
	if !reading.ValidDeviceID(name) {
		return r, fmt.Errorf("device name %q does not match %s (it is the thing name and the device_id)", name, reading.DeviceIDPattern)
	}
	if policy == "" {
		return r, errors.New("no device policy: give the stack output DevicePolicyName")
	}
	certFile, keyFile := filepath.Join(dir, name+".cert.pem"), filepath.Join(dir, name+".private.key")
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err == nil {
			return r, fmt.Errorf("%s exists: registering again would replace its credentials; move it away first", f)
		}
	}
	if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(name)}); err != nil {
		return r, fmt.Errorf("creating thing %s: %w", name, err)
	}
	cert, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		return r, fmt.Errorf("creating a certificate: %w", err)
	}
	if cert.KeyPair == nil || cert.CertificatePem == nil || cert.CertificateArn == nil {
		return r, errors.New("IoT returned a certificate without its key pair")
	}
	// Write the credentials before anything else can fail: the private key is not retrievable later.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, err
	}
	if err := os.WriteFile(keyFile, []byte(aws.ToString(cert.KeyPair.PrivateKey)), 0o600); err != nil {
		return r, fmt.Errorf("writing the private key: %w", err)
	}
	if err := os.WriteFile(certFile, []byte(aws.ToString(cert.CertificatePem)), 0o644); err != nil {
		return r, fmt.Errorf("writing the certificate: %w", err)
	}
	if _, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(policy), Target: cert.CertificateArn}); err != nil {
		return r, fmt.Errorf("attaching policy %s to the certificate: %w", policy, err)
	}
	if _, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(name), Principal: cert.CertificateArn}); err != nil {
		return r, fmt.Errorf("attaching the certificate to thing %s: %w", name, err)
	}
	ep, err := c.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil {
		return r, fmt.Errorf("reading the IoT data endpoint: %w", err)
	}
	return Registration{Thing: name, CertificateArn: aws.ToString(cert.CertificateArn), Endpoint: aws.ToString(ep.EndpointAddress),
		Topic: topic.Readings(name), CertFile: certFile, KeyFile: keyFile}, nil
}

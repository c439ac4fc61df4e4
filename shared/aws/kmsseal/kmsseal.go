// Package kmsseal seals channels' targets and secrets with AWS KMS (dynamostore.Sealer): the
// KMS Encrypt API directly, since a channel's sealed value (a URL or routing key and a secret, a
// few hundred bytes) is far under Encrypt's 4,096-byte limit, so no data key nor envelope is
// needed. The encryption context (user and channel id) is bound to each value and logged by
// CloudTrail with each Decrypt. The CLI's user needs kms:Encrypt on the key; the notify function
// alone has kms:Decrypt (docs/notify.md).
package kmsseal

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Client is the part of the KMS client a KMS sealer uses.
type Client interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMS seals with one KMS key.
type KMS struct {
	client Client
	keyID  string
}

// New returns a sealer of the key keyID (an id, ARN or alias/NAME) through client.
func New(client Client, keyID string) *KMS { return &KMS{client: client, keyID: keyID} }

// Seal encrypts plaintext (at most 4,096 bytes) with the key, under encContext.
func (k *KMS) Seal(ctx context.Context, plaintext []byte, encContext map[string]string) ([]byte, error) {
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: &k.keyID, Plaintext: plaintext, EncryptionContext: encContext,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return nil, fmt.Errorf("KMS Encrypt with key %s: %w", k.keyID, err)
	}
	return out.CiphertextBlob, nil
}

// Open decrypts a value Seal returned, under the same encContext; the key is named too, so that
// a value sealed with another key is refused rather than opened.
func (k *KMS) Open(ctx context.Context, sealed []byte, encContext map[string]string) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{KeyId: &k.keyID, CiphertextBlob: sealed, EncryptionContext: encContext,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return nil, fmt.Errorf("KMS Decrypt with key %s: %w", k.keyID, err)
	}
	return out.Plaintext, nil
}

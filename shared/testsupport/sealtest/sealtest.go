// Package sealtest is a local Sealer for tests (there is no KMS emulator): AES-256-GCM with a
// random key of its own, the encryption context bound as additional data, so that a value
// sealed under one context does not open under another, as with KMS.
package sealtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sort"
	"strings"
)

// AESGCM seals with AES-256-GCM. Its zero value is not usable: call New.
type AESGCM struct {
	aead cipher.AEAD
	// Sealed counts the values sealed, Opened those opened (tests check who decrypted).
	Sealed, Opened int
}

// New returns a sealer with a fresh random key.
func New() *AESGCM {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &AESGCM{aead: aead}
}

// aad is the encryption context as additional data: its pairs sorted, NUL-separated.
func aad(encContext map[string]string) []byte {
	pairs := make([]string, 0, len(encContext))
	for k, v := range encContext {
		pairs = append(pairs, k+"\x00"+v)
	}
	sort.Strings(pairs)
	return []byte(strings.Join(pairs, "\x00\x00"))
}

// Seal encrypts plaintext: a random nonce, then the ciphertext and its tag.
func (s *AESGCM) Seal(_ context.Context, plaintext []byte, encContext map[string]string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	s.Sealed++
	return s.aead.Seal(nonce, nonce, plaintext, aad(encContext)), nil
}

// Open decrypts what Seal returned under the same context.
func (s *AESGCM) Open(_ context.Context, sealed []byte, encContext map[string]string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealtest: sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad(encContext))
	if err != nil {
		return nil, errors.New("sealtest: the value does not open under this key and context")
	}
	s.Opened++
	return plain, nil
}

package site

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Key file names written by InitKeys.
const (
	PrivateKeyFile = "site.key" // stays where people are managed
	PublicKeyFile  = "site.pub" // copied to every door (site.public_key_file)
)

// InitKeys makes a new site key pair in dir (PKCS#8 and PKIX PEM files). It
// refuses to overwrite an existing private key: every door trusts it.
func InitKeys(dir string) (privPath, pubPath string, err error) {
	privPath, pubPath = filepath.Join(dir, PrivateKeyFile), filepath.Join(dir, PublicKeyFile)
	if _, err := os.Stat(privPath); err == nil {
		return "", "", fmt.Errorf("site: %s already exists; every door of the site trusts it, so it is not replaced", privPath)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("site: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", fmt.Errorf("site: encode key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("site: encode key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("site: %w", err)
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("site: %w", err)
	}
	if err := errors.Join(pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), f.Close()); err != nil {
		return "", "", fmt.Errorf("site: write %s: %w", privPath, err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", "", fmt.Errorf("site: %w", err)
	}
	return privPath, pubPath, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s holds no PEM %q block", path, typ)
	}
	return blk.Bytes, nil
}

// LoadPrivateKey reads a site private key (PEM "PRIVATE KEY", Ed25519).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, fmt.Errorf("site: private key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("site: private key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("site: private key %s is %T, not Ed25519", path, k)
	}
	return priv, nil
}

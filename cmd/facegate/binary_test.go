package main

import (
	"os"
	"path/filepath"
	"testing"
)

// writeConfig writes a configuration for a test daemon into dir and returns its path.
func writeConfig(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "facegate.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

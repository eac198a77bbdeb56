package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/facegate/facegate/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// facegateBinary builds bin/facegate once per test process (with the Mat
// profile off: the daemon is tested as users run it) and returns its path.
func facegateBinary(t testing.TB) string {
	t.Helper()
	root := testenv.ProjectRoot(t)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "facegate-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "facegate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/facegate")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = err
			t.Logf("go build: %s", out)
		}
	})
	if binErr != nil {
		t.Fatalf("building facegate: %v", binErr)
	}
	return binPath
}

// writeConfig writes a configuration for a test daemon into dir and returns its path.
func writeConfig(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "facegate.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

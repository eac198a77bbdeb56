package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// WaitFor polls cond until it holds and fails the test when limit passes
// first. The limit only guards against a hang; it never measures speed.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// FacegateBinary builds bin/facegate from this checkout once per test
// process (without the Mat profile: the daemon is tested as users run it)
// and returns its path.
func FacegateBinary(t testing.TB) string {
	t.Helper()
	root := ProjectRoot(t)
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "facegate-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "facegate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/facegate")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err
			t.Logf("go build: %s", out)
		}
	})
	if binErr != nil {
		t.Fatalf("testenv: building facegate: %v", binErr)
	}
	return binPath
}

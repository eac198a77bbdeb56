package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// LivenessDir returns ../shared/liveness, the liveness development set
// (live/, print/, replay/).
func LivenessDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "liveness")
}

// LivenessImage returns the path of one image of the liveness set, e.g.
// LivenessImage(t, "print", "nuaa_0001_0001_00_04_03_163.jpg").
func LivenessImage(t testing.TB, species, file string) string {
	t.Helper()
	p := filepath.Join(LivenessDir(t), species, file)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

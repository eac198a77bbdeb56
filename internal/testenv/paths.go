package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// ProjectRoot returns the directory holding go.mod, found by walking up from
// the working directory of the test.
func ProjectRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the test directory")
		}
		dir = parent
	}
}

// SharedDir returns ../shared relative to the project root.
func SharedDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(filepath.Dir(ProjectRoot(t)), "shared")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("testenv: shared fixtures missing: %v", err)
	}
	return d
}

// ModelsDir returns $FACEGATE_MODELS or ../shared/models.
func ModelsDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("FACEGATE_MODELS"); d != "" {
		return d
	}
	return filepath.Join(SharedDir(t), "models")
}

// FacesDir returns ../shared/faces.
func FacesDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "faces")
}

// Face returns the path of one image in ../shared/faces, e.g. Face(t, "df01", "img1.jpg").
func Face(t testing.TB, folder, file string) string {
	t.Helper()
	p := filepath.Join(FacesDir(t), folder, file)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

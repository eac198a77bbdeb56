package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDatabasePathErrorsNameDataDirAndFile: a database path that cannot be
// used names both data_dir and the file, so the operator knows what to fix.
func TestDatabasePathErrorsNameDataDirAndFile(t *testing.T) {
	cases := map[string]func(t *testing.T, dataDir string){
		"not a database": func(t *testing.T, dataDir string) {
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dataDir, "facegate.db"), []byte("this is a text file, not SQLite, padded to be long enough for a header check.........."), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"a directory": func(t *testing.T, dataDir string) {
			if err := os.MkdirAll(filepath.Join(dataDir, "facegate.db"), 0o750); err != nil {
				t.Fatal(err)
			}
		},
		"data_dir is a file": func(t *testing.T, dataDir string) {
			if err := os.WriteFile(dataDir, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dataDir := filepath.Join(dir, "state")
			setup(t, dataDir)
			cfgPath := writeConfig(t, dir, fmt.Sprintf("data_dir = %q\n[mqtt]\nbroker = \"\"\n", dataDir))
			err := dispatch(context.Background(), []string{"people", "-config", cfgPath, "list"}, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("people list succeeded")
			}
			for _, want := range []string{"data_dir", dataDir, filepath.Join(dataDir, "facegate.db"), cfgPath} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// minimalConfig runs the daemon on a folder with one no-face image, the
// simulated door, no MQTT and no web page.
func minimalConfig(t *testing.T, dir string, extra string) string {
	frames := filepath.Join(dir, "frames")
	os.MkdirAll(frames, 0o755)
	os.Symlink(testenv.Face(t, "_noface", "fruits.jpg"), filepath.Join(frames, "0001.jpg"))
	return writeConfig(t, dir, fmt.Sprintf(`
device_id = "test-door"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 5
[mqtt]
broker = ""
[web]
listen = ""
%s`, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, extra))
}

func TestDaemonStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	cfg := minimalConfig(t, dir, "")
	// The daemon's output is written by exec's copying goroutine while the
	// test reads it: a SyncBuffer, not a bytes.Buffer (a data race).
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "facegate running") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("daemon did not start:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "facegate.db")); err != nil {
		t.Errorf("database not created: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("daemon did not stop within 20 s of SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "stopped cleanly") {
		t.Errorf("no clean-stop log line:\n%s", out.String())
	}
}

func TestBadConfigIsRefusedWithKeyAndFile(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[door]\nrelay_pn = \"GPIO17\"\n")
	out, err := exec.Command(bin, "run", "-config", cfg).CombinedOutput()
	if err == nil {
		t.Fatal("daemon started with a typo'd key")
	}
	if !strings.Contains(string(out), "door.relay_pn") || !strings.Contains(string(out), cfg) {
		t.Errorf("message does not name key and file: %s", out)
	}
	out, err = exec.Command(bin, "run", "-config", filepath.Join(dir, "missing.toml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing.toml") {
		t.Errorf("missing config: err=%v out=%s", err, out)
	}
}

func TestVersionLine(t *testing.T) {
	out, err := exec.Command(testenv.FacegateBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, "facegate ") || !strings.Contains(s, "OpenCV 4.6") || !strings.Contains(s, "go1.") || strings.Count(s, "\n") != 1 {
		t.Errorf("version = %q", s)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// TestBusyWebPortFailsAlone: with web.listen taken by another program the
// daemon keeps running (the door, the camera loop and remote commands work),
// the error names web.listen, health is degraded, and the page comes up by
// itself once the port is free.
func TestBusyWebPortFailsAlone(t *testing.T) {
	t.Parallel()
	bin := testenv.FacegateBinary(t)
	b := testenv.StartBroker(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	os.MkdirAll(frames, 0o755)
	os.Symlink(testenv.Face(t, "_noface", "fruits.jpg"), filepath.Join(frames, "0001.jpg"))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
device_id = "web-fail"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 5
[mqtt]
broker = %q
keepalive_seconds = 5
command_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[web]
listen = %q
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, b.URL, addr))
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	}()
	waitLog := func(what string, timeout time.Duration, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond(out.String()) {
			select {
			case err := <-done:
				t.Fatalf("daemon exited (%v) waiting for %s:\n%s", err, what, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitLog("the web failure", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "facegate running") && strings.Contains(s, "web.listen") && strings.Contains(s, addr)
	})

	// The door still answers a signed status command, and says it is degraded.
	reply, err := exec.Command(bin, "cmd", "-config", cfg, "status").CombinedOutput()
	if err != nil {
		t.Fatalf("facegate cmd status with the web page down: %v\n%s", err, reply)
	}
	if !strings.Contains(string(reply), `"ok":true`) || !strings.Contains(string(reply), `"health":"degraded"`) {
		t.Fatalf("status reply %s: want ok and health degraded", reply)
	}

	busy.Close() // the port is free: the page comes up on its next attempt
	var health struct {
		Status     string
		Components map[string]struct {
			OK     bool
			Detail string
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if err == nil && health.Components["web"].OK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("web page not up 30 s after the port was freed (%v, %+v):\n%s", err, health, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("daemon exited: %v\n%s", err, out.String())
	default:
	}
}

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// notifySocket is a real systemd notification socket (unixgram) recording
// what the daemon sends.
type notifySocket struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, conn: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:k])), "\n") {
				n.msgs = append(n.msgs, notifyMsg{time.Now(), line})
			}
			n.mu.Unlock()
		}
	}()
	return n
}

// times returns when text was received.
func (n *notifySocket) times(text string) []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []time.Time
	for _, m := range n.msgs {
		if m.text == text {
			out = append(out, m.at)
		}
	}
	return out
}

// TestWatchdogStopsOnHungCamera runs the daemon under a real NOTIFY_SOCKET
// with a 2 s watchdog. Its camera is a video file that is a FIFO nobody
// writes to: OpenCV's open blocks inside FFmpeg and never returns, like a
// hung V4L2 or GStreamer read. The daemon must report READY=1, ping
// WATCHDOG=1 at first, then stop pinging once the camera call counts as
// stuck, so that systemd restarts it.
func TestWatchdogStopsOnHungCamera(t *testing.T) {
	t.Parallel()
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "camera.mp4")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
device_id = "hung-camera"
data_dir = %q
models_dir = %q
[camera]
source = "file:%s"
fps = 5
stall_seconds = 1
[mqtt]
broker = ""
[web]
listen = ""
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), fifo))
	ns := listenNotify(t)
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=2000000")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close() // lets a leftover open inside OpenCV return
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for len(ns.times("READY=1")) == 0 || len(ns.times("WATCHDOG=1")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no READY=1 and WATCHDOG=1 on NOTIFY_SOCKET (got %v):\n%s", ns.msgs, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The camera call is stuck after the read timeout (1 s) plus 1 s; from
	// then on no progress is reported, and after one watchdog interval
	// (2 s) the pings stop. Wait for 3 s without a ping.
	deadline = time.Now().Add(30 * time.Second)
	for {
		ws := ns.times("WATCHDOG=1")
		if time.Since(ws[len(ws)-1]) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WATCHDOG=1 still sent %d times, the last %s ago, with the camera hung for 30 s:\n%s",
				len(ws), time.Since(ws[len(ws)-1]).Round(time.Millisecond), out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "not pinging the watchdog") {
		t.Fatalf("the daemon did not log why it stopped pinging:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "camera call has been blocked") {
		t.Fatalf("no camera_lost for the blocked camera call in the log:\n%s", out.String())
	}
}

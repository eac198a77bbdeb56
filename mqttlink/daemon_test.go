package mqttlink

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// These tests run the real daemon (`facegate run`) as a child process, so
// that it can be frozen (SIGSTOP) and killed (SIGKILL) like on a device.

// daemon is one `facegate run` child process.
type daemon struct {
	t    *testing.T
	bin  string
	cfg  string
	dir  string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan error
}

// newDaemon writes a configuration: camera on a folder with one no-face
// image, simulated door, no web page, MQTT to brokerURL with keep-alive k.
func newDaemon(t *testing.T, brokerURL string, k int) *daemon {
	t.Helper()
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	if err := os.MkdirAll(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.Face(t, "_noface", "fruits.jpg"), filepath.Join(frames, "0001.jpg")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "facegate.toml")
	body := fmt.Sprintf(`device_id = "door-1"
data_dir = %q
models_dir = %q
log_level = "info"
[camera]
source = "dir:%s"
fps = 2
[door]
gpio = "sim"
[mqtt]
broker = %q
keepalive_seconds = %d
ping_timeout_seconds = 1
write_timeout_seconds = 2
max_reconnect_seconds = 2
command_key = %q
[web]
listen = ""
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, brokerURL, k, testKey)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, bin: testenv.FacegateBinary(t), cfg: cfg, dir: dir}
	t.Cleanup(func() { d.kill() })
	return d
}

func (d *daemon) dbPath() string { return filepath.Join(d.dir, "var", "facegate.db") }

func (d *daemon) start() {
	d.t.Helper()
	d.out = &testenv.SyncBuffer{}
	d.cmd = exec.Command(d.bin, "run", "-config", d.cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.Env = append(os.Environ(), "OPENCV_LOG_LEVEL=ERROR")
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(d.cmd, d.done)
}

func (d *daemon) signal(s syscall.Signal) {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(s)
	}
}

// stop sends SIGTERM and returns the exit error.
func (d *daemon) stop() error {
	d.signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.cmd = nil
		return err
	case <-time.After(20 * time.Second):
		d.t.Fatalf("daemon did not exit 20 s after SIGTERM:\n%s", d.out.String())
		return nil
	}
}

func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGCONT)
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

// TestDaemonAvailability: a frozen daemon (SIGSTOP) makes the broker publish
// its will "offline" within 1.5 x keepalive plus mosquitto's keep-alive check
// interval; after SIGCONT it is back online; a graceful stop (SIGTERM) exits 0
// and leaves "offline" retained.
func TestDaemonAvailability(t *testing.T) {
	b := testenv.StartBroker(t)
	const k = 2
	obs := observe(t, b.URL, prefix+"/availability", "obs-daemon-avail", false)
	d := newDaemon(t, b.URL, k)
	d.start()
	testenv.WaitFor(t, "daemon online", 60*time.Second, func() bool { return string(obs.last(prefix+"/availability")) == "online" })
	time.Sleep(500 * time.Millisecond)

	d.signal(syscall.SIGSTOP)
	frozen := time.Now()
	testenv.WaitFor(t, "will published for the frozen daemon", 30*time.Second, func() bool {
		return string(obs.last(prefix+"/availability")) == "offline"
	})
	took := time.Since(frozen)
	// mosquitto 2.0 checks keep-alives about every 6-7 s (docs/mqtt.md).
	bound := time.Duration(1.5*k*float64(time.Second)) + 7*time.Second
	t.Logf("will arrived %s after SIGSTOP (1.5 K = %s, bound %s)", took.Round(time.Millisecond), time.Duration(1.5*k*float64(time.Second)), bound)
	if took > bound {
		t.Errorf("offline came %s after the freeze, more than 1.5 x keepalive + mosquitto's check interval (%s)", took, bound)
	}
	// The broker counts 1.5 x keepalive from the last packet it received,
	// which the client may have sent up to one keepalive before the freeze.
	if took < time.Duration(0.5*k*float64(time.Second))-200*time.Millisecond {
		t.Errorf("offline came %s after the freeze, before 1.5 x keepalive counted from the last possible packet: the daemon was not really silent", took)
	}

	d.signal(syscall.SIGCONT)
	testenv.WaitFor(t, "online again after SIGCONT", 30*time.Second, func() bool { return string(obs.last(prefix+"/availability")) == "online" })

	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.out.String())
	}
	if got := string(retained(t, b.URL, prefix+"/availability")); got != "offline" {
		t.Fatalf("retained availability after a graceful stop = %q, want offline", got)
	}
}

// TestDaemonNoLossAcrossKills: 1,000 events are written into the daemon's
// database by another process (as SQLite WAL allows) while the broker is
// stopped, restarted, frozen and killed and the daemon itself is killed with
// SIGKILL and restarted; every seq arrives.
func TestDaemonNoLossAcrossKills(t *testing.T) {
	b := testenv.StartBroker(t)
	obs := observe(t, b.URL, prefix+"/events", "obs-daemon-noloss", true)
	d := newDaemon(t, b.URL, 2)
	d.start()
	testenv.WaitFor(t, "database created", 60*time.Second, func() bool { _, err := os.Stat(d.dbPath()); return err == nil })
	testenv.WaitFor(t, "daemon online", 60*time.Second, func() bool { return string(retained(t, b.URL, prefix+"/availability")) == "online" })
	db := openDB(t, d.dbPath())

	var want []int64
	gen := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			rec, err := db.Record(context.Background(), facedb.Record{Kind: "event", Type: "unknown_face", Source: "face",
				Detail: map[string]any{"n": len(want)}})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, rec.Seq)
			if i%50 == 0 {
				time.Sleep(20 * time.Millisecond) // a stream, not one burst
			}
		}
	}
	drained := func() bool { return obs.distinctSeqs() >= len(want) }

	gen(150)
	d.signal(syscall.SIGKILL) // the daemon dies mid-stream
	<-d.done
	d.cmd = nil
	gen(150) // nobody sending
	d.start()
	gen(100)
	b.Stop()
	gen(150) // broker down
	b.Restart()
	gen(100)
	b.Freeze()
	gen(100) // broker frozen
	time.Sleep(3 * time.Second)
	b.Thaw()
	testenv.WaitFor(t, "drain before killing the broker", 90*time.Second, drained)
	b.Kill()
	gen(100) // broker killed
	b.Restart()
	gen(50)
	d.signal(syscall.SIGKILL) // and the daemon once more
	<-d.done
	d.cmd = nil
	gen(100)
	d.start()

	testenv.WaitFor(t, "all 1000 events delivered", 120*time.Second, drained)
	if len(want) != 1000 {
		t.Fatalf("generated %d events", len(want))
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	dups := 0
	for _, s := range want {
		if obs.seqs[s] == 0 {
			t.Errorf("seq %d never arrived", s)
		}
		dups += obs.seqs[s] - 1
	}
	lo, hi := want[0], want[len(want)-1]
	for s := lo; s <= hi; s++ {
		if obs.seqs[s] == 0 {
			t.Errorf("gap: seq %d (between %d and %d) never arrived", s, lo, hi)
		}
	}
	t.Logf("1000 events (seq %d..%d) delivered across 2 daemon SIGKILLs and broker stop/freeze/kill; %d duplicates", lo, hi, dups)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.out.String())
	}
}

package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Broker is a real mosquitto process listening on a loopback port.
type Broker struct {
	t       testing.TB
	Port    int
	Addr    string // host:port
	URL     string // tcp://host:port
	conf    string
	dataDir string
	cmd     *exec.Cmd
	done    chan struct{}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartBroker starts mosquitto on a free loopback port with persistence in a
// temporary directory and stops it when the test ends. extraConf lines are
// appended to the generated configuration.
func StartBroker(t testing.TB, extraConf ...string) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e == nil {
			bin = "/usr/sbin/mosquitto"
		} else {
			t.Fatalf("testenv: mosquitto not installed (make test installs it): %v", err)
		}
	}
	dir := t.TempDir()
	b := &Broker{t: t, Port: FreePort(t), dataDir: dir}
	b.Addr = fmt.Sprintf("127.0.0.1:%d", b.Port)
	b.URL = "tcp://" + b.Addr
	b.conf = filepath.Join(dir, "mosquitto.conf")
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nlog_dest stderr\nlog_type error\nlog_type warning\n", b.Port, dir)
	if os.Geteuid() == 0 {
		// As root, mosquitto switches to user "mosquitto", which cannot
		// write its persistence file into the test's private temp dir.
		conf += "user root\n"
	}
	for _, l := range extraConf {
		conf += l + "\n"
	}
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	b.start(bin)
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start(bin string) {
	b.t.Helper()
	b.cmd = exec.Command(bin, "-c", b.conf)
	// The broker's log goes to a file the test keeps (benchmark output stays
	// readable); it is shown when the broker does not come up.
	logPath := filepath.Join(b.dataDir, "mosquitto.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("testenv: %v", err)
	}
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	err = b.cmd.Start()
	logFile.Close()
	if err != nil {
		b.t.Fatalf("testenv: start mosquitto: %v", err)
	}
	b.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(b.cmd, b.done)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	b.t.Fatalf("testenv: mosquitto did not listen on %s; its log:\n%s", b.Addr, out)
}

// Stop terminates the broker (SIGTERM; it saves its persistence file).
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGCONT)
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// Kill ends the broker with SIGKILL (no persistence flush).
func (b *Broker) Kill() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

// Restart starts the broker again on the same port after Stop or Kill.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	bin := b.cmd.Path
	b.start(bin)
}

// Freeze stops the broker process with SIGSTOP: its sockets stay open but it
// answers nothing, like a dead network path.
func (b *Broker) Freeze() { _ = b.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen broker with SIGCONT.
func (b *Broker) Thaw() { _ = b.cmd.Process.Signal(syscall.SIGCONT) }

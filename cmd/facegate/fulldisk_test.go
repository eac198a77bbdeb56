package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// TestDaemonOnFullDiskRecordsEveryDecision runs the daemon with its data_dir
// on a real 6 MB file system that another program then fills to the last
// byte, with an enrolled person granted every second: every decision the
// loop counted is in the entry log, with the relay's audit entry, and the
// snapshots never take the room the entry log needs.
func TestDaemonOnFullDiskRecordsEveryDecision(t *testing.T) {
	t.Parallel()
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	data := testenv.SmallFS(t, 6<<20)
	frames := filepath.Join(dir, "frames")
	os.MkdirAll(frames, 0o755)
	for i, img := range []string{"img6.jpg", "img7.jpg", "img10.jpg", "img11.jpg"} {
		os.Symlink(testenv.Face(t, "df01", img), filepath.Join(frames, fmt.Sprintf("%04d.jpg", i)))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
device_id = "full-disk"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 4
[access]
cooldown_seconds = 1
[mqtt]
broker = ""
[web]
listen = %q
`, data, testenv.ModelsDir(t), frames, addr))
	enrolArgs := []string{"enrol", "-config", cfg, "-name", "Alice"}
	for _, img := range []string{"img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg"} {
		enrolArgs = append(enrolArgs, testenv.Face(t, "df01", img))
	}
	if out, err := exec.Command(bin, enrolArgs...).CombinedOutput(); err != nil {
		t.Fatalf("enrol: %v\n%s", err, out)
	}
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
	}()
	grantsCounted := func() int {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), `facegate_access_decisions_total{type="access_granted"} `); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return int(n)
			}
		}
		return 0
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitUntil("three grants", func() bool { return grantsCounted() >= 3 })
	testenv.FillFS(t, filepath.Join(data, "filler")) // another program takes every free byte
	start := grantsCounted()
	waitUntil("ten more grants on the full disk", func() bool { return grantsCounted() >= start+10 })

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop:\n%s", out.String())
	}
	logText := out.String()
	counted := start + 10 // the loop counted at least this many grants
	os.Remove(filepath.Join(data, "filler"))
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "facegate.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var events, unlocks int
	db.QueryRow("SELECT count(*) FROM events WHERE type = 'access_granted'").Scan(&events)
	db.QueryRow("SELECT count(*) FROM audit WHERE action = 'unlock' AND detail LIKE '%source=face%'").Scan(&unlocks)
	t.Logf("%d grants recorded, %d face unlocks audited (at least %d counted by the loop)", events, unlocks, counted)
	if events < counted {
		t.Fatalf("%d grants recorded, the loop counted at least %d: decisions lost on the full disk\n%s", events, counted, logText)
	}
	if unlocks < counted {
		t.Fatalf("%d relay audit entries for at least %d grants: door audit rows lost on the full disk", unlocks, counted)
	}
	if strings.Contains(logText, "could not be written") {
		t.Fatalf("the daemon lost queued records at shutdown:\n%s", logText)
	}
}

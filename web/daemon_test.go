package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// TestDaemonEndToEnd runs `facegate run` in demo mode with a folder of
// photos as the camera, enrols the person in those photos through the web
// page, and waits for the camera loop's access event to show in the entry
// log; then unlocks from the live view.
func TestDaemonEndToEnd(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	cam := filepath.Join(dir, "camera")
	if err := os.MkdirAll(cam, 0o755); err != nil {
		t.Fatal(err)
	}
	// The camera shows other photos of the person enrolled from img1.jpg.
	for _, f := range []string{"img2.jpg", "img4.jpg", "img5.jpg"} {
		b, err := os.ReadFile(testenv.Face(t, "df01", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(cam, f), b, 0o644)
	}
	port := testenv.FreePort(t)
	data := filepath.Join(dir, "var")
	cfgPath := filepath.Join(dir, "facegate.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`device_id = "door-e2e"
data_dir = %q
models_dir = %q
demo = true
[camera]
source = "dir:%s"
fps = 4
loop = true
[door]
gpio = "sim"
contact_pin = "GPIO27"
exit_pin = "GPIO22"
unlock_seconds = 2
[mqtt]
broker = ""
[web]
listen = "127.0.0.1:%d"
`, data, testenv.ModelsDir(t), cam, port)), 0o644)
	if _, err := config.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	// A known admin password first.
	pw := exec.Command(bin, "passwd", "-config", cfgPath, "-user", testUser)
	pw.Stdin = strings.NewReader(testPass + "\n")
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("facegate passwd: %v\n%s", err, out)
	}

	d := startDaemon(t, bin, cfgPath)
	logs, exited, stop := d.logs, d.exited, d.stop
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor60(t, "the daemon's web page", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, exited)
	if strings.Contains(logs.String(), "password=") {
		t.Error("the daemon logged a new admin password although one was set with facegate passwd")
	}

	ctx := browser(t)
	shots := newShooter(t)
	step(t, ctx, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#user"), testUser), chromedp.SendKeys(chromedp.CSS("#password"), testPass),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS("#add-form")))
	step(t, ctx, "enrol",
		chromedp.SendKeys(chromedp.CSS("#person-name"), "Ada Lovelace"),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{testenv.Face(t, "df01", "img1.jpg")}),
		chromedp.WaitVisible(chromedp.CSS("#previews li img")),
		chromedp.Click(chromedp.CSS("#add-submit")))
	eventually(t, ctx, "Ada in the people list",
		`Array.from(document.querySelectorAll("#people .person-name")).some(h => h.textContent === "Ada Lovelace")`)
	shots.shot(ctx, "e2e-1-people")

	// The camera shows her: an access_granted event for her appears.
	deadline := time.Now().Add(60 * time.Second)
	for {
		step(t, ctx, "entry log", chromedp.Navigate(base+"/events?type=access_granted"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		found := value(t, ctx, "granted rows", chromedp.Evaluate[bool](
			`Array.from(document.querySelectorAll("#events tr.type-access_granted")).some(r => r.textContent.includes("Ada Lovelace"))`))
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no access_granted event for the enrolled person within 60 s of the camera showing her")
		}
		time.Sleep(time.Second)
	}
	eventually(t, ctx, "the snapshot thumbnail", `(() => { const i = document.querySelector("#events tr.type-access_granted img.snap"); return !!i && i.complete && i.naturalWidth > 0 })()`)
	shots.shot(ctx, "e2e-2-entry-log")

	// Enrol from the live camera: the frame shows Ada, so the new person is
	// stored with a warning that the face already matches her. (After the
	// grant above: two identities of one face would compete for it.)
	step(t, ctx, "capture from camera",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#add-form")),
		chromedp.SendKeys(chromedp.CSS("#person-name"), "Camera Ada"),
		chromedp.Click(chromedp.CSS("#capture")),
		chromedp.WaitVisible(chromedp.CSS("#previews li img")),
		chromedp.Click(chromedp.CSS("#add-submit")))
	eventually(t, ctx, "the duplicate warning", `(() => { const w = document.querySelector("#previews .warning"); return !!w && w.textContent.includes("Ada Lovelace") })()`)
	shots.shot(ctx, "e2e-1b-camera-capture-warning")

	// Live view: the annotated stream plays; Unlock works (and is audited as
	// a web unlock, checked after the daemon exits).
	step(t, ctx, "live view", chromedp.Navigate(base+"/live"), chromedp.WaitVisible(chromedp.CSS("#unlock")))
	eventually(t, ctx, "stream playing", `document.querySelector("#stream").naturalWidth > 0`)
	step(t, ctx, "unlock", chromedp.Click(chromedp.CSS("#unlock")))
	eventually(t, ctx, "door shown unlocked", `document.querySelector("#door-state").textContent === "unlocked"`)
	shots.shot(ctx, "e2e-3-live")

	// A cross-origin form post is refused by the daemon too.
	step(t, ctx, "cross-origin post", chromedp.Navigate(evilSite(t, base+"/api/door/exit")))
	eventually(t, ctx, "the refusal", `document.body && document.body.innerText.includes("cross-origin request refused")`)

	if err := stop(); err != nil {
		t.Fatalf("daemon exit: %v", err)
	}
	// After a clean exit: the web unlock is in the audit log.
	db, err := facedb.Open(context.Background(), filepath.Join(data, "facegate.db"), "door-e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	audit, err := db.AuditLog(context.Background(), 500)
	if err != nil {
		t.Fatal(err)
	}
	var webUnlock bool
	for _, a := range audit {
		if isWebUnlock(a) && a.Actor == testUser {
			webUnlock = true
		}
	}
	if !webUnlock {
		t.Errorf("no web unlock by %s in the audit log: %+v", testUser, audit)
	}
}

// daemon is one `facegate run` process.
type daemon struct {
	logs   *testenv.SyncBuffer
	exited chan error
	stop   func() error // SIGTERM and wait; idempotent
}

// startDaemon starts `facegate run -config cfgPath`; it is stopped at the
// end of the test at the latest (its log is shown when the test failed).
func startDaemon(t *testing.T, bin, cfgPath string) *daemon {
	t.Helper()
	d := &daemon{logs: &testenv.SyncBuffer{}, exited: make(chan error, 1)}
	run := exec.Command(bin, "run", "-config", cfgPath)
	run.Stdout, run.Stderr = d.logs, d.logs
	run.Env = append(os.Environ(), "OPENCV_LOG_LEVEL=ERROR")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- run.Wait() }()
	stopped := false
	d.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		run.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.exited:
			return err
		case <-time.After(20 * time.Second):
			run.Process.Kill()
			return fmt.Errorf("facegate run did not exit 20 s after SIGTERM")
		}
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs.String())
		}
	})
	return d
}

// waitFor60 is waitFor with a longer limit for the daemon's start-up (the
// models load first); it gives up early when the daemon exits.
func waitFor60(t *testing.T, what string, cond func() bool, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("the daemon exited while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

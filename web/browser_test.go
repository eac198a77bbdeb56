package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// browser starts Debian's headless Chromium for the test.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil { // start the browser without a timeout on it
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// step runs actions with a timeout, failing the test with what was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eventually polls a JavaScript expression until it is true; errors while
// the page navigates or reloads are retried.
func eventually(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s (%s): last error %v", what, js, lastErr)
}

type shooter struct {
	t   *testing.T
	dir string
}

func newShooter(t *testing.T) *shooter {
	dir, err := os.MkdirTemp("", "facegate-web-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &shooter{t: t, dir: dir}
}

func (s *shooter) shot(ctx context.Context, name string) {
	s.t.Helper()
	b := value(s.t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(s.dir, name+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot %s", p)
}

func TestBrowserLoginEnrolLogUnlock(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	shots := newShooter(t)
	face := testenv.Face(t, "df01", "img1.jpg")

	// A page needs a login.
	step(t, ctx, "open the page", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Fatalf("not sent to the login page: %s", loc)
	}
	// A wrong password is refused.
	step(t, ctx, "wrong password",
		chromedp.SendKeys(chromedp.CSS("#user"), testUser),
		chromedp.SendKeys(chromedp.CSS("#password"), "not-the-password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := value(t, ctx, "error text", chromedp.Text(chromedp.CSS("#login-error"))); !strings.Contains(msg, "Wrong user name or password") {
		t.Fatalf("login error %q", msg)
	}
	if n := value(t, ctx, "people list", chromedp.Evaluate[int](`document.querySelectorAll("#add-form").length`)); n != 0 {
		t.Fatal("wrong password reached the people page")
	}
	shots.shot(ctx, "1-login-refused")

	// The right one logs in.
	step(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#password"), testPass),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#add-form")))

	// Enrol a person from an image file.
	step(t, ctx, "enrol",
		chromedp.SendKeys(chromedp.CSS("#person-name"), "Ada Lovelace"),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{face}),
		chromedp.WaitVisible(chromedp.CSS("#previews li img")),
		chromedp.Click(chromedp.CSS("#add-submit")))
	eventually(t, ctx, "Ada in the people list",
		`Array.from(document.querySelectorAll("#people .person-name")).some(h => h.textContent === "Ada Lovelace")`)
	eventually(t, ctx, "her thumbnail loaded", `(() => { const i = document.querySelector("#people img.thumb"); return !!i && i.complete && i.naturalWidth > 0 })()`)
	ps := e.people()
	if len(ps) != 1 || ps[0].Name != "Ada Lovelace" || ps[0].Templates != 1 {
		t.Fatalf("database after browser enrolment: %+v", ps)
	}
	ada := ps[0]
	shots.shot(ctx, "2-people")

	// A photo without a face: the message appears next to it, nothing stored.
	step(t, ctx, "bad photo",
		chromedp.SendKeys(chromedp.CSS("#person-name"), "Nobody"),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{testenv.Face(t, "_noface", "fruits.jpg"), testenv.Face(t, "_multiface", "couple.jpg")}),
		chromedp.Click(chromedp.CSS("#add-submit")))
	eventually(t, ctx, "per-photo errors", `document.querySelectorAll("#previews .result.error").length === 2`)
	errs := value(t, ctx, "error texts", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#previews .result.error")).map(e => e.textContent)`))
	if !strings.Contains(errs[0], "no face") || !strings.Contains(errs[1], "several faces") {
		t.Errorf("per-photo messages %q", errs)
	}
	if len(e.people()) != 1 {
		t.Fatal("refused photos created a person")
	}
	shots.shot(ctx, "3-people-refused-photos")

	// Phone-sized screen: the page still fits (no horizontal scrolling).
	step(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#add-form")))
	if over := value(t, ctx, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); over {
		t.Error("people page scrolls sideways on a phone")
	}
	shots.shot(ctx, "4-people-phone")
	step(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// The entry log shows the event for her, alarms highlighted.
	for _, r := range []facedb.Record{
		{Kind: "event", Type: "access_granted", PersonID: ada.ID, Name: ada.Name, Score: 0.74, Source: "face"},
		{Kind: "alarm", Type: "door_held_open", Source: "door"},
	} {
		if _, err := e.db.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	step(t, ctx, "entry log", chromedp.Navigate(e.url+"/events"), chromedp.WaitVisible(chromedp.CSS("#events")))
	row := value(t, ctx, "granted row", chromedp.Text(chromedp.CSS("#events tr.type-access_granted")))
	if !strings.Contains(row, "Ada Lovelace") || !strings.Contains(row, "0.74") {
		t.Errorf("access row %q", row)
	}
	if bg := value(t, ctx, "alarm colour", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#events tr.alarm")).backgroundColor`)); bg == "rgba(0, 0, 0, 0)" {
		t.Error("alarm row not highlighted")
	}
	shots.shot(ctx, "5-entry-log")

	// A cross-origin page cannot unlock the door with the user's browser.
	evil := evilSite(t, e.url+"/api/unlock")
	step(t, ctx, "cross-origin form post", chromedp.Navigate(evil))
	eventually(t, ctx, "the refusal", `document.body && document.body.innerText.includes("cross-origin request refused")`)
	time.Sleep(300 * time.Millisecond)
	if !e.door.State().Locked || e.auditHas(isWebUnlock) {
		t.Fatal("a cross-origin POST unlocked the door")
	}

	// Live view: the stream plays, Unlock unlocks and is audited.
	step(t, ctx, "live view", chromedp.Navigate(e.url+"/live"), chromedp.WaitVisible(chromedp.CSS("#unlock")))
	eventually(t, ctx, "door state shown", `document.querySelector("#door-state").textContent === "locked"`)
	eventually(t, ctx, "stream playing", `(() => { const i = document.querySelector("#stream"); return i.naturalWidth > 0 })()`)
	step(t, ctx, "unlock", chromedp.Click(chromedp.CSS("#unlock")))
	eventually(t, ctx, "door shown unlocked", `document.querySelector("#door-state").textContent === "unlocked"`)
	if e.door.State().Locked {
		t.Error("door controller still locked after Unlock")
	}
	testenv.WaitFor(t, "the web unlock in the audit log", 10*time.Second, func() bool {
		return e.auditHas(func(a facedb.AuditEntry) bool { return isWebUnlock(a) && a.Actor == testUser && a.OK })
	})
	shots.shot(ctx, "6-live-unlocked")

	// Demo controls: opening the simulated contact shows on the page.
	step(t, ctx, "open contact", chromedp.Click(chromedp.CSS("#sim-open")))
	eventually(t, ctx, "contact open", `document.querySelector("#door-contact").textContent === "contact: open"`)
	step(t, ctx, "close contact", chromedp.Click(chromedp.CSS("#sim-close")))
	eventually(t, ctx, "contact closed", `document.querySelector("#door-contact").textContent === "contact: closed"`)
	step(t, ctx, "press exit button", chromedp.Click(chromedp.CSS("#sim-exit")))
	eventually(t, ctx, "exit press confirmed", `document.querySelector("#door-msg").textContent === "Exit button pressed."`)
	testenv.WaitFor(t, "the exit_button and door events", 10*time.Second, func() bool {
		recs, err := e.db.Events(context.Background(), facedb.EventFilter{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range recs {
			seen[r.Type] = true
		}
		return seen["exit_button"] && seen["door_opened"] && seen["door_closed"]
	})

	// The entry log and the live view fit a phone screen too.
	step(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, pg := range []string{"events", "live"} {
		step(t, ctx, "phone "+pg, chromedp.Navigate(e.url+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if over := value(t, ctx, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); over {
			t.Errorf("%s page scrolls sideways on a phone", pg)
		}
		shots.shot(ctx, "7-"+pg+"-phone")
	}
	step(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// Logging out ends the session.
	step(t, ctx, "log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	step(t, ctx, "people after logout", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}

// evilSite serves, on another origin (localhost instead of 127.0.0.1), a page
// that posts a form to target as soon as it loads.
func evilSite(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s"><input name="x" value="1"></form><script>document.getElementById("f").submit()</script>`, target)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://localhost:" + port + "/"
}

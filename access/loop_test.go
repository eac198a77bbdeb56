package access

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

// The shared pipeline and liveness check: loading the models once keeps
// the tests fast.
var (
	pipeOnce sync.Once
	pipe     *vision.Pipeline
	pipeErr  error

	liveOnce sync.Once
	live     *vision.Liveness
	liveErr  error
)

func livenessCheck(t testing.TB) *vision.Liveness {
	t.Helper()
	liveOnce.Do(func() {
		cfg := config.Default()
		live, liveErr = vision.OpenLiveness(vision.LivenessOptions{ModelsDir: testenv.ModelsDir(t), Model: cfg.Liveness.Model, Threshold: cfg.Liveness.Threshold})
	})
	if liveErr != nil {
		t.Fatal(liveErr)
	}
	return live
}

func pipeline(t testing.TB) *vision.Pipeline {
	t.Helper()
	pipeOnce.Do(func() {
		cfg := config.Default()
		pipe, pipeErr = vision.Open(visionconfig.Options(cfg.Recognition, testenv.ModelsDir(t)))
	})
	if pipeErr != nil {
		t.Fatal(pipeErr)
	}
	return pipe
}

type fixture struct {
	cfg    config.Config
	db     *facedb.DB
	door   *door.Controller
	health *health.Tracker
	loop   *Loop
	people map[string]int64
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newFixture opens a real database in a temp dir, enrols people (name ->
// images of ../shared/faces "folder/file"), a simulated door and the loop.
func newFixture(t testing.TB, edit func(*config.Config), people map[string][]string) *fixture {
	t.Helper()
	return newFixtureWith(t, pipeline(t), edit, people)
}

// newFixtureWith is newFixture with the loop on pipeline p.
func newFixtureWith(t testing.TB, p *vision.Pipeline, edit func(*config.Config), people map[string][]string) *fixture {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ModelsDir = testenv.ModelsDir(t)
	cfg.Camera.Source = "dir:" + t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	ctx := context.Background()
	db, err := facedb.Open(ctx, cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{cfg: cfg, db: db, health: health.New(), people: map[string]int64{}}
	for name, imgs := range people {
		f.people[name] = enrolPerson(t, p, db, name, imgs)
	}
	f.door, err = door.Open(cfg.Door, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.door.Close() })
	f.loop, err = New(OptionsFrom(cfg), p, db, f.door, f.health, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Liveness.Enabled {
		f.loop.SetLiveness(vision.ImageJudge{Pipeline: p, Liveness: livenessCheck(t)})
	}
	if err := f.loop.loadGallery(ctx); err != nil {
		t.Fatal(err)
	}
	f.loop.staleAfter = 0 // feed plays frames in simulated time (see TestStaleFramesNotDecided)
	return f
}

// enrolPerson enrols name from images of ../shared/faces ("folder/file")
// through the enrolment service, as facegate enrol and the web page do.
func enrolPerson(t testing.TB, p *vision.Pipeline, db *facedb.DB, name string, imgs []string) int64 {
	t.Helper()
	photos := make([]enrol.Photo, len(imgs))
	for i, img := range imgs {
		folder, file, _ := strings.Cut(img, "/")
		b, err := os.ReadFile(testenv.Face(t, folder, file))
		if err != nil {
			t.Fatal(err)
		}
		photos[i] = enrol.Photo{Name: img, Data: b}
	}
	res, err := enrol.New(p, db, enrol.Options{}).EnrolPerson(context.Background(), name, photos, nil)
	if err != nil || res.Accepted() != len(imgs) {
		t.Fatalf("enrol %s: %+v, %v", name, res.Verdicts, err)
	}
	return res.Person.ID
}

// feed processes images as frames at the given rate, in simulated time.
func (f *fixture) feed(t testing.TB, start time.Time, fps float64, frames int, imgs []string) {
	t.Helper()
	mats := make([]gocv.Mat, len(imgs))
	for i, img := range imgs {
		folder, file, _ := strings.Cut(img, "/")
		m, err := vision.ReadImage(testenv.Face(t, folder, file))
		if err != nil {
			t.Fatal(err)
		}
		mats[i] = m
	}
	defer func() {
		for _, m := range mats {
			m.Close()
		}
	}()
	for i := range frames {
		m := mats[i%len(mats)].Clone() // process annotates the frame in place
		f.loop.process(context.Background(), m, start.Add(time.Duration(float64(i)/fps*float64(time.Second))))
		m.Close()
	}
}

func (f *fixture) events(t testing.TB, typ string) []facedb.Record {
	t.Helper()
	rs, err := f.db.Events(context.Background(), facedb.EventFilter{Limit: 1000, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// faceUnlocks closes the door (flushing its journal) and counts the relay
// unlocks the loop caused.
func (f *fixture) faceUnlocks(t testing.TB) int {
	t.Helper()
	f.door.Close()
	log, err := f.db.AuditLog(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range log {
		if e.Action == "unlock" && strings.Contains(e.Detail, "source=face") && e.OK {
			n++
		}
	}
	return n
}

var (
	df01Enrol = []string{"df01/img1.jpg", "df01/img2.jpg", "df01/img4.jpg", "df01/img5.jpg"}
	df01Probe = []string{"df01/img6.jpg", "df01/img7.jpg", "df01/img10.jpg", "df01/img11.jpg"} // not enrolled
	df02Enrol = []string{"df02/img8.jpg", "df02/img9.jpg", "df02/img47.jpg"}
	df02Probe = []string{"df02/img48.jpg", "df02/img49.jpg", "df02/img50.jpg", "df02/img51.jpg"}
	strangers = []string{"df03/img16.jpg", "df03/img17.jpg", "df04/img29.jpg", "df04/img30.jpg", "df03/img59.jpg"}
	noFaces   = []string{"_noface/apple.jpg", "_noface/building.jpg", "_noface/baboon.jpg", "_noface/home.jpg"}
)

func TestEnrolledPersonGrantedOncePerCooldown(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, func(c *config.Config) { c.Access.CooldownSeconds = 10 }, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	// Alice (images not used at enrolment) stands at the door for 25 s at 2 fps
	f.feed(t, t0, 2, 50, df01Probe)
	got := f.events(t, "access_granted")
	if len(got) != 3 {
		t.Fatalf("%d grants in 25 s with a 10 s cooldown, want 3: %+v", len(got), got)
	}
	for _, r := range got {
		if r.PersonID != f.people["Alice"] || r.Name != "Alice" || r.Score < f.cfg.Recognition.Threshold || r.Source != "face" {
			t.Errorf("grant %+v is not Alice's with a score above the threshold", r)
		}
		if st, err := os.Stat(r.Snapshot); err != nil || st.Size() == 0 {
			t.Errorf("grant %s: snapshot %q: %v", r.ID, r.Snapshot, err)
		} else if !strings.HasPrefix(r.Snapshot, f.cfg.SnapshotDir()) {
			t.Errorf("snapshot %s is not under %s", r.Snapshot, f.cfg.SnapshotDir())
		}
	}
	if gap := got[0].TS.Sub(got[1].TS); gap < 10*time.Second {
		t.Errorf("grants %v apart, want at least the cooldown", gap)
	}
	if n := len(f.events(t, "unknown_face")) + len(f.events(t, "access_denied")); n != 0 {
		t.Errorf("Alice also raised %d stranger alarms or denials", n)
	}
	if n := f.faceUnlocks(t); n != 3 {
		t.Errorf("the relay was unlocked %d times by faces, want 3", n)
	}
	// the live view shows the last frame
	b, at := f.loop.LatestJPEG()
	m, err := vision.DecodeImage(b)
	if err != nil || at.IsZero() {
		t.Fatalf("latest frame: %v (at %v)", err, at)
	}
	m.Close()
}

func TestStrangerNeverGrantedOneAlarmPerPeriod(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, func(c *config.Config) { c.Access.StrangerAlarmSeconds = 60 }, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	// strangers loiter for 100 s at 0.5 fps: alarms at ~4 s and ~64 s only
	f.feed(t, t0, 0.5, 50, strangers)
	if g := f.events(t, "access_granted"); len(g) != 0 {
		t.Fatalf("a stranger was granted: %+v", g)
	}
	alarms := f.events(t, "unknown_face")
	if len(alarms) != 2 {
		t.Fatalf("%d unknown_face alarms in 100 s with a 60 s period, want 2", len(alarms))
	}
	for _, a := range alarms {
		if a.Kind != "alarm" || a.Snapshot == "" {
			t.Errorf("alarm %+v: want kind alarm with a snapshot", a)
		}
		if _, err := os.Stat(a.Snapshot); err != nil {
			t.Error(err)
		}
	}
	if n := f.faceUnlocks(t); n != 0 {
		t.Errorf("strangers unlocked the door %d times", n)
	}
}

func TestDisabledAndExpiredPeopleDenied(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	ctx := context.Background()
	if err := f.db.SetEnabled(ctx, f.people["Alice"], false); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetValidity(ctx, f.people["Bob"], time.Time{}, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.loop.loadGallery(ctx); err != nil {
		t.Fatal(err)
	}
	f.feed(t, t0, 4, 12, df01Probe)
	f.feed(t, t0.Add(time.Minute), 4, 12, df02Probe)
	if g := f.events(t, "access_granted"); len(g) != 0 {
		t.Fatalf("granted: %+v", g)
	}
	denied := f.events(t, "access_denied")
	got := map[string]string{}
	for _, d := range denied {
		got[d.Name] = d.Reason
	}
	if len(denied) != 2 || got["Alice"] != "disabled" || got["Bob"] != "expired" {
		t.Fatalf("denials %v, want Alice disabled and Bob expired, once each", got)
	}
	if n := f.faceUnlocks(t); n != 0 {
		t.Errorf("the door was unlocked %d times for denied people", n)
	}
}

func TestEmptyScenesTriggerNothing(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Alice": df01Enrol})
	f.feed(t, t0, 4, 20, noFaces)
	if rs := f.events(t, ""); len(rs) != 0 {
		t.Fatalf("frames without faces recorded %+v", rs)
	}
	if s := f.loop.Stats(); s.Faces != 0 || s.Processed != 20 {
		t.Fatalf("stats %+v: want 20 frames processed, none with a face", s)
	}
}

func TestFullDiskKeepsTheEvent(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Alice": df01Enrol})
	// the snapshot folder cannot be created: a file is in its way
	if err := os.WriteFile(f.cfg.SnapshotDir(), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.feed(t, t0, 4, 4, df01Probe)
	got := f.events(t, "access_granted")
	if len(got) != 1 || got[0].Snapshot != "" || got[0].Detail["snapshot_error"] == nil {
		t.Fatalf("events %+v: want one grant recorded without a snapshot, saying why", got)
	}
	if n := f.faceUnlocks(t); n != 1 {
		t.Errorf("unlocks %d, want 1", n)
	}
}

func TestLibraryChangesAreNoticed(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Bob": df02Enrol})
	f.feed(t, t0, 4, 8, df01Probe)
	if len(f.events(t, "access_granted")) != 0 {
		t.Fatal("Alice was granted before being enrolled")
	}
	// enrol Alice behind the loop's back (another process, the web page)
	ctx := context.Background()
	enrolPerson(t, pipeline(t), f.db, "Alice", df01Enrol)
	f.loop.pollLibrary(ctx)
	f.feed(t, t0.Add(time.Minute), 4, 8, df01Probe)
	if g := f.events(t, "access_granted"); len(g) != 1 || g[0].Name != "Alice" {
		t.Fatalf("after enrolment: grants %+v, want one for Alice", g)
	}
}

// TestWebAsksTheLoopsGallery: the daemon keeps one gallery; the web page's
// duplicate check asks the loop's, which is current at once, even before
// the loop's own once-a-second poll.
func TestWebAsksTheLoopsGallery(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Bob": df02Enrol})
	ctx := context.Background()
	p := pipeline(t)
	alice := enrolPerson(t, p, f.db, "Alice", df01Enrol)
	svc := enrol.New(p, f.db, enrol.Options{DuplicateThreshold: f.cfg.Recognition.Threshold, Gallery: f.loop})
	b, err := os.ReadFile(testenv.Face(t, "df01", "img6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	v := svc.NewBatch(0).Add(ctx, enrol.Photo{Name: "img6.jpg", Data: b})
	if !v.OK() || v.Duplicate == nil || v.Duplicate.PersonID != alice {
		t.Fatalf("Alice's photo for a new person: %+v, want a warning naming Alice (person %d)", v, alice)
	}
	// The loop's gallery is the one that answered: it now holds Alice.
	if n := f.loop.library.Gallery().People(); n != 2 {
		t.Errorf("the loop's gallery holds %d people, want Bob and Alice", n)
	}
}

func linkPlaylist(t testing.TB, dir string, imgs []string, repeat int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, img := range imgs {
		folder, file, _ := strings.Cut(img, "/")
		for range repeat {
			n++
			if err := os.Symlink(testenv.Face(t, folder, file), filepath.Join(dir, fmt.Sprintf("%04d_%s_%s", n, folder, file))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRunGrantsAndSurvivesALostCamera(t *testing.T) {
	matleak.Check(t)
	frames := filepath.Join(t.TempDir(), "frames")
	f := newFixture(t, func(c *config.Config) {
		c.Camera.Source, c.Camera.FPS, c.Camera.Loop = "dir:"+frames, 20, true
		c.Camera.StallSeconds, c.Camera.ReopenMaxSeconds = 0.5, 0.3
		c.Access.CooldownSeconds = 3600
	}, map[string][]string{"Alice": df01Enrol})
	linkPlaylist(t, frames, df01Probe, 2)
	if err := os.WriteFile(filepath.Join(frames, "0000_corrupt.jpg"), []byte("\xff\xd8 not really a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	testenv.WaitFor(t, "a grant", 60*time.Second, func() bool { return len(f.events(t, "access_granted")) == 1 })
	if st := f.loop.Stats(); st.BadFrames == 0 || st.Outages != 0 {
		t.Errorf("stats %+v: the corrupt frame should be skipped without losing the camera", st)
	}
	testenv.WaitFor(t, "healthy camera", 10*time.Second, func() bool {
		c := f.health.Report().Components["camera"]
		return c.OK && strings.Contains(c.Detail, "fps")
	})

	// the folder vanishes: one camera_lost alarm however often the loop retries
	if err := os.RemoveAll(frames); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "camera_lost", 20*time.Second, func() bool { return len(f.events(t, "camera_lost")) == 1 })
	if f.health.Report().Components["camera"].OK {
		t.Error("health says the camera is fine while it is lost")
	}
	time.Sleep(1500 * time.Millisecond) // several reopen attempts (back-off capped at 0.3 s)
	if n := len(f.events(t, "camera_lost")); n != 1 {
		t.Fatalf("%d camera_lost alarms for one outage, want 1", n)
	}
	before := f.loop.Stats().Processed

	// it comes back: frames flow again, health recovers
	linkPlaylist(t, frames, strangers, 1)
	testenv.WaitFor(t, "frames after recovery", 30*time.Second, func() bool { return f.loop.Stats().Processed > before+5 })
	testenv.WaitFor(t, "healthy camera after recovery", 10*time.Second, func() bool { return f.health.Report().Components["camera"].OK })
	if n := len(f.events(t, "camera_lost")); n != 1 {
		t.Fatalf("%d camera_lost alarms, want 1", n)
	}
	al := f.events(t, "camera_lost")[0]
	if al.Kind != "alarm" || al.Source != "camera" || al.Reason == "" {
		t.Errorf("camera_lost alarm %+v: want kind alarm, source camera and a reason", al)
	}
}

func TestRunStopsPromptlyWhileTheCameraIsDown(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, func(c *config.Config) {
		c.Camera.Source = "cmd:exit 1" // a camera command that fails at once, forever
		c.Camera.ReopenMaxSeconds = 30
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	testenv.WaitFor(t, "camera_lost", 20*time.Second, func() bool { return len(f.events(t, "camera_lost")) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestDemoPlaylist plays the `make run` playlist (scripts/demo-frames.sh,
// people from scripts/demo-enrol.txt) once at the demo's 4 fps in simulated
// time: every enrolled person is granted, strangers never are, and they
// raise one unknown_face alarm; the printed photo and the phone replay
// raise one spoof_detected alarm each.
func TestDemoPlaylist(t *testing.T) {
	matleak.Check(t)
	root := testenv.ProjectRoot(t)
	frames := filepath.Join(t.TempDir(), "frames")
	cmd := exec.Command(filepath.Join(root, "scripts", "demo-frames.sh"), frames)
	cmd.Env = append(os.Environ(), "FACES="+testenv.FacesDir(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo-frames.sh: %v\n%s", err, out)
	}
	list, err := os.ReadFile(filepath.Join(root, "scripts", "demo-enrol.txt"))
	if err != nil {
		t.Fatal(err)
	}
	enrol := map[string][]string{}
	for _, line := range strings.Split(string(list), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			t.Fatalf("demo-enrol.txt line %q: want FOLDER NAME FILE...", line)
		}
		for _, file := range f[2:] {
			enrol[f[1]] = append(enrol[f[1]], f[0]+"/"+file)
		}
	}
	if len(enrol) < 3 {
		t.Fatalf("demo-enrol.txt names %d people, want at least 3", len(enrol))
	}
	f := newFixture(t, nil, enrol)
	ents, err := os.ReadDir(frames)
	if err != nil {
		t.Fatal(err)
	}
	var playlist []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(frames, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		frame := filepath.Base(filepath.Dir(target)) + "/" + filepath.Base(target)
		if filepath.Base(filepath.Dir(filepath.Dir(target))) == "liveness" {
			frame = "../liveness/" + frame
		}
		playlist = append(playlist, frame)
	}
	enrolled := map[string]bool{}
	for _, files := range enrol {
		for _, file := range files {
			enrolled[file] = true
		}
	}
	for _, frame := range playlist {
		if enrolled[frame] {
			t.Errorf("the demo plays %s, a photo it enrolled: recognising it proves nothing", frame)
		}
	}
	f.feed(t, t0, 4, len(playlist), playlist)
	granted := map[string]int{}
	for _, r := range f.events(t, "access_granted") {
		granted[r.Name]++
	}
	for name := range enrol {
		if granted[name] == 0 {
			t.Errorf("%s was not granted in the demo playlist (grants: %v)", name, granted)
		}
	}
	if len(granted) != len(enrol) {
		t.Errorf("grants %v: someone not enrolled was let in", granted)
	}
	if n := len(f.events(t, "unknown_face")); n != 1 {
		t.Errorf("%d unknown_face alarms in one pass of the playlist, want 1", n)
	}
	spoofed := map[string]int{}
	for _, r := range f.events(t, event.SpoofDetected) {
		spoofed[r.Name]++
	}
	if spoofed["Nadia"] != 1 || spoofed["Pat"] != 1 || len(spoofed) != 2 {
		t.Errorf("spoof_detected alarms %v, want one for Nadia's printed photo and one for Pat's phone replay", spoofed)
	}
	t.Logf("%d frames: grants %v", len(playlist), granted)
}

func TestStalledCameraCommandIsLostAndKilled(t *testing.T) {
	matleak.Check(t)
	marker := fmt.Sprintf("sleep 1%03d.%06d", time.Now().Nanosecond()%1000, time.Now().Nanosecond()%1000000)
	f := newFixture(t, func(c *config.Config) {
		// a camera process that starts but never writes a frame
		c.Camera.Source = "cmd:" + marker
		c.Camera.StallSeconds, c.Camera.ReopenMaxSeconds = 0.5, 0.5
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	testenv.WaitFor(t, "camera_lost", 20*time.Second, func() bool { return len(f.events(t, "camera_lost")) == 1 })
	time.Sleep(2 * time.Second) // several stalled reopen attempts
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(f.events(t, "camera_lost")); n != 1 {
		t.Fatalf("%d camera_lost alarms for one outage, want 1", n)
	}
	if r := f.events(t, "camera_lost")[0]; !strings.Contains(r.Reason, "no frame") {
		t.Errorf("camera_lost reason %q does not say no frame came", r.Reason)
	}
	// every camera process the loop started is gone
	testenv.WaitFor(t, "camera processes to exit", 5*time.Second, func() bool {
		out, _ := exec.Command("pgrep", "-f", "^"+marker).Output()
		return len(strings.TrimSpace(string(out))) == 0
	})
}

func TestMetrics(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Alice": df01Enrol})
	reg := prometheus.NewRegistry()
	if err := f.loop.Register(reg); err != nil {
		t.Fatal(err)
	}
	f.feed(t, t0, 4, 4, df01Probe)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += "{" + lp.GetName() + "=" + lp.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"facegate_access_frames_processed_total":               4,
		"facegate_access_face_frames_total":                    4,
		"facegate_access_decisions_total{type=access_granted}": 1,
		"facegate_camera_last_frame_age_seconds":               -1, // no camera in this test
		"facegate_camera_frames_dropped_total":                 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", name, v, ok, want, got)
		}
	}
}

// TestRunWithCameraCommand runs the loop on a cmd: source the way a Pi CSI
// camera is read (rpicam-vid --codec mjpeg -o -): a child process writing
// JPEGs to stdout, here a shell loop over face images.
func TestRunWithCameraCommand(t *testing.T) {
	matleak.Check(t)
	var files []string
	for _, img := range df01Probe {
		folder, file, _ := strings.Cut(img, "/")
		files = append(files, testenv.Face(t, folder, file))
	}
	f := newFixture(t, func(c *config.Config) {
		c.Camera.Source = "cmd:while :; do for f in " + strings.Join(files, " ") + "; do cat $f; sleep 0.1; done; done"
	}, map[string][]string{"Alice": df01Enrol})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	testenv.WaitFor(t, "a grant from the camera command", 60*time.Second, func() bool { return len(f.events(t, "access_granted")) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(f.events(t, "camera_lost")); n != 0 {
		t.Errorf("%d camera_lost alarms while the command delivered frames", n)
	}
}

// TestNewChecksOnlyItsOwnOptions: the loop does not re-validate the whole
// configuration (MQTT certificate files that went away are mqttlink's
// business), but refuses options it cannot run with.
func TestNewChecksOnlyItsOwnOptions(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Camera.Source = "dir:" + t.TempDir()
	cfg.MQTT.CertFile = filepath.Join(t.TempDir(), "gone.pem")
	cfg.MQTT.KeyFile = filepath.Join(t.TempDir(), "gone.key")
	db, err := facedb.Open(context.Background(), cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(OptionsFrom(cfg), pipeline(t), db, nil, nil, nil); err != nil {
		t.Errorf("New with unrelated MQTT files missing: %v", err)
	}
	o := OptionsFrom(cfg)
	o.Camera.FPS = 0
	if _, err := New(o, pipeline(t), db, nil, nil, nil); err == nil {
		t.Error("New accepted a camera frame rate of 0")
	}
}

// TestStaleFramesNotDecided: frames analysed seconds after they were
// captured (a loop that fell behind) never open the door, and health says
// the loop is behind; fresh frames of the same face are granted.
func TestStaleFramesNotDecided(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Alice": df01Enrol})
	f.loop.staleAfter = StaleAfter
	f.feed(t, time.Now().Add(-6*time.Second), 4, 8, df01Probe) // 6..4.25 s old when analysed
	if g := f.events(t, "access_granted"); len(g) != 0 {
		t.Fatalf("granted on frames captured seconds ago: %+v", g)
	}
	if st := f.loop.Stats(); st.Stale != 8 {
		t.Fatalf("stale frames counted %d, want 8", st.Stale)
	}
	if why, behind := f.loop.behind(time.Now()); !behind || !strings.Contains(why, "falling behind") {
		t.Fatalf("behind = %v %q while frames are analysed seconds after capture", behind, why)
	}
	f.feed(t, time.Now(), 4, 8, df01Probe)
	if g := f.events(t, "access_granted"); len(g) != 1 || g[0].Name != "Alice" {
		t.Fatalf("fresh frames: grants %+v, want one for Alice", g)
	}
	if why, behind := f.loop.behind(time.Now()); behind {
		t.Fatalf("still behind after fresh frames: %s", why)
	}
}

package motion

import (
	"errors"
	"image"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/scene"
	"gocv.io/x/gocv"
)

func TestMain(m *testing.M) { scene.RunTests(m) }

// frame is the static room of package scene, with the face of df01/img1.jpg
// (a 140x180 crop of the photo) pasted at at when it is not nil.
func frame(s *scene.Scene, at *image.Point) gocv.Mat {
	if at == nil {
		return s.Frame()
	}
	return s.Frame(scene.Put{Face: "ada", At: *at, Width: 140})
}

func newScene(t *testing.T) *scene.Scene {
	s := scene.New(t, 3)
	s.AddImage(t, "ada", "df01", "img1.jpg")
	return s
}

func check(t *testing.T, g *Gate, f gocv.Mat, now time.Time) Result {
	t.Helper()
	defer f.Close()
	r, err := g.Check(f, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const step = 100 * time.Millisecond // 10 fps

// TestStaticSceneSkipsDetection: a static, noisy scene asks for detection
// on the first frame and then only when the forced interval (1 s) is over.
func TestStaticSceneSkipsDetection(t *testing.T) {
	matleak.Check(t)
	s := newScene(t)
	g := New(Options{Every: time.Second})
	t0 := time.Unix(1000, 0)
	var ran []time.Duration
	for i := 0; i <= 30; i++ {
		now := t0.Add(time.Duration(i) * step)
		r := check(t, g, frame(s, nil), now)
		if r.Detect {
			ran = append(ran, now.Sub(t0))
			if i > 0 && r.Reason != ReasonForced {
				t.Errorf("frame %d of a static scene: detect for %q (change %.4f)", i, r.Reason, r.Change)
			}
		}
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
	if len(ran) != len(want) {
		t.Fatalf("static scene, 31 frames over 3 s: detection at %v, want %v", ran, want)
	}
	for i := range want {
		if ran[i] != want[i] {
			t.Errorf("static scene: detection at %v, want %v", ran, want)
			break
		}
	}
}

// TestMotionWakesDetection: a face appearing in a static scene asks for
// detection on that very frame; a face that keeps moving keeps asking; one
// that then stands still becomes background and is seen again by the
// forced interval.
func TestMotionWakesDetection(t *testing.T) {
	matleak.Check(t)
	s := newScene(t)
	g := New(Options{Every: time.Second})
	t0 := time.Unix(1000, 0)
	now := t0
	for i := 0; i < 5; i++ { // settle; the first frame is always detected
		check(t, g, frame(s, nil), now)
		now = now.Add(step)
	}
	// Walks in from the left, 40 px per frame.
	for i := 0; i < 6; i++ {
		at := image.Pt(20+40*i, 150)
		r := check(t, g, frame(s, &at), now)
		if !r.Detect || r.Reason != ReasonMotion {
			t.Fatalf("walking face, frame %d: %+v, want detection for motion", i, r)
		}
		now = now.Add(step)
	}
	// Stands still: motion fades as the background adapts; the forced
	// interval still runs detection at least once a second.
	at := image.Pt(220, 150)
	last := now.Add(-step)
	motionEnded := false
	for i := 0; i < 150; i++ {
		r := check(t, g, frame(s, &at), now)
		if r.Detect {
			if gap := now.Sub(last); gap > time.Second {
				t.Fatalf("still face: %v between detections, want at most 1 s", gap)
			}
			last = now
		}
		if r.Reason != ReasonMotion {
			motionEnded = true
		} else if motionEnded {
			t.Fatalf("still face, frame %d: motion again (change %.4f) after it had faded", i, r.Change)
		}
		now = now.Add(step)
	}
	if !motionEnded {
		t.Errorf("a face standing still for 15 s is still motion: the background does not adapt")
	}
	// Leaving is motion too.
	if r := check(t, g, frame(s, nil), now); r.Reason != ReasonMotion {
		t.Errorf("face left: %+v, want detection for motion", r)
	}
}

// TestRanRestartsInterval: detection the loop ran for its own reasons
// restarts the forced interval.
func TestRanRestartsInterval(t *testing.T) {
	matleak.Check(t)
	s := newScene(t)
	g := New(Options{Every: time.Second})
	t0 := time.Unix(1000, 0)
	check(t, g, frame(s, nil), t0)
	g.Ran(t0.Add(900 * time.Millisecond))
	if r := check(t, g, frame(s, nil), t0.Add(1500*time.Millisecond)); r.Detect {
		t.Errorf("0.6 s after the loop ran detection: %+v, want none", r)
	}
	if r := check(t, g, frame(s, nil), t0.Add(1900*time.Millisecond)); r.Reason != ReasonForced {
		t.Errorf("1 s after the loop ran detection: %+v, want forced", r)
	}
}

func TestBadFrames(t *testing.T) {
	matleak.Check(t)
	g := New(Options{})
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := g.Check(empty, time.Now()); !errors.Is(err, ErrFrame) {
		t.Errorf("empty frame: %v, want ErrFrame", err)
	}
	two := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC2)
	defer two.Close()
	if _, err := g.Check(two, time.Now()); !errors.Is(err, ErrFrame) {
		t.Errorf("2-channel frame: %v, want ErrFrame", err)
	}
	grey := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8U)
	defer grey.Close()
	if r, err := g.Check(grey, time.Now()); err != nil || !r.Detect {
		t.Errorf("grey first frame: %+v, %v; want detection", r, err)
	}
	if o := g.Options(); o.Width != 80 || o.Height != 60 || o.Every != time.Second {
		t.Errorf("defaults %+v", o)
	}
}

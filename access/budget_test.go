package access

import (
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/scene"
)

// frameLog is what the loop did on each frame of a scene.
type frameLog struct {
	analysed  bool // detection ran (the motion gate let it through)
	tracks    []int
	decisions int
}

// play feeds a scene sequence to the loop at fps in simulated time from
// start and logs each frame.
func (f *fixture) play(t testing.TB, s *scene.Scene, seq [][]scene.Put, start time.Time, fps float64) []frameLog {
	t.Helper()
	var out []frameLog
	for i, puts := range seq {
		before := f.loop.Stats()
		m := s.Frame(puts...)
		f.loop.process(t.Context(), m, start.Add(time.Duration(float64(i)/fps*float64(time.Second))))
		m.Close()
		after := f.loop.Stats()
		fl := frameLog{analysed: after.Analysed > before.Analysed, decisions: int(after.Decisions - before.Decisions)}
		if b := f.loop.budget; b != nil && b.tracker != nil {
			for _, tk := range b.tracker.Tracks() {
				if tk.Missed == 0 {
					fl.tracks = append(fl.tracks, tk.ID)
				}
			}
		}
		out = append(out, fl)
	}
	return out
}

// doorScene is the room of package scene with faces not used at enrolment:
// alice (df01/img6), bob (df02/img48) and a stranger (df03/img16).
func doorScene(t testing.TB) *scene.Scene {
	s := scene.New(t, 3)
	p := pipeline(t)
	s.AddFace(t, p, "alice", "df01", "img6.jpg")
	s.AddFace(t, p, "bob", "df02", "img48.jpg")
	s.AddFace(t, p, "stranger", "df03", "img16.jpg")
	return s
}

func empty(n int) [][]scene.Put { return make([][]scene.Put, n) }

// TestStillPersonDetectedWithinInterval: with a motion gate that never
// fires (threshold 1), a person who appears is still detected by the forced
// detection, at most detect_every_seconds later, and granted.
func TestStillPersonDetectedWithinInterval(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, func(c *config.Config) { c.Camera.MotionThreshold = 1; c.Access.Tracking = true }, map[string][]string{"Alice": df01Enrol})
	s := doorScene(t)
	stay := scene.WalkIn("alice", 10)[9]
	seq := append(empty(13), make([][]scene.Put, 30)...)
	for i := 13; i < len(seq); i++ {
		seq[i] = stay
	}
	log := f.play(t, s, seq, t0, 10) // the face appears at 1.3 s
	first := -1
	for i, fl := range log {
		if fl.analysed && len(fl.tracks) > 0 {
			first = i
			break
		}
		if i > 0 && i < 13 && fl.analysed && i%10 != 0 {
			t.Errorf("frame %d of the empty static scene analysed: the gate let a static frame through", i)
		}
	}
	if first < 13 || first > 13+10 {
		t.Fatalf("the still person appeared at frame 13 and was first detected at frame %d; want within 10 frames (1 s)", first)
	}
	if g := f.events(t, "access_granted"); len(g) != 1 || g[0].Name != "Alice" {
		t.Errorf("grants %+v, want one for Alice", g)
	}
}

// TestMotionWakesDetection: in a static scene only the forced detections
// run; the frame a person walks in on is analysed at once.
func TestMotionWakesDetection(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, tracking, map[string][]string{"Alice": df01Enrol})
	s := doorScene(t)
	seq := append(empty(25), scene.WalkIn("alice", 20)...)
	log := f.play(t, s, seq, t0, 10)
	analysed := 0
	for _, fl := range log[:25] {
		if fl.analysed {
			analysed++
		}
	}
	if analysed != 3 { // frame 0 (first), 10 and 20 (forced, 1 s)
		t.Errorf("%d of 25 static frames analysed, want 3 (the first and one per second)", analysed)
	}
	if !log[25].analysed || len(log[25].tracks) != 1 {
		t.Errorf("the frame the person walks in on: analysed %v, tracks %v; want analysed with one track", log[25].analysed, log[25].tracks)
	}
}

// TestTrackKeepsIdentityFirstFaceToGrant: a person walking in is one track
// throughout, granted once, on the Kth processed frame with their face at
// the latest (K processed frames plus one, counting from the first face
// frame), and embedded on far fewer frames than the sequence has.
func TestTrackKeepsIdentityFirstFaceToGrant(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, tracking, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	s := doorScene(t)
	seq := append(empty(5), scene.WalkIn("alice", 40)...)
	before := f.loop.Stats()
	log := f.play(t, s, seq, t0, 10)
	firstFace, granted := -1, -1
	for i, fl := range log {
		if len(fl.tracks) > 0 {
			if firstFace < 0 {
				firstFace = i
			}
			if len(fl.tracks) != 1 || fl.tracks[0] != log[firstFace].tracks[0] {
				t.Fatalf("frame %d: tracks %v, want the one track %v", i, fl.tracks, log[firstFace].tracks)
			}
		}
		if fl.decisions > 0 && granted < 0 {
			granted = i
		}
	}
	k := f.cfg.Access.RequiredFrames
	if firstFace < 0 || granted < 0 || granted-firstFace+1 > k+1 {
		t.Fatalf("first face frame %d, grant at frame %d: want the grant within K+1 = %d processed frames", firstFace, granted, k+1)
	}
	if g := f.events(t, "access_granted"); len(g) != 1 || g[0].Name != "Alice" {
		t.Errorf("grants %+v, want one for Alice", g)
	}
	t.Logf("first face frame %d, granted at frame %d, %d embeddings", firstFace, granted, f.loop.Stats().Embeddings-before.Embeddings)
	if e := f.loop.Stats().Embeddings - before.Embeddings; e > 15 {
		t.Errorf("%d embeddings for 40 frames of one person, want few (K, then refreshes)", e)
	}
}

// TestTwoPeopleTwoTracks: Alice and Bob walking in side by side are two
// tracks and both are granted.
func TestTwoPeopleTwoTracks(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, tracking, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	s := doorScene(t)
	log := f.play(t, s, scene.TwoWalkIn("alice", "bob", 20), t0, 10)
	for i, fl := range log {
		if len(fl.tracks) != 2 {
			t.Fatalf("frame %d: tracks %v, want two", i, fl.tracks)
		}
	}
	names := map[string]int{}
	for _, g := range f.events(t, "access_granted") {
		names[g.Name]++
	}
	if names["Alice"] != 1 || names["Bob"] != 1 || len(names) != 2 {
		t.Errorf("grants by name %v, want Alice and Bob once each", names)
	}
	if a := f.events(t, "unknown_face"); len(a) != 0 {
		t.Errorf("stranger alarms %+v, want none", a)
	}
}

// TestStrangerBesideEnrolledPerson: a stranger walking in beside Alice
// raises the stranger alarm; Alice is granted, and no grant goes to anyone
// else, however many frames the two share.
func TestStrangerBesideEnrolledPerson(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, tracking, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	s := doorScene(t)
	f.play(t, s, scene.TwoWalkIn("stranger", "alice", 30), t0, 10)
	g := f.events(t, "access_granted")
	if len(g) != 1 || g[0].Name != "Alice" {
		t.Errorf("grants %+v, want exactly one, for Alice", g)
	}
	if a := f.events(t, "unknown_face"); len(a) != 1 {
		t.Errorf("%d unknown_face alarms, want 1", len(a))
	}
	if n := f.faceUnlocks(t); n != 1 {
		t.Errorf("%d unlocks, want 1 (Alice's)", n)
	}
}

// tracking turns face tracking on (shipped off, docs/recognition.md).
func tracking(c *config.Config) { c.Access.Tracking = true }

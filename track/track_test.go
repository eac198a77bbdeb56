package track

import (
	"testing"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/scene"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

func TestMain(m *testing.M) { scene.RunTests(m) }

// pipeline opens the shipped detection defaults (two-stage) and fr512.
func pipeline(t testing.TB) *vision.Pipeline {
	t.Helper()
	p, err := vision.Open(vision.Options{ModelsDir: testenv.ModelsDir(t), Model: "fr512", DetectScore: 0.9, DetectMaxSide: 640,
		CandidateMaxSide: 320, CandidateScore: 0.6, ConfirmMaxSide: 240, MinFacePixels: 64, MinSharpness: 50, MaxYawRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// run detects each frame of seq and feeds the tracker, embedding what the
// tracker asks for; decideAfter marks a track Decided after that many
// embeddings (0: never). It returns the track IDs per frame and the
// embeddings made per track.
func run(t *testing.T, p *vision.Pipeline, s *scene.Scene, tr *Tracker, seq [][]scene.Put, decideAfter int) ([][]int, map[int]int) {
	t.Helper()
	var ids [][]int
	embeds := map[int]int{}
	for i, puts := range seq {
		f := s.Frame(puts...)
		faces, err := p.Detect(f)
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		cur, _ := tr.Update(faces)
		var row []int
		for j, tk := range cur {
			row = append(row, tk.ID)
			if need, _ := tk.NeedsEmbedding(); need {
				a, err := p.AnalyzeFace(f, faces[j])
				if err != nil {
					f.Close()
					t.Fatalf("frame %d: %v", i, err)
				}
				tk.AddEmbedding(a.Embedding)
				if a.Embedding != nil {
					embeds[tk.ID]++
				}
				if decideAfter > 0 && embeds[tk.ID] >= decideAfter {
					tk.Decided = true
				}
			}
		}
		f.Close()
		ids = append(ids, row)
	}
	return ids, embeds
}

// TestTrackKeepsIdentity: a face that walks in, grows and stays is one track
// on every frame, embedded on every frame until decided and then only on a
// clearly better view or the refresh safety net; its embedding is the
// person's.
func TestTrackKeepsIdentity(t *testing.T) {
	matleak.Check(t)
	p := pipeline(t)
	s := scene.New(t, 3)
	s.AddFace(t, p, "ada", "df01", "img1.jpg")
	tr := New(Options{})
	const n = 40
	ids, embeds := run(t, p, s, tr, scene.WalkIn("ada", n), 3)
	for i, row := range ids {
		if len(row) != 1 || row[0] != 1 {
			t.Fatalf("frame %d: tracks %v, want [1] on every frame", i, row)
		}
	}
	// 3 to decide, then one per 10 frames (refresh) plus better views
	// while the face grows (at most one per 25% growth: 4).
	if e := embeds[1]; e < 3 || e > 3+n/10+4 {
		t.Errorf("%d embeddings over %d frames, want 3 + about %d", e, n, n/10)
	}
	ref := s.Frame(scene.WalkIn("ada", n)[n-1]...)
	defer ref.Close()
	as, err := p.Analyze(ref)
	if err != nil || len(as) != 1 || as[0].Embedding == nil {
		t.Fatalf("reference: %v %v", as, err)
	}
	if sc := vision.Dot(tr.Tracks()[0].Fused(), as[0].Embedding); sc < 0.8 {
		t.Errorf("the track's fused embedding scores %.3f against the face's own", sc)
	}
}

// TestTwoPeopleTwoTracks: two faces walking in from both sides are two
// tracks that keep their faces: each track's embeddings are its person's.
func TestTwoPeopleTwoTracks(t *testing.T) {
	matleak.Check(t)
	p := pipeline(t)
	s := scene.New(t, 3)
	s.AddFace(t, p, "ada", "df01", "img1.jpg")
	s.AddFace(t, p, "bo", "df02", "img50.jpg")
	tr := New(Options{})
	seq := scene.TwoWalkIn("ada", "bo", 20)
	ids, _ := run(t, p, s, tr, seq, 0)
	for i, row := range ids {
		if len(row) != 2 || row[0] == row[1] || min(row[0], row[1]) != 1 || max(row[0], row[1]) != 2 {
			t.Fatalf("frame %d: tracks %v, want tracks 1 and 2", i, row)
		}
	}
	ref := func(name string) []float32 {
		f := s.Frame(scene.Put{Face: name, At: seq[0][0].At.Add(seq[19][0].At).Div(2), Width: 240})
		defer f.Close()
		as, err := p.Analyze(f)
		if err != nil || len(as) != 1 || as[0].Embedding == nil {
			t.Fatalf("reference %s: %v %v", name, as, err)
		}
		return as[0].Embedding
	}
	ada, bo := ref("ada"), ref("bo")
	for _, tk := range tr.Tracks() {
		sa, sb := vision.Dot(tk.Fused(), ada), vision.Dot(tk.Fused(), bo)
		left := tk.Face.Box.Min.X < 320
		if left && !(sa > 0.7 && sb < 0.45) || !left && !(sb > 0.7 && sa < 0.45) {
			t.Errorf("track %d (left %v): scores ada %.3f, bo %.3f: the track mixed the two faces", tk.ID, left, sa, sb)
		}
	}
}

// TestTrackEndsAndRestarts: a face that leaves ends its track after
// MaxMissed frames; when it comes back it is a new track, which needs an
// embedding again.
func TestTrackEndsAndRestarts(t *testing.T) {
	matleak.Check(t)
	p := pipeline(t)
	s := scene.New(t, 3)
	s.AddFace(t, p, "ada", "df01", "img1.jpg")
	tr := New(Options{MaxMissed: 2})
	stay := scene.WalkIn("ada", 10)[9]
	seq := [][]scene.Put{stay, stay, stay, nil, nil, nil, stay}
	ids, _ := run(t, p, s, tr, seq, 1)
	want := [][]int{{1}, {1}, {1}, nil, nil, nil, {2}}
	for i := range want {
		if len(ids[i]) != len(want[i]) || (len(want[i]) == 1 && ids[i][0] != want[i][0]) {
			t.Fatalf("frames: tracks %v, want %v", ids, want)
		}
	}
	if need, why := tr.Tracks()[0].NeedsEmbedding(); need || why != "" {
		t.Errorf("the new track, embedded and decided: needs embedding %v (%s)", need, why)
	}
}

package vision

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
)

func openLiveness(t testing.TB, model string) *Liveness {
	t.Helper()
	l, err := OpenLiveness(LivenessOptions{ModelsDir: testenv.ModelsDir(t), Model: model})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// subjectScores analyses a liveness-set image as a camera frame and scores
// its subject face with every given check.
func subjectScores(t *testing.T, p *Pipeline, species, file string, ls ...*Liveness) []float64 {
	t.Helper()
	img, err := ReadImage(testenv.LivenessImage(t, species, file))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	as, err := p.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	i := SubjectFace(as)
	if i < 0 {
		t.Fatalf("%s/%s: no usable face", species, file)
	}
	lf, err := p.LivenessFace(img, as[i].Face)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(ls))
	for k, l := range ls {
		if out[k], err = l.Score(img, lf); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestLivenessDefaultSeparatesLiveFromAttacks: with the shipped model and
// threshold, live camera frames and crops of several people are judged live,
// printed photos and phone or screen replays are judged attacks.
func TestLivenessDefaultSeparatesLiveFromAttacks(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	l := openLiveness(t, DefaultLivenessModel)
	cases := []struct {
		species, file string
		live          bool
	}{
		{"live", "nuaa_0002_0002_01_00_01_116.jpg", true},
		{"live", "nuaa_0003_0003_01_00_01_109.jpg", true},
		{"live", "pf_14734_person.jpg", true},
		{"print", "nuaa_0001_0001_00_04_03_163.jpg", false}, // a printed photo with people behind it
		{"print", "nuaa_0007_0007_01_04_03_159.jpg", false},
		{"replay", "pf_fake2.jpg", false},
		{"replay", "gh-WOLF-huo_110.png", false},
	}
	for _, c := range cases {
		s := subjectScores(t, p, c.species, c.file, l)[0]
		if l.Live(s) != c.live {
			t.Errorf("%s/%s: liveness %.3f, live=%v, want live=%v (threshold %.2f)", c.species, c.file, s, l.Live(s), c.live, l.Threshold())
		}
	}
}

// TestLivenessEnsembleAverages: silent-face is the mean of MiniFASNetV2's
// and MiniFASNetV1SE's live probabilities on the same box.
func TestLivenessEnsembleAverages(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	sf, v2, v1 := openLiveness(t, "silent-face"), openLiveness(t, "minifasnet-v2"), openLiveness(t, "minifasnet-v1se")
	s := subjectScores(t, p, "live", "nuaa_0005_0005_00_00_01_240.jpg", sf, v2, v1)
	if math.Abs(s[0]-(s[1]+s[2])/2) > 1e-6 || s[1] == s[2] {
		t.Errorf("silent-face %.6f, V2 %.6f, V1SE %.6f: want the mean of two different scores", s[0], s[1], s[2])
	}
	for _, v := range s {
		if v < 0 || v > 1 {
			t.Errorf("score %v outside 0..1", v)
		}
	}
}

// TestLivenessWindowAtImageEdge: Silent-Face's crop reduces the scale and
// shifts the window back inside when the face is at the edge; the reflect
// crop keeps the full window and mirrors the missing part.
func TestLivenessWindowAtImageEdge(t *testing.T) {
	var row [15]float32
	row[0], row[1], row[2], row[3] = 0, 100, 100, 120 // face at the left edge of a 640x480 frame
	fit := livenessWindow(row, 640, 480, miniFASNetV1SE)
	if !fit.In(image.Rect(0, 0, 640, 480)) {
		t.Errorf("fit window %v leaves the 640x480 image", fit)
	}
	if fit.Dx() != 400 || fit.Dy() != 480 {
		// scale min(4, 479/120) = 3.99: 399.2 x 479 px, inclusive of the last pixel
		t.Errorf("fit window %v, want 400x480 (scale reduced to fit the height)", fit)
	}
	if fit.Min.X != 0 || fit.Min.Y != 0 {
		t.Errorf("fit window %v not shifted to the top-left corner", fit)
	}
	refl := miniFASNetV2
	refl.Crop = CropReflect
	w := livenessWindow(row, 640, 480, refl)
	if w.Min.X >= 0 || w.Dx() != 271 {
		t.Errorf("reflect window %v: want the full 2.7x window left of the image", w)
	}
	img := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer img.Close()
	out := gocv.NewMat()
	defer out.Close()
	if err := livenessCrop(img, Face{row: row, Box: image.Rect(0, 100, 100, 220)}, refl, &out); err != nil {
		t.Fatal(err)
	}
	if out.Cols() != w.Dx() || out.Rows() != w.Dy() {
		t.Errorf("reflect crop %dx%d, want the window's %dx%d", out.Cols(), out.Rows(), w.Dx(), w.Dy())
	}
}

func TestOpenLivenessErrors(t *testing.T) {
	if _, err := OpenLiveness(LivenessOptions{ModelsDir: testenv.ModelsDir(t), Model: "nope"}); err == nil || !strings.Contains(err.Error(), "silent-face") {
		t.Errorf("unknown model: %v, want an error listing the known ones", err)
	}
	dir := t.TempDir()
	// Only one of the two ensemble files present: the missing one is named.
	b, err := os.ReadFile(filepath.Join(testenv.ModelsDir(t), "MiniFASNetV2.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "MiniFASNetV2.onnx"), b, 0o644)
	_, err = OpenLiveness(LivenessOptions{ModelsDir: dir, Model: "silent-face"})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "MiniFASNetV1SE.onnx")) {
		t.Errorf("missing model: %v, want an error naming MiniFASNetV1SE.onnx", err)
	}
	os.WriteFile(filepath.Join(dir, "MiniFASNetV1SE.onnx"), []byte("not a network"), 0o644)
	if _, err = OpenLiveness(LivenessOptions{ModelsDir: dir, Model: "silent-face"}); err == nil || !strings.Contains(err.Error(), "MiniFASNetV1SE.onnx") {
		t.Errorf("corrupt model: %v, want an error naming it", err)
	}
}

// TestLivenessFaceIsTheOneStageBox: with two-stage detection the liveness
// check is given the one-stage detector's box (the box its threshold was
// chosen on), not the confirmation stage's; on this live frame that is the
// difference between live and attack.
func TestLivenessFaceIsTheOneStageBox(t *testing.T) {
	matleak.Check(t)
	two := defaultOptions(t)
	one := two
	one.CandidateMaxSide = 0
	p2, p1 := openPipeline(t, two), openPipeline(t, one)
	l := openLiveness(t, DefaultLivenessModel)
	img, err := ReadImage(testenv.LivenessImage(t, "live", "nuaa_0008_0008_00_00_02_57.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	as2, err := p2.Analyze(img)
	if err != nil || SubjectFace(as2) < 0 {
		t.Fatal(as2, err)
	}
	as1, err := p1.Analyze(img)
	if err != nil || SubjectFace(as1) < 0 {
		t.Fatal(as1, err)
	}
	got, err := p2.LivenessFace(img, as2[SubjectFace(as2)].Face)
	if err != nil {
		t.Fatal(err)
	}
	if want := as1[SubjectFace(as1)].Face; got.row != want.row {
		t.Errorf("LivenessFace row %v, want the one-stage row %v", got.row[:4], want.row[:4])
	}
	s, err := ImageJudge{Pipeline: p2, Liveness: l}.Score(img, as2[SubjectFace(as2)].Face)
	if err != nil || !l.Live(s) {
		t.Errorf("live frame judged %.3f (%v), want live", s, err)
	}
}

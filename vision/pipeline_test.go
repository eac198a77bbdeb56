package vision

import (
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
	"gocv.io/x/gocv"
)

func TestMain(m *testing.M) {
	if os.Getenv("OPENCV_LOG_LEVEL") == "" {
		os.Setenv("OPENCV_LOG_LEVEL", "ERROR")
	}
	os.Exit(m.Run())
}

// defaultOptions are the shipped [recognition] defaults (config.Default;
// vision/visionconfig maps them, and its tests run the evaluation with them).
func defaultOptions(t testing.TB) Options {
	return Options{ModelsDir: testenv.ModelsDir(t), Model: "fr512", DetectScore: 0.9, DetectMaxSide: 640,
		CandidateMaxSide: 320, CandidateScore: 0.6, ConfirmMaxSide: 240,
		MinFacePixels: 64, MinSharpness: 50, MaxYawRatio: 0.5}
}

func openPipeline(t testing.TB, o Options) *Pipeline {
	t.Helper()
	p, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func readFace(t testing.TB, folder, file string) gocv.Mat {
	t.Helper()
	m, err := ReadImage(testenv.Face(t, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// analyzeOne returns the analysis of the single best face of an image file.
func analyzeOne(t testing.TB, p *Pipeline, folder, file string) Analysis {
	t.Helper()
	img := readFace(t, folder, file)
	defer img.Close()
	as, err := p.Analyze(img)
	if err != nil {
		t.Fatalf("%s/%s: %v", folder, file, err)
	}
	if len(as) == 0 || as[0].Embedding == nil {
		t.Fatalf("%s/%s: no usable face: %+v", folder, file, as)
	}
	return as[0]
}

func TestOpenMissingModel(t *testing.T) {
	o := defaultOptions(t)
	o.ModelsDir = t.TempDir()
	_, err := Open(o)
	if err == nil || !strings.Contains(err.Error(), DetectorFile) {
		t.Fatalf("Open with an empty models dir: %v, want an error naming %s", err, DetectorFile)
	}
	// A corrupt embedding model is an error, not an abort inside OpenCV.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testenv.ModelsDir(t), DetectorFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, DetectorFile), src, 0o644)
	os.WriteFile(filepath.Join(dir, "fr_feature.onnx"), []byte("not an onnx file"), 0o644)
	o.ModelsDir = dir
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "fr_feature.onnx") || !errors.Is(err, ErrOpenCV) {
		t.Fatalf("Open with a corrupt model: %v, want an OpenCV error naming fr_feature.onnx", err)
	}
	// The sface profile wants OpenCV Zoo's file, which is not shipped here.
	o.ModelsDir, o.Model = testenv.ModelsDir(t), "sface"
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "face_recognition_sface_2021dec.onnx") {
		t.Fatalf("Open(sface) without its model: %v, want an error naming face_recognition_sface_2021dec.onnx", err)
	}
	o.Model = "nope"
	if _, err := Open(o); err == nil {
		t.Fatal("unknown model accepted")
	}
}

func TestCloseIdempotent(t *testing.T) {
	p, err := Open(defaultOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	img := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer img.Close()
	if _, err := p.Detect(img); !errors.Is(err, ErrClosed) {
		t.Fatalf("Detect after Close: %v, want ErrClosed", err)
	}
}

// TestDetectionCounts checks the detector on the whole face set: every
// identity image has a face, no _noface image has one, and the _multiface
// photos have the number of faces FACES.md states.
func TestDetectionCounts(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	faces := testenv.FacesDir(t)
	want := map[string]int{"_multiface/couple.jpg": 2, "_multiface/selfie-many-people.jpg": 4}
	dirs, _ := os.ReadDir(faces)
	n := 0
	for _, d := range dirs {
		if !d.IsDir() || (strings.HasPrefix(d.Name(), "_") && d.Name() != "_noface" && d.Name() != "_multiface") {
			continue
		}
		files, err := listImages(filepath.Join(faces, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			img, err := ReadImage(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Detect(img)
			img.Close()
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			rel := d.Name() + "/" + filepath.Base(f)
			switch {
			case d.Name() == "_noface":
				if len(got) != 0 {
					t.Errorf("%s: %d faces in a no-face image", rel, len(got))
				}
			case d.Name() == "_multiface":
				if len(got) != want[rel] {
					t.Errorf("%s: %d faces, want %d", rel, len(got), want[rel])
				}
			default:
				if len(got) == 0 {
					t.Errorf("%s: no face detected", rel)
				}
			}
			for i, fc := range got {
				if fc.Score < 0.9 || (i > 0 && fc.Score > got[i-1].Score) {
					t.Errorf("%s: faces not sorted by score >= 0.9: %v", rel, got)
				}
			}
			n++
		}
	}
	if n != 65 {
		t.Errorf("looked at %d images, want 65 (53 identity + 10 no-face + 2 multi-face)", n)
	}
}

// TestDownscaledDetectionMapsBack: a frame twice as large as
// detect_max_side is detected on a half-size copy; the box and landmarks
// come back in the large frame's coordinates, twice those found on the
// half-size frame itself.
func TestDownscaledDetectionMapsBack(t *testing.T) {
	matleak.Check(t)
	o := defaultOptions(t)
	o.DetectMaxSide = 640
	p := openPipeline(t, o)
	orig := readFace(t, "df01", "img1.jpg")
	defer orig.Close()
	half := gocv.NewMat()
	defer half.Close()
	s := 640.0 / float64(max(orig.Cols(), orig.Rows()))
	gocv.Resize(orig, &half, image.Pt(int(float64(orig.Cols())*s), int(float64(orig.Rows())*s)), 0, 0, gocv.InterpolationArea)
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(half, &big, image.Pt(half.Cols()*2, half.Rows()*2), 0, 0, gocv.InterpolationLinear)

	ref, err := p.Detect(half)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Detect(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 1 || len(got) != 1 {
		t.Fatalf("faces: %d on the %dx%d frame, %d on the %dx%d frame; want 1 and 1", len(ref), half.Cols(), half.Rows(), len(got), big.Cols(), big.Rows())
	}
	checkFaceNear(t, "the large frame", got[0], ref[0], 2, 0.03)
	if !got[0].Box.In(image.Rect(0, 0, big.Cols(), big.Rows())) {
		t.Errorf("box %v outside the %dx%d frame", got[0].Box, big.Cols(), big.Rows())
	}
}

// checkFaceNear checks that got's box corners and landmarks lie within
// tol x its box width of scale x ref's.
func checkFaceNear(t *testing.T, what string, got, ref Face, scale, tol float64) {
	t.Helper()
	d := float64(got.Box.Dx()) * tol
	near := func(a, b image.Point) bool {
		return math.Hypot(float64(a.X)-scale*float64(b.X), float64(a.Y)-scale*float64(b.Y)) <= d
	}
	if !near(got.Box.Min, ref.Box.Min) || !near(got.Box.Max, ref.Box.Max) {
		t.Errorf("%s: box %v, want about %g x %v", what, got.Box, scale, ref.Box)
	}
	for i := range got.Landmarks {
		if !near(got.Landmarks[i], ref.Landmarks[i]) {
			t.Errorf("%s: landmark %d %v, want about %g x %v", what, i, got.Landmarks[i], scale, ref.Landmarks[i])
		}
	}
}

func TestBadImages(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	for name, data := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("this is not an image"),
		"truncated": func() []byte { b, _ := os.ReadFile(testenv.Face(t, "df01", "img1.jpg")); return b[:20] }(),
	} {
		if m, err := DecodeImage(data); !errors.Is(err, ErrDecode) {
			m.Close()
			t.Errorf("%s: DecodeImage error %v, want ErrDecode", name, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "corrupt.jpg")
	os.WriteFile(bad, []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}, 0o644)
	if _, err := ReadImage(bad); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "corrupt.jpg") {
		t.Errorf("ReadImage(corrupt): %v, want ErrDecode naming the file", err)
	}
	if _, err := ReadImage(filepath.Join(t.TempDir(), "missing.jpg")); err == nil {
		t.Error("ReadImage of a missing file succeeded")
	}

	tiny := gocv.NewMatWithSize(20, 20, gocv.MatTypeCV8UC3)
	defer tiny.Close()
	if _, err := p.Detect(tiny); !errors.Is(err, ErrTooSmall) {
		t.Errorf("Detect(20x20): %v, want ErrTooSmall", err)
	}
	if _, err := p.Analyze(tiny); !errors.Is(err, ErrTooSmall) {
		t.Errorf("Analyze(20x20): %v, want ErrTooSmall", err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := p.Detect(empty); err == nil {
		t.Error("Detect(empty Mat) succeeded")
	}
	// YuNet itself throws cv::Exception on some small inputs (docs/recognition.md):
	// the shim must turn that into a Go error, not abort the process.
	y, err := newYuNet(filepath.Join(testenv.ModelsDir(t), DetectorFile), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	defer y.close()
	odd := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(127, 127, 127, 0), 61, 78, gocv.MatTypeCV8UC3)
	defer odd.Close()
	out := gocv.NewMat()
	defer out.Close()
	if err := y.detect(odd, &out); !errors.Is(err, ErrOpenCV) {
		t.Errorf("raw YuNet on 78x61: %v, want an ErrOpenCV error", err)
	}
	// Through the pipeline the same frame is padded and gives no face, not an error.
	if fs, err := p.Detect(odd); err != nil || len(fs) != 0 {
		t.Errorf("Detect(78x61 grey): %v, %v; want no face and no error", fs, err)
	}
}

func TestEmbeddingsSeparateIdentities(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	a1 := analyzeOne(t, p, "df01", "img1.jpg")
	a2 := analyzeOne(t, p, "df01", "img2.jpg")
	b1 := analyzeOne(t, p, "df02", "img8.jpg")
	g1 := analyzeOne(t, p, "bbt_amy", "amy1.png") // grey 150x150 crop: needs the padding
	g2 := analyzeOne(t, p, "bbt_amy", "amy2.png")
	for _, a := range []Analysis{a1, a2, b1, g1, g2} {
		if len(a.Embedding) != 512 {
			t.Fatalf("embedding of %d values, want 512", len(a.Embedding))
		}
		if n := Dot(a.Embedding, a.Embedding); math.Abs(float64(n)-1) > 1e-4 {
			t.Errorf("embedding not L2-normalised: |e|^2 = %v", n)
		}
		if !a.Quality.OK {
			t.Errorf("quality gates refuse a dev-set face: %+v", a.Quality)
		}
	}
	prof, _ := LookupProfile("fr512")
	thr := float32(prof.Threshold)
	if s := Dot(a1.Embedding, a2.Embedding); s < thr {
		t.Errorf("same person df01: %.3f < threshold %.2f", s, thr)
	}
	if s := Dot(g1.Embedding, g2.Embedding); s < thr {
		t.Errorf("same person bbt_amy: %.3f < threshold %.2f", s, thr)
	}
	if s := Dot(a1.Embedding, b1.Embedding); s >= thr {
		t.Errorf("df01 vs df02: %.3f >= threshold %.2f", s, thr)
	}
	if s := Dot(a1.Embedding, g1.Embedding); s >= thr {
		t.Errorf("df01 vs bbt_amy: %.3f >= threshold %.2f", s, thr)
	}
}

func TestQualityGates(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	img := readFace(t, "df01", "img1.jpg")
	defer img.Close()

	// A heavily blurred copy: still detected, refused as blurry.
	blur := gocv.NewMat()
	defer blur.Close()
	gocv.GaussianBlur(img, &blur, image.Pt(0, 0), 8, 0, gocv.BorderDefault)
	_, _, err := p.Enrol(blur)
	if !errors.Is(err, ErrLowQuality) || !strings.Contains(err.Error(), "blurry") {
		t.Errorf("Enrol(blurred): %v, want ErrLowQuality (too blurry)", err)
	}
	as, err := p.Analyze(blur)
	if err != nil || len(as) != 1 || as[0].Quality.OK || as[0].Embedding != nil {
		t.Errorf("Analyze(blurred): %+v, %v; want one face failing the gates, without embedding", as, err)
	}

	// The same photo shrunk so the face is ~45 px: refused as too small.
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(img.Cols()/8, img.Rows()/8), 0, 0, gocv.InterpolationArea)
	_, _, err = p.Enrol(small)
	if !errors.Is(err, ErrLowQuality) || !strings.Contains(err.Error(), "too small") {
		t.Errorf("Enrol(shrunk): %v, want ErrLowQuality (too small)", err)
	}

	// The untouched photo passes and gives a JPEG thumbnail.
	a, thumb, err := p.Enrol(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(thumb) < 100 || thumb[0] != 0xff || thumb[1] != 0xd8 {
		t.Errorf("thumbnail is not a JPEG (%d bytes)", len(thumb))
	}
	tm, err := DecodeImage(thumb)
	if err != nil {
		t.Fatal(err)
	}
	if max(tm.Cols(), tm.Rows()) > 160 {
		t.Errorf("thumbnail %dx%d larger than 160 px", tm.Cols(), tm.Rows())
	}
	tm.Close()
	if a.Quality.Sharpness < p.opt.MinSharpness || a.Quality.FacePixels < p.opt.MinFacePixels {
		t.Errorf("quality %+v", a.Quality)
	}
}

func TestYawRatio(t *testing.T) {
	mk := func(noseX float32) Face {
		var f Face
		f.row[4], f.row[5] = 100, 100 // right eye
		f.row[6], f.row[7] = 160, 100 // left eye
		f.row[8], f.row[9] = noseX, 140
		return f
	}
	for _, c := range []struct {
		nose float32
		want float64
	}{{130, 0}, {145, 0.5}, {115, 0.5}, {160, 1}, {190, 1}} {
		if got := yawRatio(mk(c.nose)); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("nose x %.0f: yaw ratio %.3f, want %.3f", c.nose, got, c.want)
		}
	}
	// Roll does not change it: the same frontal face rotated by 30 degrees.
	var f Face
	s, c := float32(math.Sin(math.Pi/6)), float32(math.Cos(math.Pi/6))
	rot := func(x, y float32) (float32, float32) { return x*c - y*s, x*s + y*c }
	f.row[4], f.row[5] = rot(-30, 0)
	f.row[6], f.row[7] = rot(30, 0)
	f.row[8], f.row[9] = rot(0, 40)
	if got := yawRatio(f); got > 1e-4 {
		t.Errorf("rolled frontal face: yaw ratio %.4f, want 0", got)
	}
	// The gate refuses a turned face.
	p := &Pipeline{opt: Options{MaxYawRatio: 0.5}}
	fc := mk(155)
	fc.row[2], fc.row[3] = 200, 200
	fc.Score = 1
	a, err := p.analyzeFaceLocked(gocv.Mat{}, fc, false)
	if err != nil || a.Quality.OK || !strings.Contains(a.Quality.Reason, "not frontal") {
		t.Errorf("turned face: %+v, %v; want refused as not frontal", a.Quality, err)
	}
}

func TestEnrolRefusesNoFaceAndSeveralFaces(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	for _, c := range []struct {
		folder, file string
		want         error
	}{
		{"_noface", "fruits.jpg", ErrNoFace},
		{"_noface", "baboon.jpg", ErrNoFace},
		{"_multiface", "couple.jpg", ErrSeveralFaces},
		{"_multiface", "selfie-many-people.jpg", ErrSeveralFaces},
	} {
		img := readFace(t, c.folder, c.file)
		_, thumb, err := p.Enrol(img)
		img.Close()
		if !errors.Is(err, c.want) || thumb != nil {
			t.Errorf("Enrol(%s/%s): %v, want %v and no thumbnail", c.folder, c.file, err, c.want)
		}
	}
}

func TestGreyAndAlphaFrames(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	img := readFace(t, "df02", "img8.jpg")
	defer img.Close()
	ref := analyzeOne(t, p, "df02", "img8.jpg")
	for _, code := range []gocv.ColorConversionCode{gocv.ColorBGRToGray, gocv.ColorBGRToBGRA} {
		c := gocv.NewMat()
		gocv.CvtColor(img, &c, code)
		as, err := p.Analyze(c)
		c.Close()
		if err != nil || len(as) != 1 || as[0].Embedding == nil {
			t.Fatalf("conversion %v: %v %v", code, as, err)
		}
		if s := Dot(as[0].Embedding, ref.Embedding); s < 0.8 {
			t.Errorf("conversion %v: same image scores %.3f against the colour original", code, s)
		}
	}
}

// TestConcurrentAnalyze: the pipeline serialises its C++ objects; four
// goroutines sharing it must neither crash nor disagree.
func TestConcurrentAnalyze(t *testing.T) {
	matleak.Check(t)
	p := openPipeline(t, defaultOptions(t))
	ref := analyzeOne(t, p, "df04", "img30.jpg")
	img := readFace(t, "df04", "img30.jpg")
	defer img.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for range 3 {
				as, err := p.Analyze(img)
				if err != nil {
					errs <- err
					return
				}
				if len(as) != 1 || Dot(as[0].Embedding, ref.Embedding) < 0.999 {
					errs <- errors.New("concurrent result differs from the serial one")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestThumbnailOutside(t *testing.T) {
	matleak.Check(t)
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 100, 100, gocv.MatTypeCV8UC3)
	defer img.Close()
	if _, err := Thumbnail(img, image.Rect(200, 200, 300, 300), 160); err == nil {
		t.Error("thumbnail of a box outside the image succeeded")
	}
	_ = color.RGBA{}
}

// TestEnrolLargeTightCrop: a large photo that is only a face (no margin) is
// not padded for detection like a camera frame; YuNet then places the
// landmarks badly enough that the face looks turned. Enrol retries such an
// image with a grey border instead of refusing it. (One-stage detection:
// two-stage detection pads its confirmation crop and does not need the
// retry, TestTwoStageTightCrop.)
func TestEnrolLargeTightCrop(t *testing.T) {
	matleak.Check(t)
	o := defaultOptions(t)
	o.CandidateMaxSide = 0
	p := openPipeline(t, o)
	src := readFace(t, "bbt_leonard", "leonard3.png")
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(src, &big, image.Pt(450, 450), 0, 0, gocv.InterpolationCubic)
	src.Close()
	as, err := p.Analyze(big)
	if err != nil || len(as) != 1 || as[0].Quality.OK {
		t.Fatalf("fixture no longer shows the problem: unpadded analysis %+v, %v", as, err)
	}
	a, thumb, err := p.Enrol(big)
	if err != nil || a.Embedding == nil || thumb == nil {
		t.Fatalf("Enrol(450x450 tight crop): %v", err)
	}
	ref := analyzeOne(t, p, "bbt_leonard", "leonard3.png")
	if s := Dot(a.Embedding, ref.Embedding); s < 0.8 {
		t.Errorf("retried enrolment embedding scores %.3f against the original crop's", s)
	}
}

package scene

import (
	"image"
	"os"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// Size is the frame size of every sequence.
var Size = image.Pt(640, 480)

// Scene is a background and the face crops pasted onto it. Close frees it
// (tests: t.Cleanup does).
type Scene struct {
	bg    gocv.Mat
	faces map[string]gocv.Mat
	noise float64
}

// New loads the background (_noface/home.jpg, a room, at 640x480) and
// registers Close with t.Cleanup. Noise is the sensor noise sigma in grey
// levels added to every frame (0 = none).
func New(t testing.TB, noise float64) *Scene {
	t.Helper()
	s := &Scene{bg: gocv.NewMat(), faces: map[string]gocv.Mat{}, noise: noise}
	home := read(t, "_noface", "home.jpg")
	gocv.Resize(home, &s.bg, Size, 0, 0, gocv.InterpolationArea)
	home.Close()
	t.Cleanup(s.Close)
	return s
}

func read(t testing.TB, folder, file string) gocv.Mat {
	t.Helper()
	m, err := vision.ReadImage(testenv.Face(t, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// AddFace cuts the face of folder/file (found with p) with a margin of 60%
// of its box on each side and keeps it under name. Its pasted size is the
// crop's: a face of width w in Place is a crop of about 2.2 w.
func (s *Scene) AddFace(t testing.TB, p *vision.Pipeline, name, folder, file string) {
	t.Helper()
	img := read(t, folder, file)
	defer img.Close()
	fs, err := p.Detect(img)
	if err != nil || len(fs) == 0 {
		t.Fatalf("scene: %s/%s: %d faces, %v", folder, file, len(fs), err)
	}
	b := fs[0].Box
	mx, my := b.Dx()*6/10, b.Dy()*6/10
	r := image.Rect(b.Min.X-mx, b.Min.Y-my, b.Max.X+mx, b.Max.Y+my).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	roi := img.Region(r)
	s.faces[name] = roi.Clone()
	roi.Close()
}

// AddImage keeps the whole of folder/file under name, to paste like a face
// crop (no detection needed).
func (s *Scene) AddImage(t testing.TB, name, folder, file string) {
	t.Helper()
	s.faces[name] = read(t, folder, file)
}

// Put is one face on a frame: the crop named Face scaled to Width pixels
// (height keeps the crop's aspect) with its top-left corner at At.
type Put struct {
	Face  string
	At    image.Point
	Width int
}

// Frame renders the background with the faces pasted (clipped to the
// frame) and fresh noise. The caller closes it.
func (s *Scene) Frame(puts ...Put) gocv.Mat {
	f := s.bg.Clone()
	for _, p := range puts {
		crop := s.faces[p.Face]
		h := p.Width * crop.Rows() / crop.Cols()
		scaled := gocv.NewMat()
		gocv.Resize(crop, &scaled, image.Pt(p.Width, h), 0, 0, gocv.InterpolationArea)
		dst := image.Rect(p.At.X, p.At.Y, p.At.X+p.Width, p.At.Y+h)
		vis := dst.Intersect(image.Rect(0, 0, f.Cols(), f.Rows()))
		if !vis.Empty() {
			src := scaled.Region(vis.Sub(dst.Min))
			roi := f.Region(vis)
			src.CopyTo(&roi)
			roi.Close()
			src.Close()
		}
		scaled.Close()
	}
	if s.noise > 0 {
		noise := gocv.NewMatWithSize(f.Rows(), f.Cols(), gocv.MatTypeCV16SC3)
		gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(s.noise, s.noise, s.noise, 0))
		wide := gocv.NewMat()
		f.ConvertTo(&wide, gocv.MatTypeCV16SC3)
		gocv.Add(wide, noise, &wide)
		wide.ConvertTo(&f, gocv.MatTypeCV8UC3)
		wide.Close()
		noise.Close()
	}
	return f
}

// WalkIn is the one-face sequence of n frames: the face enters from the
// left edge (a crop 180 px wide, the face about 80 px), walks to the middle
// while growing to 300 px (a face of about 135 px)
// over the first 2n/5 frames, and then stays (standing still).
func WalkIn(face string, n int) [][]Put {
	out := make([][]Put, n)
	walk := max(1, 2*n/5)
	for i := range n {
		k := min(i, walk)
		w := 180 + 120*k/walk
		x := -60 + (320-w/2+60)*k/walk
		out[i] = []Put{{Face: face, At: image.Pt(x, 200-w/2), Width: w}}
	}
	return out
}

// TwoWalkIn is the two-face sequence: a walks in from the left as in
// WalkIn, b from the right (crops 170 to 240 px wide, faces about 75 to
// 110 px), and both stay side by side.
func TwoWalkIn(a, b string, n int) [][]Put {
	out := make([][]Put, n)
	walk := max(1, 2*n/5)
	for i := range n {
		k := min(i, walk)
		w := 170 + 70*k/walk
		xa := -60 + 100*k/walk
		xb := 640 - w + 60 - 100*k/walk
		out[i] = []Put{{Face: a, At: image.Pt(xa, 220-w/2), Width: w}, {Face: b, At: image.Pt(xb, 220-w/2), Width: w}}
	}
	return out
}

// Close frees the scene's Mats.
func (s *Scene) Close() {
	s.bg.Close()
	for k, m := range s.faces {
		m.Close()
		delete(s.faces, k)
	}
}

// RunTests is TestMain for the packages using scenes: OpenCV logs only
// errors (unless OPENCV_LOG_LEVEL says otherwise) and m runs.
func RunTests(m *testing.M) {
	if os.Getenv("OPENCV_LOG_LEVEL") == "" {
		os.Setenv("OPENCV_LOG_LEVEL", "ERROR")
	}
	os.Exit(m.Run())
}

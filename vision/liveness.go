package vision

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"gocv.io/x/gocv"
)

// CropMode says how a liveness crop window that leaves the image is handled.
type CropMode int

const (
	// CropFit is Silent-Face's rule: the scale is reduced until the window
	// fits the image and the window is shifted back inside.
	CropFit CropMode = iota
	// CropReflect keeps the full window and fills the part outside the
	// image by mirroring it (BORDER_REFLECT_101).
	CropReflect
)

// LivenessModel is one presentation-attack network and how it is fed.
type LivenessModel struct {
	File      string      // file name inside the models directory
	InputSize image.Point // network input (width, height)
	CropScale float64     // the detector box is scaled by this about its centre
	Square    bool        // window side max(w,h)*CropScale instead of w*CropScale x h*CropScale
	Crop      CropMode
	SwapRB    bool    // feed RGB instead of OpenCV's BGR
	Scale     float64 // pixel multiplier (1 = raw 0..255)
	LiveClass int     // index of the live class in the softmax
}

// LivenessProfile names one liveness model or an ensemble whose live
// probabilities are averaged (Silent-Face averages MiniFASNetV2 and V1SE).
type LivenessProfile struct {
	ID     string
	Models []LivenessModel
	// Threshold is the default: a face is live when its score >= it.
	Threshold float64
	// NonCommercial marks models whose training data forbids commercial use.
	NonCommercial bool
}

var (
	miniFASNetV2 = LivenessModel{File: "MiniFASNetV2.onnx", InputSize: image.Pt(80, 80), CropScale: 2.7,
		Crop: CropFit, Scale: 1, LiveClass: 1}
	miniFASNetV1SE = LivenessModel{File: "MiniFASNetV1SE.onnx", InputSize: image.Pt(80, 80), CropScale: 4.0,
		Crop: CropFit, Scale: 1, LiveClass: 1}
)

// DefaultLivenessModel is the shipped liveness profile, chosen on
// ../shared/liveness (docs/recognition.md, "Liveness").
const DefaultLivenessModel = "silent-face"

var livenessProfiles = map[string]LivenessProfile{
	"minifasnet-v2":   {ID: "minifasnet-v2", Models: []LivenessModel{miniFASNetV2}, Threshold: 0.5},
	"minifasnet-v1se": {ID: "minifasnet-v1se", Models: []LivenessModel{miniFASNetV1SE}, Threshold: 0.5},
	"silent-face":     {ID: "silent-face", Models: []LivenessModel{miniFASNetV2, miniFASNetV1SE}, Threshold: 0.5},
	"face-antispoof": {ID: "face-antispoof", NonCommercial: true, Threshold: 0.5, Models: []LivenessModel{{
		File: "face_antispoof_minifasv2se_97.80.onnx", InputSize: image.Pt(128, 128), CropScale: 1.5, Square: true,
		Crop: CropReflect, SwapRB: true, Scale: 1.0 / 255, LiveClass: 0}}},
	"fr-liveness": {ID: "fr-liveness", Threshold: 0.5, Models: []LivenessModel{{
		File: "fr_liveness.onnx", InputSize: image.Pt(128, 128), CropScale: 2.7, Crop: CropFit, Scale: 1, LiveClass: 0}}},
}

// LookupLivenessProfile returns the profile of a liveness model id.
func LookupLivenessProfile(id string) (LivenessProfile, error) {
	p, ok := livenessProfiles[id]
	if !ok {
		return LivenessProfile{}, fmt.Errorf("vision: unknown liveness model %q (known: %v)", id, LivenessProfileIDs())
	}
	return p, nil
}

// LivenessProfileIDs lists the known liveness model ids.
func LivenessProfileIDs() []string {
	ids := make([]string, 0, len(livenessProfiles))
	for id := range livenessProfiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LivenessOptions configure a Liveness check.
type LivenessOptions struct {
	ModelsDir string
	Model     string  // a liveness profile id
	Threshold float64 // 0 = the profile's default
}

// Liveness scores faces as live or presentation attacks. It is safe for
// concurrent use (one mutex serialises the networks).
type Liveness struct {
	prof      LivenessProfile
	threshold float64

	mu     sync.Mutex
	nets   []gocv.Net
	closed bool
}

// LivenessFiles returns the model file paths a liveness profile needs.
func LivenessFiles(modelsDir, model string) ([]string, error) {
	prof, err := LookupLivenessProfile(model)
	if err != nil {
		return nil, err
	}
	files := make([]string, len(prof.Models))
	for i, m := range prof.Models {
		files[i] = filepath.Join(modelsDir, m.File)
	}
	return files, nil
}

// OpenLiveness loads the networks of o.Model from o.ModelsDir. A missing or
// unreadable file gives an error naming it.
func OpenLiveness(o LivenessOptions) (*Liveness, error) {
	prof, err := LookupLivenessProfile(o.Model)
	if err != nil {
		return nil, err
	}
	files, _ := LivenessFiles(o.ModelsDir, o.Model)
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vision: liveness model file for %q: %w", o.Model, err)
		}
		if err := checkNet(f); err != nil {
			return nil, err
		}
	}
	l := &Liveness{prof: prof, threshold: o.Threshold}
	if l.threshold <= 0 {
		l.threshold = prof.Threshold
	}
	for _, f := range files {
		n := gocv.ReadNet(f, "")
		if n.Empty() {
			l.Close()
			return nil, fmt.Errorf("vision: load network %s: empty network", f)
		}
		l.nets = append(l.nets, n)
	}
	return l, nil
}

// Close frees the networks. It is idempotent.
func (l *Liveness) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for i := range l.nets {
		l.nets[i].Close()
	}
	return nil
}

// Profile returns the liveness profile.
func (l *Liveness) Profile() LivenessProfile { return l.prof }

// Threshold is the score at or above which a face is judged live.
func (l *Liveness) Threshold() float64 { return l.threshold }

// Score returns the live probability (0..1, averaged over the ensemble) of
// face f of img. f must come from Detect or Analyze on this same img.
func (l *Liveness) Score(img gocv.Mat, f Face) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if img.Channels() != 3 {
		return 0, fmt.Errorf("vision: liveness: %d-channel image, want BGR", img.Channels())
	}
	sum := 0.0
	for i, m := range l.prof.Models {
		s, err := l.scoreOne(l.nets[i], m, img, f)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum / float64(len(l.prof.Models)), nil
}

// Live reports whether score passes the threshold.
func (l *Liveness) Live(score float64) bool { return score >= l.threshold }

func (l *Liveness) scoreOne(net gocv.Net, m LivenessModel, img gocv.Mat, f Face) (float64, error) {
	crop := gocv.NewMat()
	defer crop.Close()
	if err := livenessCrop(img, f, m, &crop); err != nil {
		return 0, err
	}
	blob := gocv.BlobFromImage(crop, m.Scale, m.InputSize, gocv.NewScalar(0, 0, 0, 0), m.SwapRB, false)
	defer blob.Close()
	net.SetInput(blob, "")
	out := net.Forward("")
	defer out.Close()
	logits, err := out.DataPtrFloat32()
	if err != nil {
		return 0, fmt.Errorf("vision: liveness %s: %w", m.File, err)
	}
	if m.LiveClass >= len(logits) {
		return 0, fmt.Errorf("vision: liveness %s: %d outputs, live class %d", m.File, len(logits), m.LiveClass)
	}
	return softmaxAt(logits, m.LiveClass), nil
}

func softmaxAt(logits []float32, k int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	return math.Exp(float64(logits[k])-mx) / sum
}

// livenessWindow is the crop window of m for face box (x, y, w, h) in a
// W x H image, in Silent-Face's arithmetic (CropModel._get_new_box). For
// CropFit it lies inside the image; for CropReflect it may leave it.
func livenessWindow(row [15]float32, W, H int, m LivenessModel) image.Rectangle {
	x, y, w, h := float64(row[0]), float64(row[1]), float64(row[2]), float64(row[3])
	cx, cy := x+w/2, y+h/2
	if m.Square {
		w = math.Max(w, h)
		h = w
	}
	s := m.CropScale
	if m.Crop == CropFit {
		s = math.Min(s, math.Min(float64(H-1)/h, float64(W-1)/w))
	}
	nw, nh := w*s, h*s
	x0, y0, x1, y1 := cx-nw/2, cy-nh/2, cx+nw/2, cy+nh/2
	if m.Crop == CropFit {
		if x0 < 0 {
			x1 -= x0
			x0 = 0
		}
		if y0 < 0 {
			y1 -= y0
			y0 = 0
		}
		if x1 > float64(W-1) {
			x0 -= x1 - float64(W-1)
			x1 = float64(W - 1)
		}
		if y1 > float64(H-1) {
			y0 -= y1 - float64(H-1)
			y1 = float64(H - 1)
		}
	}
	// Silent-Face truncates and includes the last row/column.
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Floor(x1))+1, int(math.Floor(y1))+1)
}

// livenessCrop writes m's input crop of face f into out (not yet resized
// to the network input; BlobFromImage resizes bilinearly).
func livenessCrop(img gocv.Mat, f Face, m LivenessModel, out *gocv.Mat) error {
	W, H := img.Cols(), img.Rows()
	win := livenessWindow(f.row, W, H, m)
	in := win.Intersect(image.Rect(0, 0, W, H))
	if in.Empty() {
		return fmt.Errorf("vision: liveness: face box %v outside the %dx%d image", f.Box, W, H)
	}
	region := img.Region(in)
	defer region.Close()
	if in == win {
		region.CopyTo(out)
		return nil
	}
	border := gocv.BorderReflect101
	top, left := in.Min.Y-win.Min.Y, in.Min.X-win.Min.X
	bottom, right := win.Max.Y-in.Max.Y, win.Max.X-in.Max.X
	// Reflect-101 cannot mirror more than the region's size minus one.
	if top >= in.Dy() || bottom >= in.Dy() || left >= in.Dx() || right >= in.Dx() {
		border = gocv.BorderReplicate
	}
	gocv.CopyMakeBorder(region, out, top, bottom, left, right, border, color.RGBA{})
	return nil
}

// LivenessFace returns the face to give a liveness check for f, a face
// Detect or Analyze found in the BGR image img. With two-stage detection
// (twostage.go) it is the one-stage detector's face on the whole frame that
// overlaps f best: the liveness profiles were measured and their thresholds
// chosen on those boxes (docs/recognition.md), and the confirmation stage's
// boxes, found on a crop, have another shape that the crop windows are
// sensitive to. Without two-stage detection, or when the one-stage detector
// does not find f, it is f.
func (p *Pipeline) LivenessFace(img gocv.Mat, f Face) (Face, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Face{}, ErrClosed
	}
	w, h := img.Cols(), img.Rows()
	if img.Channels() != 3 || !p.twoStage(w, h, max(w, h) < padBelow) {
		return f, nil
	}
	faces, err := detectRows(p.det, img, p.opt.DetectMaxSide, false)
	if err != nil {
		return Face{}, err
	}
	best, iou := f, 0.0
	for _, g := range faces {
		if v := rowIoU(g, f); v > iou {
			best, iou = g, v
		}
	}
	if iou < confirmIoU {
		return f, nil
	}
	best.setFromRow(w, h)
	return best, nil
}

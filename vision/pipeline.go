package vision

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Face is one detection in original-frame coordinates.
type Face struct {
	Box       image.Rectangle // clipped to the frame
	Landmarks [5]image.Point  // right eye, left eye, nose tip, right and left mouth corner (as YuNet orders them)
	Score     float32

	row [15]float32 // the detector row, sub-pixel, original-frame coordinates (for alignCrop)
}

// Quality is the outcome of the quality gates for one face.
type Quality struct {
	FacePixels int     // smaller side of the face box
	Sharpness  float64 // variance of Laplacian of the aligned grey face
	YawRatio   float64 // 0 frontal .. 1 profile
	OK         bool
	Reason     string // why not OK, e.g. "too blurry: sharpness 8.1 < 15"
}

// Analysis is one face with its quality and, when the gates passed, its embedding.
type Analysis struct {
	Face      Face
	Quality   Quality
	Embedding []float32 // L2-normalised; nil when quality failed
}

// ErrClosed is returned by a Pipeline used after Close.
var ErrClosed = errors.New("vision: pipeline closed")

// Pipeline detects, checks, aligns and embeds faces. It is safe for
// concurrent use: one mutex serialises the C++ and dnn objects, which are not
// thread-safe.
type Pipeline struct {
	opt  Options
	prof Profile

	mu     sync.Mutex
	det    *yunet
	cand   *yunet // candidate detector of two-stage detection (twostage.go); nil = one stage
	align  *aligner
	net    gocv.Net
	closed bool

	// timings of the last call, read by Evaluate (guarded by mu).
	lastDetect, lastEmbed time.Duration
}

// Open loads the detector and the embedding model named by o.Model from
// o.ModelsDir. A missing or unreadable model file gives an error naming it.
func Open(o Options) (*Pipeline, error) {
	prof, err := LookupProfile(o.Model)
	if err != nil {
		return nil, err
	}
	if o.DetectScore <= 0 {
		o.DetectScore = 0.9
	}
	detPath := filepath.Join(o.ModelsDir, DetectorFile)
	embPath := filepath.Join(o.ModelsDir, prof.File)
	for _, f := range []string{detPath, embPath} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vision: model file for %q: %w (set models_dir or $FACEGATE_MODELS)", o.Model, err)
		}
	}
	if err := checkNet(embPath); err != nil {
		return nil, err
	}
	SetThreads(o.Threads)
	p := &Pipeline{opt: o, prof: prof}
	if p.det, err = newYuNet(detPath, o.DetectScore); err != nil {
		return nil, err
	}
	if o.CandidateMaxSide > 0 {
		if p.cand, err = newYuNet(detPath, o.candidateScore()); err != nil {
			p.det.close()
			return nil, err
		}
	}
	if p.align, err = newAligner(embPath); err != nil {
		p.det.close()
		p.cand.close()
		return nil, err
	}
	p.net = gocv.ReadNet(embPath, "")
	if p.net.Empty() {
		p.det.close()
		p.cand.close()
		p.align.close()
		return nil, fmt.Errorf("vision: load network %s: empty network", embPath)
	}
	return p, nil
}

// Close frees the C++ objects. It is idempotent.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.det.close()
	p.cand.close()
	p.align.close()
	return p.net.Close()
}

// ModelID is the embedding model id stored with every template.
func (p *Pipeline) ModelID() string { return p.prof.ID }

// Profile returns the embedding model's profile.
func (p *Pipeline) Profile() Profile { return p.prof }

// Options returns the options the pipeline was opened with.
func (p *Pipeline) Options() Options { return p.opt }

// Detect finds faces (score >= DetectScore), highest score first, in
// original-frame coordinates.
func (p *Pipeline) Detect(img gocv.Mat) ([]Face, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	return p.detectLocked(img)
}

// padBelow: images whose long side is under this (small, tight enrolment
// crops) are padded with a grey border of half their long side on every
// side, because YuNet misses faces that fill the whole frame. Camera frames
// and photos are larger and are not padded; Enrol retries a larger image
// with padding when it finds no face.
const padBelow = 400

func (p *Pipeline) detectLocked(img gocv.Mat) ([]Face, error) {
	return p.detectPadLocked(img, false, false)
}

// detectPadLocked detects faces; forcePad adds the grey border whatever
// the size, oneStage turns two-stage detection off (enrolment: a photo is
// checked once, and a face too small for the candidate copy must still be
// found, to be refused as too small rather than as no face).
func (p *Pipeline) detectPadLocked(img gocv.Mat, forcePad, oneStage bool) ([]Face, error) {
	t0 := time.Now()
	defer func() { p.lastDetect = time.Since(t0) }()
	if img.Empty() {
		return nil, fmt.Errorf("%w: empty image", ErrDecode)
	}
	w, h := img.Cols(), img.Rows()
	if w < MinImageSide || h < MinImageSide {
		return nil, fmt.Errorf("%w: %dx%d (at least %dx%d)", ErrTooSmall, w, h, MinImageSide, MinImageSide)
	}
	work := img
	switch img.Channels() {
	case 3:
	case 1, 4:
		c := gocv.NewMat()
		defer c.Close()
		code := gocv.ColorGrayToBGR
		if img.Channels() == 4 {
			code = gocv.ColorBGRAToBGR
		}
		gocv.CvtColor(img, &c, code)
		work = c
	default:
		return nil, fmt.Errorf("vision: detect: %d-channel image not supported", img.Channels())
	}
	pad := forcePad || max(w, h) < padBelow
	var faces []Face
	var err error
	if !oneStage && p.twoStage(w, h, pad) {
		faces, err = p.detectTwoStageLocked(work) // twostage.go
	} else {
		faces, err = detectRows(p.det, work, p.opt.DetectMaxSide, pad)
	}
	if err != nil {
		return nil, err
	}
	for i := range faces {
		faces[i].setFromRow(w, h)
	}
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Score > faces[j].Score })
	return faces, nil
}

// detectRows runs det on a BGR image, on a copy whose long side is at most
// maxSide (0 = native) and, if pad is set, with a grey border of half its
// long side. The faces' rows are in img's coordinates; Box and Landmarks are
// not set yet (setFromRow).
func detectRows(det *yunet, img gocv.Mat, maxSide int, pad bool) ([]Face, error) {
	w, h := img.Cols(), img.Rows()
	work := img
	var owned []*gocv.Mat
	defer func() {
		for _, m := range owned {
			m.Close()
		}
	}()
	sx, sy := 1.0, 1.0
	if long := max(w, h); maxSide > 0 && long > maxSide {
		s := float64(maxSide) / float64(long)
		nw, nh := max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
		r := gocv.NewMat()
		owned = append(owned, &r)
		gocv.Resize(work, &r, image.Pt(nw, nh), 0, 0, gocv.InterpolationArea)
		work = r
		sx, sy = float64(nw)/float64(w), float64(nh)/float64(h)
	}
	border := 0
	if pad {
		border = max(work.Cols(), work.Rows()) / 2
		b := gocv.NewMat()
		owned = append(owned, &b)
		gocv.CopyMakeBorder(work, &b, border, border, border, border, gocv.BorderConstant, color.RGBA{127, 127, 127, 0})
		work = b
	}
	out := gocv.NewMat()
	defer out.Close()
	if err := det.detect(work, &out); err != nil {
		return nil, err
	}
	n := out.Rows()
	if n == 0 || out.Cols() < 15 {
		return nil, nil
	}
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("vision: detect: %w", err)
	}
	cols := out.Cols()
	faces := make([]Face, 0, n)
	for i := 0; i < n; i++ {
		r := data[i*cols : i*cols+15]
		var f Face
		// box x, y, w, h
		f.row[0] = float32((float64(r[0]) - float64(border)) / sx)
		f.row[1] = float32((float64(r[1]) - float64(border)) / sy)
		f.row[2] = float32(float64(r[2]) / sx)
		f.row[3] = float32(float64(r[3]) / sy)
		for k := 0; k < 5; k++ {
			f.row[4+2*k] = float32((float64(r[4+2*k]) - float64(border)) / sx)
			f.row[5+2*k] = float32((float64(r[5+2*k]) - float64(border)) / sy)
		}
		f.row[14] = r[14]
		f.Score = r[14]
		faces = append(faces, f)
	}
	return faces, nil
}

// setFromRow sets Box (clipped to a w x h frame, so callers can crop with it
// safely; the quality gates use the unclipped size), Landmarks and Score
// from the detector row.
func (f *Face) setFromRow(w, h int) {
	for k := 0; k < 5; k++ {
		f.Landmarks[k] = image.Pt(int(math.Round(float64(f.row[4+2*k]))), int(math.Round(float64(f.row[5+2*k]))))
	}
	f.Score = f.row[14]
	x0, y0 := int(math.Round(float64(f.row[0]))), int(math.Round(float64(f.row[1])))
	f.Box = image.Rect(x0, y0, x0+int(math.Round(float64(f.row[2]))), y0+int(math.Round(float64(f.row[3])))).Intersect(image.Rect(0, 0, w, h))
}

// Analyze detects faces, applies the quality gates and embeds every face
// that passes them, highest detector score first.
func (p *Pipeline) Analyze(img gocv.Mat) ([]Analysis, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	return p.analyzeLocked(img, false, false)
}

// AnalyzeFace applies the quality gates to one face Detect found in img and
// embeds it when they pass: the second half of Analyze, for a caller that
// embeds only some faces (the camera loop's tracker, package track).
func (p *Pipeline) AnalyzeFace(img gocv.Mat, f Face) (Analysis, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Analysis{}, ErrClosed
	}
	return p.analyzeFaceLocked(img, f, false)
}

func (p *Pipeline) analyzeLocked(img gocv.Mat, forcePad, oneStage bool) ([]Analysis, error) {
	faces, err := p.detectPadLocked(img, forcePad, oneStage)
	if err != nil {
		return nil, err
	}
	out := make([]Analysis, 0, len(faces))
	for _, f := range faces {
		a, err := p.analyzeFaceLocked(img, f, false)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// analyzeFaceLocked gates, aligns and (if the gates pass or force is set)
// embeds one face.
func (p *Pipeline) analyzeFaceLocked(img gocv.Mat, f Face, force bool) (Analysis, error) {
	a := Analysis{Face: f}
	q := &a.Quality
	q.FacePixels = int(math.Round(float64(min(f.row[2], f.row[3]))))
	q.YawRatio = yawRatio(f)
	q.OK = true
	fail := func(format string, args ...any) {
		if q.OK {
			q.OK, q.Reason = false, fmt.Sprintf(format, args...)
		}
	}
	if p.opt.MinFacePixels > 0 && q.FacePixels < p.opt.MinFacePixels {
		fail("face too small: %d px < %d", q.FacePixels, p.opt.MinFacePixels)
	}
	if f.Score < p.opt.DetectScore {
		fail("detector score too low: %.2f < %.2f", f.Score, p.opt.DetectScore)
	}
	if p.opt.MaxYawRatio > 0 && q.YawRatio > p.opt.MaxYawRatio {
		fail("not frontal: yaw ratio %.2f > %.2f", q.YawRatio, p.opt.MaxYawRatio)
	}
	if !q.OK && !force {
		return a, nil
	}
	t0 := time.Now()
	aligned := gocv.NewMat()
	defer aligned.Close()
	if err := p.alignLocked(img, f, &aligned); err != nil {
		return a, err
	}
	q.Sharpness = sharpness(aligned)
	if p.opt.MinSharpness > 0 && q.Sharpness < p.opt.MinSharpness {
		fail("too blurry: sharpness %.1f < %.1f", q.Sharpness, p.opt.MinSharpness)
	}
	if q.OK || force {
		emb, err := p.embedLocked(aligned)
		if err != nil {
			return a, err
		}
		a.Embedding = emb
	}
	p.lastEmbed = time.Since(t0)
	return a, nil
}

func (p *Pipeline) alignLocked(img gocv.Mat, f Face, out *gocv.Mat) error {
	src := img
	if img.Channels() != 3 {
		c := gocv.NewMat()
		defer c.Close()
		code := gocv.ColorGrayToBGR
		if img.Channels() == 4 {
			code = gocv.ColorBGRAToBGR
		}
		gocv.CvtColor(img, &c, code)
		src = c
	}
	row, err := gocv.NewMatFromBytes(1, 15, gocv.MatTypeCV32F, float32Bytes(f.row[:]))
	if err != nil {
		return fmt.Errorf("vision: align: %w", err)
	}
	defer row.Close()
	return p.align.align(src, row, out)
}

func (p *Pipeline) embedLocked(aligned gocv.Mat) ([]float32, error) {
	m := p.prof.Mean
	blob := gocv.BlobFromImage(aligned, p.prof.Scale, p.prof.InputSize, gocv.NewScalar(m, m, m, 0), p.prof.SwapRB, false)
	defer blob.Close()
	p.net.SetInput(blob, "")
	out := p.net.Forward("")
	defer out.Close()
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("vision: embed: %w", err)
	}
	if len(data) != p.prof.Dims {
		return nil, fmt.Errorf("vision: embed: model %s gave %d values, profile says %d", p.prof.ID, len(data), p.prof.Dims)
	}
	emb := make([]float32, len(data))
	copy(emb, data)
	if !normalize(emb) {
		return nil, fmt.Errorf("vision: embed: model %s gave a zero vector", p.prof.ID)
	}
	return emb, nil
}

// Enrol analyses an enrolment image: it must hold exactly one face, and that
// face must pass the quality gates. It returns the analysis and a JPEG
// thumbnail of the face. Detection is one-stage (detect_max_side) here.
func (p *Pipeline) Enrol(img gocv.Mat) (Analysis, []byte, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return Analysis{}, nil, ErrClosed
	}
	as, err := p.analyzeLocked(img, false, true)
	if err == nil && len(as) <= 1 && !oneGoodFace(as) && max(img.Cols(), img.Rows()) >= padBelow {
		// No face, or one unusable face: maybe a large tight crop, where
		// YuNet misses or mis-places the landmarks of a face that fills
		// the frame. Retry with a border and keep that result only if it
		// is usable. Several faces are refused without retry.
		if padded, perr := p.analyzeLocked(img, true, true); perr == nil && oneGoodFace(padded) {
			as = padded
		}
	}
	p.mu.Unlock()
	if err != nil {
		return Analysis{}, nil, err
	}
	switch {
	case len(as) == 0:
		return Analysis{}, nil, fmt.Errorf("%w: no face scores >= %.2f", ErrNoFace, p.opt.DetectScore)
	case len(as) > 1:
		return Analysis{}, nil, fmt.Errorf("%w: %d faces found, enrolment needs exactly one", ErrSeveralFaces, len(as))
	case !as[0].Quality.OK:
		return as[0], nil, fmt.Errorf("%w: %s", ErrLowQuality, as[0].Quality.Reason)
	}
	thumb, err := Thumbnail(img, as[0].Face.Box, 160)
	if err != nil {
		return as[0], nil, err
	}
	return as[0], thumb, nil
}

func oneGoodFace(as []Analysis) bool { return len(as) == 1 && as[0].Quality.OK }

// Thumbnail crops box with a 30% margin from img and encodes it as a JPEG
// whose long side is at most size pixels.
func Thumbnail(img gocv.Mat, box image.Rectangle, size int) ([]byte, error) {
	mx, my := box.Dx()*3/10, box.Dy()*3/10
	r := image.Rect(box.Min.X-mx, box.Min.Y-my, box.Max.X+mx, box.Max.Y+my).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return nil, fmt.Errorf("vision: thumbnail: face box %v outside the %dx%d image", box, img.Cols(), img.Rows())
	}
	crop := img.Region(r)
	defer crop.Close()
	small := gocv.NewMat()
	defer small.Close()
	s := math.Min(1, float64(size)/float64(max(r.Dx(), r.Dy())))
	gocv.Resize(crop, &small, image.Pt(max(1, int(float64(r.Dx())*s)), max(1, int(float64(r.Dy())*s))), 0, 0, gocv.InterpolationArea)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil, fmt.Errorf("vision: thumbnail: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

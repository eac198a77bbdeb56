package motion

import (
	"errors"
	"fmt"
	"image"
	"time"

	"gocv.io/x/gocv"
)

// Options configure a Gate. Zero values take the defaults in brackets.
type Options struct {
	// Width and Height of the grey copy the change is measured on (80x60).
	Width, Height int
	// PixelDelta is the grey-level difference from the background that
	// counts a pixel of the copy as changed (15).
	PixelDelta float64
	// Threshold is the fraction of the copy's pixels that must change for
	// the frame to count as motion (0.005, i.e. 24 of 4800 pixels: a face of
	// 64 px on a 640x480 frame covers 64).
	Threshold float64
	// Adapt is the weight of each new frame in the background average
	// (0.1: a time constant of 10 frames; a person who stands still stops
	// counting as change after about 20 frames, 2 s at 10 fps, and is then
	// seen by the forced detection).
	Adapt float64
	// Every is the forced interval: detection runs at least this often
	// however static the scene (1 s).
	Every time.Duration
}

func (o *Options) defaults() {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 80, 60
	}
	if o.PixelDelta <= 0 {
		o.PixelDelta = 15
	}
	if o.Threshold <= 0 {
		o.Threshold = 0.005
	}
	if o.Adapt <= 0 || o.Adapt > 1 {
		o.Adapt = 0.1
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
}

// Why a Gate asked for detection.
const (
	ReasonNone   = ""       // static scene, interval not over: skip detection
	ReasonFirst  = "first"  // the first frame (no background yet)
	ReasonMotion = "motion" // enough of the scene changed
	ReasonForced = "forced" // the forced interval passed
)

// Result is a Gate's verdict on one frame.
type Result struct {
	Detect bool
	Reason string
	// Change is the fraction of the small copy's pixels that differ from the
	// background by more than PixelDelta.
	Change float64
}

// ErrFrame is returned for a frame the gate cannot measure.
var ErrFrame = errors.New("motion: unusable frame")

// Gate decides per frame whether face detection should run. It is not safe
// for concurrent use (the camera loop owns it). It holds no Mats between
// calls (the background is a Go slice), so it needs no Close.
type Gate struct {
	o       Options
	bg      []float32
	lastRun time.Time
	started bool
}

// New returns a gate with o's settings (defaults for zero fields).
func New(o Options) *Gate {
	o.defaults()
	return &Gate{o: o, bg: make([]float32, o.Width*o.Height)}
}

// Options returns the gate's settings, defaults filled in.
func (g *Gate) Options() Options { return g.o }

// Check measures frame (BGR, BGRA or grey) against the background, updates
// the background, and says whether detection should run now. When it says
// so the forced interval starts again from now.
func (g *Gate) Check(frame gocv.Mat, now time.Time) (Result, error) {
	if frame.Empty() {
		return Result{}, fmt.Errorf("%w: empty frame", ErrFrame)
	}
	small, grey := gocv.NewMat(), gocv.NewMat()
	defer small.Close()
	defer grey.Close()
	gocv.Resize(frame, &small, image.Pt(g.o.Width, g.o.Height), 0, 0, gocv.InterpolationArea)
	switch frame.Channels() {
	case 1:
		small.CopyTo(&grey)
	case 3:
		gocv.CvtColor(small, &grey, gocv.ColorBGRToGray)
	case 4:
		gocv.CvtColor(small, &grey, gocv.ColorBGRAToGray)
	default:
		return Result{}, fmt.Errorf("%w: %d channels", ErrFrame, frame.Channels())
	}
	if grey.Type() != gocv.MatTypeCV8U {
		return Result{}, fmt.Errorf("%w: pixel type %v, want 8-bit", ErrFrame, grey.Type())
	}
	px, err := grey.DataPtrUint8()
	if err != nil || len(px) != len(g.bg) {
		return Result{}, fmt.Errorf("%w: grey copy: %d pixels, %v", ErrFrame, len(px), err)
	}
	var r Result
	if !g.started {
		for i, v := range px {
			g.bg[i] = float32(v)
		}
		g.started = true
		r.Reason = ReasonFirst
	} else {
		changed := 0
		a := float32(g.o.Adapt)
		delta := float32(g.o.PixelDelta)
		for i, v := range px {
			f := float32(v)
			if d := f - g.bg[i]; d > delta || d < -delta {
				changed++
			}
			g.bg[i] += a * (f - g.bg[i])
		}
		r.Change = float64(changed) / float64(len(px))
		switch {
		case r.Change >= g.o.Threshold:
			r.Reason = ReasonMotion
		case now.Sub(g.lastRun) >= g.o.Every:
			r.Reason = ReasonForced
		}
	}
	if r.Reason != ReasonNone {
		r.Detect = true
		g.lastRun = now
	}
	return r, nil
}

// Ran tells the gate that detection ran at now for another reason (the
// loop keeps detecting while a face is being decided), so the forced
// interval starts again.
func (g *Gate) Ran(now time.Time) { g.lastRun = now }

package vision

import (
	"math"
	"unsafe"

	"gocv.io/x/gocv"
)

// yawRatio measures how far the nose tip sits from the middle of the eyes,
// along the eye line: 0 for a frontal face, 1 when the nose is level with
// one eye (a profile); values are clamped to 0..1. Projecting on the eye
// line makes it independent of head roll and face size.
func yawRatio(f Face) float64 {
	rx, ry := float64(f.row[4]), float64(f.row[5]) // right eye
	lx, ly := float64(f.row[6]), float64(f.row[7]) // left eye
	nx, ny := float64(f.row[8]), float64(f.row[9]) // nose tip
	ex, ey := lx-rx, ly-ry
	d2 := ex*ex + ey*ey
	if d2 < 1e-6 {
		return 1
	}
	t := ((nx-rx)*ex + (ny-ry)*ey) / d2 // 0 at the right eye, 1 at the left eye
	return math.Min(1, math.Abs(2*t-1))
}

// sharpness is the variance of the Laplacian of the grey aligned face.
func sharpness(aligned gocv.Mat) float64 {
	grey := gocv.NewMat()
	defer grey.Close()
	if aligned.Channels() == 3 {
		gocv.CvtColor(aligned, &grey, gocv.ColorBGRToGray)
	} else {
		aligned.CopyTo(&grey)
	}
	lap := gocv.NewMat()
	defer lap.Close()
	gocv.Laplacian(grey, &lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(lap, &mean, &std)
	sd := std.GetDoubleAt(0, 0)
	return sd * sd
}

// normalize scales v to unit length; false for a zero or non-finite vector.
func normalize(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return true
}

func float32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

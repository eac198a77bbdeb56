package vision

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Two-stage detection (Options.CandidateMaxSide > 0): YuNet first looks for
// candidates on a small copy of the frame, at a lower score
// (Options.CandidateScore), and each candidate counts only when the detector
// finds a face again, at Options.DetectScore, on a crop of the
// full-resolution frame around it. The small copy costs a fraction of a full
// detection; the crop, taken at the face's own scale, removes the false
// detections the small copy makes (at 320 px alone one of the _noface images
// gave a face) and restores the landmark precision alignment needs.

// confirmMargin is the margin added on every side of a candidate box, as a
// fraction of its longer side, to make the confirmation crop.
const confirmMargin = 0.5

// confirmMinSide is the smallest confirmation input: a smaller crop is
// padded with grey to this size (YuNet throws on some inputs under ~64x64).
const confirmMinSide = 96

// confirmIoU is the box overlap a confirmation must have with its candidate.
const confirmIoU = 0.3

// twoStage reports whether a w x h frame is detected in two stages.
func (p *Pipeline) twoStage(w, h int, pad bool) bool {
	return p.cand != nil && !pad && max(w, h) > p.opt.CandidateMaxSide
}

// detectTwoStageLocked detects faces in a BGR frame in two stages. The
// faces' rows are in img's coordinates.
func (p *Pipeline) detectTwoStageLocked(img gocv.Mat) ([]Face, error) {
	cands, err := detectRows(p.cand, img, p.opt.CandidateMaxSide, false)
	if err != nil {
		return nil, err
	}
	var out []Face
	for _, c := range cands {
		f, ok, err := p.confirmLocked(img, c)
		if err != nil {
			return nil, err
		}
		if ok && !overlapsAny(f, out) {
			out = append(out, f)
		}
	}
	return out, nil
}

// confirmLocked runs the detector on a crop of img around candidate c and
// returns the face found there that overlaps c best, in img's coordinates.
func (p *Pipeline) confirmLocked(img gocv.Mat, c Face) (Face, bool, error) {
	cx, cy := float64(c.row[0])+float64(c.row[2])/2, float64(c.row[1])+float64(c.row[3])/2
	half := math.Max(float64(c.row[2]), float64(c.row[3])) * (0.5 + confirmMargin)
	want := image.Rect(int(math.Floor(cx-half)), int(math.Floor(cy-half)), int(math.Ceil(cx+half)), int(math.Ceil(cy+half)))
	frame := image.Rect(0, 0, img.Cols(), img.Rows())
	r := want.Intersect(frame)
	if r.Dx() < 8 || r.Dy() < 8 {
		return Face{}, false, nil
	}
	region := img.Region(r)
	defer region.Close()
	// The parts of the crop outside the frame are grey, as is a border that
	// brings a small crop up to confirmMinSide, so the face never fills the
	// detector's input.
	top, left := r.Min.Y-want.Min.Y, r.Min.X-want.Min.X
	bottom, right := want.Max.Y-r.Max.Y, want.Max.X-r.Max.X
	if grow := confirmMinSide - want.Dx(); grow > 0 {
		left, right = left+grow/2, right+grow-grow/2
	}
	if grow := confirmMinSide - want.Dy(); grow > 0 {
		top, bottom = top+grow/2, bottom+grow-grow/2
	}
	crop := gocv.NewMat()
	defer crop.Close()
	gocv.CopyMakeBorder(region, &crop, top, bottom, left, right, gocv.BorderConstant, color.RGBA{127, 127, 127, 0})
	found, err := detectRows(p.det, crop, p.opt.ConfirmMaxSide, false)
	if err != nil {
		return Face{}, false, err
	}
	dx, dy := float32(r.Min.X-left), float32(r.Min.Y-top)
	best, bestIoU := Face{}, 0.0
	for _, f := range found {
		f.shift(dx, dy)
		if v := rowIoU(f, c); v > bestIoU {
			best, bestIoU = f, v
		}
	}
	if bestIoU < confirmIoU {
		return Face{}, false, nil
	}
	return best, true, nil
}

// shift moves a face's row by (dx, dy).
func (f *Face) shift(dx, dy float32) {
	f.row[0] += dx
	f.row[1] += dy
	for k := 0; k < 5; k++ {
		f.row[4+2*k] += dx
		f.row[5+2*k] += dy
	}
}

// rowIoU is the intersection over union of two faces' unclipped boxes.
func rowIoU(a, b Face) float64 {
	ax0, ay0, ax1, ay1 := float64(a.row[0]), float64(a.row[1]), float64(a.row[0]+a.row[2]), float64(a.row[1]+a.row[3])
	bx0, by0, bx1, by1 := float64(b.row[0]), float64(b.row[1]), float64(b.row[0]+b.row[2]), float64(b.row[1]+b.row[3])
	iw := math.Min(ax1, bx1) - math.Max(ax0, bx0)
	ih := math.Min(ay1, by1) - math.Max(ay0, by0)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (ax1-ax0)*(ay1-ay0) + (bx1-bx0)*(by1-by0) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// overlapsAny reports whether f is the same face as one already confirmed
// (two candidates can confirm to one face).
func overlapsAny(f Face, fs []Face) bool {
	for _, g := range fs {
		if rowIoU(f, g) > 0.3 {
			return true
		}
	}
	return false
}

package vision

// Options configure a Pipeline (package vision/visionconfig fills them from
// the [recognition] section). The zero value of a gate disables it.
type Options struct {
	ModelsDir, Model string // model profile: "fr512" or "sface"

	DetectScore   float32 // YuNet score threshold (0.9)
	DetectMaxSide int     // detection runs on a copy whose long side is at most this (0 = native size)
	// Two-stage detection (twostage.go): candidates on a copy whose long
	// side is at most CandidateMaxSide (0 = one stage at DetectMaxSide),
	// at CandidateScore (0 = DetectScore), each confirmed at DetectScore on
	// a crop of the full frame scaled to at most ConfirmMaxSide (0 = native).
	CandidateMaxSide int
	CandidateScore   float32
	ConfirmMaxSide   int

	MinFacePixels int     // smallest accepted face box side, original pixels
	MinSharpness  float64 // smallest variance of Laplacian of the aligned grey face
	MaxYawRatio   float64 // largest nose offset from the eye midline (0 frontal .. 1 profile); 0 = off

	// Threads sets OpenCV's thread count at Open (process-wide); 0 leaves it.
	Threads int
}

func (o Options) candidateScore() float32 {
	if o.CandidateScore > 0 {
		return o.CandidateScore
	}
	return o.DetectScore
}

package vision

import "github.com/facegate/facegate/config"

// Options configure a Pipeline. The zero value of a gate disables it.
type Options struct {
	ModelsDir, Model string // model profile: "fr512" or "sface"

	DetectScore   float32 // YuNet score threshold (0.9)
	DetectMaxSide int     // detection runs on a copy whose long side is at most this (0 = native size)
	MinFacePixels int     // smallest accepted face box side, original pixels
	MinSharpness  float64 // smallest variance of Laplacian of the aligned grey face
	MaxYawRatio   float64 // largest nose offset from the eye midline (0 frontal .. 1 profile); 0 = off

	// Threads sets OpenCV's thread count at Open (process-wide); 0 leaves it.
	Threads int
}

// OptionsFrom maps the [recognition] config section onto Options.
func OptionsFrom(r config.Recognition, modelsDir string) Options {
	return Options{
		ModelsDir:     modelsDir,
		Model:         r.Model,
		DetectScore:   float32(r.DetectScore),
		DetectMaxSide: r.DetectMaxSide,
		MinFacePixels: r.MinFacePixels,
		MinSharpness:  r.MinSharpness,
		MaxYawRatio:   r.MaxYawRatio,
	}
}

package visionconfig

import (
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/vision"
)

// Options maps the [recognition] section and models_dir onto vision.Options.
func Options(r config.Recognition, modelsDir string) vision.Options {
	return vision.Options{
		ModelsDir:     modelsDir,
		Model:         r.Model,
		DetectScore:   float32(r.DetectScore),
		DetectMaxSide: r.DetectMaxSide,

		CandidateMaxSide: r.CandidateMaxSide,
		CandidateScore:   float32(r.CandidateScore),
		ConfirmMaxSide:   r.ConfirmMaxSide,

		MinFacePixels: r.MinFacePixels,
		MinSharpness:  r.MinSharpness,
		MaxYawRatio:   r.MaxYawRatio,
	}
}

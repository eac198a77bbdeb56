package main

import (
	"fmt"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/vision"
)

// openLiveness loads the [liveness] check; nil when liveness.enabled is
// false. A missing or unreadable model file is an error naming the file and
// the keys that chose it: the door does not silently run without the check.
func openLiveness(cfg config.Config) (*vision.Liveness, error) {
	if !cfg.Liveness.Enabled {
		return nil, nil
	}
	lv, err := vision.OpenLiveness(vision.LivenessOptions{ModelsDir: cfg.ModelsDir, Model: cfg.Liveness.Model, Threshold: cfg.Liveness.Threshold})
	if err != nil {
		file := cfg.File
		if file == "" {
			file = "the defaults"
		}
		return nil, fmt.Errorf("liveness.model %q (models_dir %q, set in %s): %w; install the model or set liveness.enabled = false",
			cfg.Liveness.Model, cfg.ModelsDir, file, err)
	}
	return lv, nil
}

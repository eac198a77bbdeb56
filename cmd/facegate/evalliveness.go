package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

// evalLiveness runs `facegate eval -liveness DIR` with the configured
// liveness model and threshold (or the overrides).
func evalLiveness(ctx context.Context, stdout io.Writer, cfg config.Config, dir, model string, threshold float64, asJSON bool) error {
	if model == "" {
		model = cfg.Liveness.Model
	}
	if threshold == 0 {
		threshold = cfg.Liveness.Threshold
	}
	lo := vision.LivenessOptions{ModelsDir: cfg.ModelsDir, Model: model, Threshold: threshold}
	rep, err := vision.EvaluateLiveness(ctx, dir, visionconfig.Options(cfg.Recognition, cfg.ModelsDir), lo)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printLiveness(stdout, rep)
	return nil
}

func printLiveness(w io.Writer, r vision.LivenessReport) {
	fmt.Fprintf(w, "liveness model %s, threshold %.3f (a face is live when its score >= threshold)\n", r.Model, r.Threshold)
	folders := make([]string, 0, len(r.Images))
	for f := range r.Images {
		folders = append(folders, f)
	}
	sort.Strings(folders)
	for _, f := range folders {
		fmt.Fprintf(w, "  %-10s %4d images, %3d without a usable face\n", f+"/", r.Images[f], r.NoFace[f])
	}
	fmt.Fprintf(w, "BPCER        %.2f%%  (%d of %d live rejected)\n", 100*r.BPCER, r.BonaFideRefused, r.BonaFide)
	for _, f := range folders {
		if f == vision.BonaFideFolder {
			continue
		}
		fmt.Fprintf(w, "APCER %-7s%.2f%%  (%d of %d accepted as live)\n", f, 100*r.APCER[f], r.AttacksAccepted[f], r.Attacks[f])
	}
	fmt.Fprintf(w, "EER          %.2f%% at %.3f (all species pooled)\n", 100*r.EER, r.EERThreshold)
	fmt.Fprintf(w, "APCER = 0 on every species from threshold %.4g, at BPCER %.2f%%\n", r.APCER0Threshold, 100*r.APCER0BPCER)
	fmt.Fprintf(w, "timing       %.1f ms liveness per face (median, 1 OpenCV thread)\n", r.LivenessMsMedian)
	fmt.Fprintln(w, "threshold  BPCER   worst APCER")
	for _, s := range r.Sweep {
		fmt.Fprintf(w, "  %.2f    %6.2f%%  %6.2f%%\n", s.Threshold, 100*s.BPCER, 100*s.MaxAPCER)
	}
	for _, s := range r.Accepted {
		fmt.Fprintf(w, "  attack accepted  %.3f  %s\n", s.Score, s.Path)
	}
	for _, s := range r.Rejected {
		fmt.Fprintf(w, "  live rejected    %.3f  %s\n", s.Score, s.Path)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

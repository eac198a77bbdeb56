package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

func init() {
	register(command{
		name:    "eval",
		summary: "evaluate detection and recognition on a labelled face folder, or liveness on a liveness set",
		run:     runEval,
	})
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	dataset := fs.String("dataset", "", "labelled folder: one sub-folder per identity, _noface/ for images without faces")
	liveDir := fs.String("liveness", "", "liveness set: live/ plus one folder per attack species (print/, replay/, ...)")
	liveModel := fs.String("liveness-model", "", "override liveness.model")
	liveThreshold := fs.Float64("liveness-threshold", 0, "override liveness.threshold")
	cfgPath := fs.String("config", "", "configuration file (default: built-in defaults)")
	models := fs.String("models", "", "models directory (default: models_dir of the configuration)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	threshold := fs.Float64("threshold", 0, "cosine threshold (default: recognition.threshold)")
	maxSide := fs.Int("detect-max-side", 0, "override recognition.detect_max_side")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if (*dataset == "") == (*liveDir == "") || len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: facegate eval -dataset DIR | -liveness DIR [-config FILE] [-models DIR] [-json]")
		return errUsage
	}
	cfg := config.Default()
	if *cfgPath != "" {
		if cfg, err = loadConfig(*cfgPath); err != nil {
			return err
		}
	}
	if *models != "" {
		cfg.ModelsDir = *models
	}
	if *liveDir != "" {
		return evalLiveness(ctx, stdout, cfg, *liveDir, *liveModel, *liveThreshold, *asJSON)
	}
	if *threshold == 0 {
		*threshold = cfg.Recognition.Threshold
	}
	o := visionconfig.Options(cfg.Recognition, cfg.ModelsDir)
	if *maxSide > 0 {
		o.DetectMaxSide = *maxSide
	}
	rep, err := vision.Evaluate(ctx, *dataset, o, *threshold)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(rep)
	}
	printEval(stdout, rep)
	return nil
}

func printEval(w io.Writer, r vision.EvalReport) {
	fmt.Fprintf(w, "model %s, threshold %.3f, detect_max_side %d, candidate_max_side %d\n", r.Model, r.Threshold, r.DetectMaxSide, r.CandidateMaxSide)
	fmt.Fprintf(w, "detection:   %d/%d identity images (%.1f%%) from %d identities; %d/%d no-face images with a false detection\n",
		r.Detected, r.Images, 100*r.DetectRate, r.Identities, r.NofaceFalseDetections, r.NofaceImages)
	for _, m := range r.Missed {
		fmt.Fprintf(w, "  missed: %s\n", m)
	}
	for _, m := range r.NofaceDetected {
		fmt.Fprintf(w, "  false detection: %s\n", m)
	}
	fmt.Fprintf(w, "quality:     %d detected images fail the gates; smallest face %d px, least sharpness %.1f, largest yaw ratio %.2f\n",
		r.QualityRejected, r.SmallestFace, r.LeastSharpness, r.LargestYaw)
	for _, m := range r.QualityFailures {
		fmt.Fprintf(w, "  %s\n", m)
	}
	fmt.Fprintf(w, "verification: %d genuine / %d impostor pairs; EER %.2f%% (at %.3f); at threshold: FAR %.4f, FRR %.4f\n",
		r.GenuinePairs, r.ImpostorPairs, 100*r.EER, r.EERThreshold, r.FAR, r.FRR)
	fmt.Fprintf(w, "             genuine min %.3f median %.3f; impostor max %.3f median %.3f\n",
		r.GenuineMin, r.GenuineMedian, r.ImpostorMax, r.ImpostorMedian)
	for _, p := range r.LowestGenuine {
		fmt.Fprintf(w, "  hard genuine pair  %.3f  %s  %s\n", p.Score, p.A, p.B)
	}
	for _, p := range r.HighestImpostor {
		fmt.Fprintf(w, "  hard impostor pair %.3f  %s  %s\n", p.Score, p.A, p.B)
	}
	fmt.Fprintf(w, "open set:    %d false accepts in %d stranger probes (highest stranger score %.3f)\n",
		r.OpenSetFalseAccepts, r.OpenSetTrials, r.OpenSetMaxScore)
	fmt.Fprintf(w, "closed set:  rank-1 %.3f over %d probes\n", r.Rank1, r.Rank1Trials)
	fmt.Fprintf(w, "timing:      detect %.1f ms, align+embed %.1f ms (median per image, 1 OpenCV thread)\n", r.DetectMsMedian, r.EmbedMsMedian)
	fmt.Fprintln(w, "threshold    FAR      FRR   open-set FA")
	for _, s := range r.Sweep {
		fmt.Fprintf(w, "  %.2f    %.4f   %.4f   %d\n", s.Threshold, s.FAR, s.FRR, s.OpenSetFalseAccepts)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

package visionconfig

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

func TestMain(m *testing.M) {
	if os.Getenv("OPENCV_LOG_LEVEL") == "" {
		os.Setenv("OPENCV_LOG_LEVEL", "ERROR")
	}
	os.Exit(m.Run())
}

// TestOptionsMapTheSection: every [recognition] key reaches the pipeline.
func TestOptionsMapTheSection(t *testing.T) {
	r := config.Recognition{Model: "sface", DetectScore: 0.8, DetectMaxSide: 800, MinFacePixels: 70, MinSharpness: 40, MaxYawRatio: 0.4,
		CandidateMaxSide: 300, CandidateScore: 0.5, ConfirmMaxSide: 200}
	want := vision.Options{ModelsDir: "/m", Model: "sface", DetectScore: 0.8, DetectMaxSide: 800, MinFacePixels: 70, MinSharpness: 40, MaxYawRatio: 0.4,
		CandidateMaxSide: 300, CandidateScore: 0.5, ConfirmMaxSide: 200}
	if got := Options(r, "/m"); got != want {
		t.Errorf("Options = %+v, want %+v", got, want)
	}
}

// TestEvaluateFaceSet runs the evaluation protocol (docs/recognition.md) on ../shared/faces with
// the shipped defaults and checks issue 3's acceptance figures.
func TestEvaluateFaceSet(t *testing.T) {
	cfg := config.Default()
	o := Options(cfg.Recognition, testenv.ModelsDir(t))
	rep, err := vision.Evaluate(context.Background(), testenv.FacesDir(t), o, cfg.Recognition.Threshold)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%s", b)
	if rep.Images != 53 || rep.Identities != 11 || rep.NofaceImages != 10 {
		t.Errorf("dataset: %d images / %d identities / %d noface, want 53 / 11 / 10", rep.Images, rep.Identities, rep.NofaceImages)
	}
	if rep.DetectRate < 0.98 {
		t.Errorf("detect_rate %.3f < 0.98 (missed %v)", rep.DetectRate, rep.Missed)
	}
	if rep.NofaceFalseDetections != 0 {
		t.Errorf("noface false detections: %v", rep.NofaceDetected)
	}
	if rep.OpenSetFalseAccepts != 0 {
		t.Errorf("open-set false accepts %d at threshold %.3f (max score %.3f)", rep.OpenSetFalseAccepts, rep.Threshold, rep.OpenSetMaxScore)
	}
	if rep.FRR > 0.05 {
		t.Errorf("frr %.3f > 0.05", rep.FRR)
	}
	if rep.Rank1 < 0.98 {
		t.Errorf("rank1 %.3f < 0.98", rep.Rank1)
	}
	if rep.QualityRejected != 0 {
		t.Errorf("the default quality gates reject identity images: %v", rep.QualityFailures)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
}

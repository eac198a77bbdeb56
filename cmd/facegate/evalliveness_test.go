package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// TestEvalLivenessJSON runs facegate eval -liveness -json on a small tree
// taken from the liveness set and checks the contract's keys and the counts.
func TestEvalLivenessJSON(t *testing.T) {
	tree := t.TempDir()
	link := func(species, file string) {
		d := filepath.Join(tree, species)
		os.MkdirAll(d, 0o755)
		if err := os.Symlink(testenv.LivenessImage(t, species, file), filepath.Join(d, file)); err != nil {
			t.Fatal(err)
		}
	}
	link("live", "nuaa_0002_0002_01_00_01_116.jpg")
	link("live", "nuaa_0003_0003_01_00_01_109.jpg")
	link("live", "pf_14734_person.jpg")
	link("print", "nuaa_0001_0001_00_04_03_163.jpg")
	link("print", "nuaa_0007_0007_01_04_03_159.jpg")
	link("replay", "pf_fake2.jpg")
	link("replay", "pf_14767_person.jpg") // a small phone screen YuNet misses at 0.9
	os.WriteFile(filepath.Join(tree, "print", "Thumbs.db"), []byte("not an image"), 0o644)

	out, errOut, err := visionRun(t, "eval", "-liveness", tree, "-models", testenv.ModelsDir(t), "-json")
	if err != nil {
		t.Fatalf("eval -liveness: %v\n%s", err, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval -liveness -json output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range strings.Fields("apcer bpcer eer threshold attacks bona_fide no_face liveness_ms_median model") {
		if _, ok := rep[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	want := map[string]any{"model": "silent-face", "threshold": 0.5, "bona_fide": 3.0, "bpcer": 0.0,
		"apcer":   map[string]any{"print": 0.0, "replay": 0.0},
		"attacks": map[string]any{"print": 2.0, "replay": 1.0},
		"no_face": map[string]any{"live": 0.0, "print": 0.0, "replay": 1.0}}
	for k, v := range want {
		if g, _ := json.Marshal(rep[k]); string(g) != mustJSON(t, v) {
			t.Errorf("%s = %s, want %s", k, g, mustJSON(t, v))
		}
	}
	if ms, _ := rep["liveness_ms_median"].(float64); ms <= 0 {
		t.Errorf("liveness_ms_median %v", rep["liveness_ms_median"])
	}

	// Human output with another model and threshold.
	out, _, err = visionRun(t, "eval", "-liveness", tree, "-models", testenv.ModelsDir(t), "-liveness-model", "minifasnet-v2", "-liveness-threshold", "0.3")
	if err != nil || !strings.Contains(out, "liveness model minifasnet-v2, threshold 0.300") ||
		!strings.Contains(out, "APCER print  0.00%  (0 of 2 accepted as live)") || !strings.Contains(out, "replay/       2 images,   1 without a usable face") {
		t.Errorf("eval -liveness text output (%v):\n%s", err, out)
	}
	if _, _, err := visionRun(t, "eval", "-liveness", tree, "-dataset", tree); exitCode(err) != 2 {
		t.Errorf("eval with both -liveness and -dataset: %v, want a usage error", err)
	}
	os.RemoveAll(filepath.Join(tree, "live"))
	if _, _, err := visionRun(t, "eval", "-liveness", tree, "-models", testenv.ModelsDir(t)); err == nil || !strings.Contains(err.Error(), "live/") {
		t.Errorf("eval -liveness without live/: %v, want an error naming live/", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLivenessModelNamesAgree: the config accepts exactly the liveness
// profiles vision knows, and the default is one of them.
func TestLivenessModelNamesAgree(t *testing.T) {
	if !slices.Equal(config.LivenessModels, vision.LivenessProfileIDs()) {
		t.Errorf("config.LivenessModels %v, vision profiles %v", config.LivenessModels, vision.LivenessProfileIDs())
	}
	if d := config.Default().Liveness.Model; d != vision.DefaultLivenessModel {
		t.Errorf("config default liveness model %q, vision default %q", d, vision.DefaultLivenessModel)
	}
	p, err := vision.LookupLivenessProfile(vision.DefaultLivenessModel)
	if err != nil || p.NonCommercial || p.Threshold != config.Default().Liveness.Threshold {
		t.Errorf("default profile %+v (%v): must be commercial-use and share the config's threshold", p, err)
	}
}

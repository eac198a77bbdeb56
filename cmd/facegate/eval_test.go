package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/testenv"
)

// TestEvalJSON runs facegate eval -json on a small labelled tree built from
// the face set and checks the contract's keys and the counts.
func TestEvalJSON(t *testing.T) {
	tree := t.TempDir()
	link := func(dst, folder, file string) {
		d := filepath.Join(tree, dst)
		os.MkdirAll(d, 0o755)
		if err := os.Symlink(testenv.Face(t, folder, file), filepath.Join(d, file)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"img1.jpg", "img2.jpg", "img4.jpg"} {
		link("alice", "df01", f)
	}
	link("amy", "bbt_amy", "amy1.png")
	link("amy", "bbt_amy", "amy2.png")
	link("_noface", "_noface", "fruits.jpg")
	link("_noface", "_noface", "baboon.jpg")
	link("_other", "_multiface", "couple.jpg") // ignored
	out, errOut, err := visionRun(t, "eval", "-dataset", tree, "-models", testenv.ModelsDir(t), "-json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval -json output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range strings.Fields(`images identities detected detect_rate noface_images noface_false_detections threshold
		eer far frr open_set_trials open_set_false_accepts rank1 detect_ms_median embed_ms_median model`) {
		if _, ok := rep[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	want := map[string]any{"images": 5.0, "identities": 2.0, "detected": 5.0, "noface_images": 2.0,
		"noface_false_detections": 0.0, "open_set_trials": 5.0, "open_set_false_accepts": 0.0, "rank1": 1.0,
		"model": "fr512", "threshold": 0.48, "far": 0.0}
	for k, v := range want {
		if rep[k] != v {
			t.Errorf("%s = %v, want %v", k, rep[k], v)
		}
	}
	if ms, _ := rep["detect_ms_median"].(float64); ms <= 0 {
		t.Errorf("detect_ms_median %v", rep["detect_ms_median"])
	}

	// Human output and a threshold override.
	out, _, err = visionRun(t, "eval", "-dataset", tree, "-models", testenv.ModelsDir(t), "-threshold", "0.99")
	if err != nil || !strings.Contains(out, "threshold 0.990") || !strings.Contains(out, "5/5 identity images") {
		t.Errorf("eval text output (%v):\n%s", err, out)
	}
	if _, _, err := visionRun(t, "eval"); exitCode(err) != 2 {
		t.Errorf("eval without -dataset: %v, want a usage error", err)
	}
	if _, _, err := visionRun(t, "eval", "-dataset", tree, "-models", t.TempDir()); err == nil || !strings.Contains(err.Error(), "yunet") {
		t.Errorf("eval with an empty models dir: %v, want an error naming the model file", err)
	}
}

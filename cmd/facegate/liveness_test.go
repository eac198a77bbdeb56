package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// TestMissingLivenessModelIsAStartupError: with liveness enabled (the
// default) and its model file absent, the daemon does not start, and says
// which file and which keys; with liveness.enabled = false it starts.
func TestMissingLivenessModelIsAStartupError(t *testing.T) {
	bin := facegateBinary(t)
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	os.MkdirAll(models, 0o755)
	for _, f := range []string{vision.DetectorFile, "fr_feature.onnx", "MiniFASNetV2.onnx"} { // MiniFASNetV1SE.onnx missing
		if err := os.Symlink(filepath.Join(testenv.ModelsDir(t), f), filepath.Join(models, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := minimalConfig(t, dir, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "models_dir = "+quote(testenv.ModelsDir(t)), "models_dir = "+quote(models), 1)), 0o600)
	out, err := exec.Command(bin, "run", "-config", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started without its liveness model:\n%s", out)
	}
	for _, want := range []string{"liveness.model", `"silent-face"`, filepath.Join(models, "MiniFASNetV1SE.onnx"), cfg, "liveness.enabled = false"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("start-up error does not name %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "facegate running") {
		t.Errorf("the daemon ran before failing:\n%s", out)
	}
}

func quote(s string) string { return `"` + s + `"` }

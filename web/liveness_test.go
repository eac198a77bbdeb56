package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// TestCaptureRefusesAPresentationAttack: "Capture from camera" enrolment
// refuses a camera frame whose face is judged a printed photo or a phone
// replay, and hands over a live face.
func TestCaptureRefusesAPresentationAttack(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ModelsDir = testenv.ModelsDir(t)
	db, err := facedb.Open(context.Background(), cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	live, err := vision.OpenLiveness(vision.LivenessOptions{ModelsDir: cfg.ModelsDir, Model: cfg.Liveness.Model, Threshold: cfg.Liveness.Threshold})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	judge := vision.ImageJudge{Pipeline: testPipeline(t, cfg), Liveness: live}
	for _, c := range []struct {
		path string
		code int
	}{
		{testenv.LivenessImage(t, "print", "nuaa_0002_0002_01_02_03_53.jpg"), http.StatusUnprocessableEntity},
		{testenv.LivenessImage(t, "replay", "pf_fake2.jpg"), http.StatusUnprocessableEntity},
		{testenv.LivenessImage(t, "live", "nuaa_0002_0002_01_00_01_116.jpg"), http.StatusOK},
		{testenv.Face(t, "df01", "img1.jpg"), http.StatusOK},
	} {
		jpg, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(cfg, Deps{DB: db, Frames: &imageFrames{jpg: jpg}, Liveness: judge})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.apiCapture(rec, httptest.NewRequest(http.MethodGet, "/api/capture", nil))
		if rec.Code != c.code {
			t.Errorf("%s: capture answered %d %s, want %d", c.path, rec.Code, rec.Body.String(), c.code)
		}
		if c.code != http.StatusOK && !strings.Contains(rec.Body.String(), "photo or a screen") {
			t.Errorf("%s: refusal %q does not say why", c.path, rec.Body.String())
		}
		if c.code == http.StatusOK && rec.Header().Get("Content-Type") != "image/jpeg" {
			t.Errorf("%s: content type %q", c.path, rec.Header().Get("Content-Type"))
		}
	}
}

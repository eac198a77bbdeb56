package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// TestMissingLivenessModelIsAStartupError: with liveness enabled (the
// default) and its model file absent, the daemon does not start, and says
// which file and which keys.
func TestMissingLivenessModelIsAStartupError(t *testing.T) {
	bin := testenv.FacegateBinary(t)
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

// TestPrintedPhotoAlarmOnMQTTAndInEvents runs the daemon with a camera that
// shows a printed photo of an enrolled person: no grant, a spoof_detected
// alarm on P/alarms with the person, the scores and the frames, and the same
// alarm with its snapshot in facegate events -json.
func TestPrintedPhotoAlarmOnMQTTAndInEvents(t *testing.T) {
	b := testenv.StartBroker(t)
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	os.MkdirAll(frames, 0o755)
	for i, f := range []string{"nuaa_0002_0002_01_02_03_53.jpg", "nuaa_0002_0002_01_08_03_325.jpg", "nuaa_0002_0002_01_08_03_45.jpg"} {
		if err := os.Symlink(testenv.LivenessImage(t, "print", f), filepath.Join(frames, fmt.Sprintf("%04d.jpg", i))); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`device_id = "spoof-door"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 4
[mqtt]
broker = %q
[web]
listen = ""
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, b.URL))
	if out, errOut, err := visionRun(t, "enrol", "-config", cfg, "-name", "Nadia",
		testenv.LivenessImage(t, "live", "nuaa_0002_0002_01_00_01_69.jpg"), testenv.LivenessImage(t, "live", "nuaa_0002_0002_01_00_01_92.jpg")); err != nil {
		t.Fatalf("enrol: %v\n%s%s", err, out, errOut)
	}

	alarms := make(chan map[string]any, 16)
	events := make(chan string, 16)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("watcher"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	sub.Subscribe("facegate/spoof-door/alarms", 1, func(_ mqtt.Client, m mqtt.Message) {
		var a map[string]any
		if json.Unmarshal(m.Payload(), &a) == nil {
			alarms <- a
		}
	}).WaitTimeout(10 * time.Second)
	sub.Subscribe("facegate/spoof-door/events", 1, func(_ mqtt.Client, m mqtt.Message) { events <- string(m.Payload()) }).WaitTimeout(10 * time.Second)

	out := &testenv.SyncBuffer{}
	cmd := exec.Command(testenv.FacegateBinary(t), "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var alarm map[string]any
	timeout := time.After(90 * time.Second)
	for alarm == nil {
		select {
		case a := <-alarms:
			if a["type"] == "spoof_detected" {
				alarm = a
			}
		case e := <-events:
			if strings.Contains(e, "access_granted") {
				t.Fatalf("a printed photo was granted: %s", e)
			}
		case <-timeout:
			t.Fatalf("no spoof_detected alarm on MQTT within 90 s:\n%s", out.String())
		}
	}
	if alarm["name"] != "Nadia" || alarm["person_id"] == nil || alarm["score"].(float64) < 0.48 {
		t.Errorf("alarm %v: want Nadia with her recognition score", alarm)
	}
	if lv, ok := alarm["liveness"].(float64); !ok || lv >= 0.5 {
		t.Errorf("alarm liveness %v, want a score below the threshold", alarm["liveness"])
	}
	if ft, _ := alarm["frame_times"].([]any); len(ft) != 3 {
		t.Errorf("alarm frame_times %v, want the 3 winning frames", alarm["frame_times"])
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, out.String())
	}

	listed, errOut, err := visionRun(t, "events", "-config", cfg, "-json")
	if err != nil {
		t.Fatalf("events: %v\n%s", err, errOut)
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(listed))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("events -json line %q: %v", sc.Text(), err)
		}
		switch r["type"] {
		case "access_granted":
			t.Errorf("facegate events lists a grant: %v", r)
		case "spoof_detected":
			if r["id"] == alarm["id"] {
				found = true
				if snap, _ := r["snapshot"].(string); snap == "" {
					t.Errorf("listed alarm has no snapshot: %v", r)
				} else if _, err := os.Stat(snap); err != nil {
					t.Errorf("snapshot: %v", err)
				}
			}
		}
	}
	if !found {
		t.Errorf("the MQTT alarm %v is not in facegate events -json:\n%s", alarm["id"], listed)
	}
}

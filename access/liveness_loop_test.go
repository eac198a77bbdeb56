package access

import (
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/internal/matleak"
)

// Liveness-set images as fixture paths ("folder/file" under ../shared/faces).
func livenessFrames(species string, files ...string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = "../liveness/" + species + "/" + f
	}
	return out
}

var (
	nadiaEnrol = livenessFrames("live", "nuaa_0002_0002_01_00_01_69.jpg", "nuaa_0002_0002_01_00_01_92.jpg") // the frames with no one behind
	nadiaLive  = livenessFrames("live", "nuaa_0002_0002_01_00_01_116.jpg", "nuaa_0002_0002_01_00_01_200.jpg", "nuaa_0002_0002_01_00_01_441.jpg")
	nadiaPrint = livenessFrames("print", "nuaa_0002_0002_01_02_03_53.jpg", "nuaa_0002_0002_01_08_03_325.jpg", "nuaa_0002_0002_01_08_03_45.jpg")
	patEnrol   = livenessFrames("live", "gh-Apfol_0.png", "gh-Apfol_107.png", "gh-Apfol_128.png")
	patLive    = livenessFrames("live", "gh-Apfol_149.png", "gh-Apfol_64.png")
	patReplay  = livenessFrames("replay", "gh-Apfol_246.png", "gh-Apfol_369.png", "gh-Apfol_430.png")
)

// TestAttacksRefusedAndAlarmed: a printed photo and a phone replay of an
// enrolled person are recognised as that person but never open the door;
// each raises one spoof_detected alarm per cooldown with a snapshot, the
// person, the recognition score, the liveness score and the frames. The
// same people, live, are granted.
func TestAttacksRefusedAndAlarmed(t *testing.T) {
	matleak.Check(t)
	for _, c := range []struct {
		name         string
		enrol        []string
		attack, live []string
	}{
		{"Nadia", nadiaEnrol, nadiaPrint, nadiaLive},
		{"Pat", patEnrol, patReplay, patLive},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *config.Config) { cfg.Access.CooldownSeconds = 10 }, map[string][]string{c.name: c.enrol, "Alice": df01Enrol})
			// The attack is held up for 15 s at 2 fps: one alarm in the first cooldown, one after it.
			f.feed(t, t0, 2, 30, c.attack)
			if g := f.events(t, "access_granted"); len(g) != 0 {
				t.Fatalf("the attack was granted: %+v", g)
			}
			alarms := f.events(t, event.SpoofDetected)
			if len(alarms) != 2 {
				t.Fatalf("%d spoof_detected alarms in 15 s with a 10 s cooldown, want 2", len(alarms))
			}
			a := alarms[len(alarms)-1] // the first one; Events is newest first
			if a.Kind != "alarm" || a.PersonID != f.people[c.name] || a.Name != c.name || a.Score < f.cfg.Recognition.Threshold || a.Source != event.SourceFace {
				t.Errorf("alarm %+v: want an alarm naming %s with its recognition score", a, c.name)
			}
			lv, _ := a.Detail["liveness"].(float64)
			if lv >= f.cfg.Liveness.Threshold || a.Detail["spoof_frames"] != 3.0 {
				t.Errorf("alarm liveness %v, spoof_frames %v: want a score below %.2f in all 3 frames", a.Detail["liveness"], a.Detail["spoof_frames"], f.cfg.Liveness.Threshold)
			}
			if ft, _ := a.Detail["frame_times"].([]any); len(ft) != 3 {
				t.Errorf("frame_times %v: want the 3 winning frames", a.Detail["frame_times"])
			}
			if st, err := os.Stat(a.Snapshot); err != nil || st.Size() == 0 {
				t.Errorf("alarm snapshot %q: %v", a.Snapshot, err)
			}
			var m dto.Metric
			if err := f.loop.decisions.WithLabelValues(event.SpoofDetected).Write(&m); err != nil || m.GetCounter().GetValue() != 2 {
				n := m.GetCounter().GetValue()
				t.Errorf("metric facegate_access_decisions_total{type=spoof_detected} = %v, want 2", n)
			}
			if f.loop.stats.spoofFrames.Load() < 3 {
				t.Errorf("facegate_liveness_spoof_frames_total %d", f.loop.stats.spoofFrames.Load())
			}

			// The real person, after the cooldown, is let in.
			f.feed(t, t0.Add(time.Minute), 2, 6, c.live)
			g := f.events(t, "access_granted")
			if len(g) != 1 || g[0].PersonID != f.people[c.name] {
				t.Fatalf("live %s: grants %+v, want one", c.name, g)
			}
			if lv, _ := g[0].Detail["liveness"].(float64); lv < f.cfg.Liveness.Threshold {
				t.Errorf("grant liveness %v below the threshold", g[0].Detail["liveness"])
			}
			if n := f.faceUnlocks(t); n != 1 {
				t.Errorf("the relay was unlocked %d times, want once (the live person)", n)
			}
		})
	}
}

// TestLivenessOffGrantsAPrint: with liveness.enabled = false the check is
// not run (the printed photo opens the door, as before this feature).
func TestLivenessOffGrantsAPrint(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, func(cfg *config.Config) { cfg.Liveness.Enabled = false }, map[string][]string{"Nadia": nadiaEnrol})
	f.feed(t, t0, 2, 6, nadiaPrint)
	if g := f.events(t, "access_granted"); len(g) != 1 {
		t.Fatalf("grants %+v: without the check a print is recognised and granted", g)
	}
	if n := len(f.events(t, event.SpoofDetected)); n != 0 {
		t.Errorf("%d spoof alarms with the check off", n)
	}
}

package access

import (
	"fmt"
	"testing"
	"time"
)

// liveObs: "L" alice wins and is judged live (0.9), "S" alice wins and is
// judged an attack (0.1); other codes as obs.
func liveObs(code byte, at time.Time) Observation {
	switch code {
	case 'L':
		o := obs('A', at)
		o.LivenessChecked, o.Liveness = true, 0.9
		return o
	case 'S':
		o := obs('A', at)
		o.LivenessChecked, o.Liveness, o.Spoof = true, 0.1, true
		return o
	}
	return obs(code, at)
}

func runLive(d *Decider, frames string, step time.Duration) []string {
	var out []string
	for i := range len(frames) {
		if dec, ok := d.Observe(liveObs(frames[i], t0.Add(time.Duration(i)*step))); ok {
			out = append(out, fmt.Sprintf("%d:%s:%s:%d/%d", i, dec.Verdict, dec.Name, dec.SpoofFrames, len(dec.LivenessScores)))
		}
	}
	return out
}

func TestDeciderLiveness(t *testing.T) {
	for _, tc := range []struct {
		name, frames string
		maxSpoof     int
		step         time.Duration
		want         string
	}{
		{"live winning frames grant", "LLL", 0, 100 * time.Millisecond, "[2:access_granted:alice:0/3]"},
		{"an attack gives no grant but one alarm", "SSS", 0, 100 * time.Millisecond, "[2:spoof_detected:alice:3/3]"},
		{"one alarm per cooldown while the attack goes on", "SSSSSSSSSSSS", 0, 100 * time.Millisecond, "[2:spoof_detected:alice:3/3]"},
		{"after the cooldown the attack alarms again", "SSSSSS", 0, 4 * time.Second, "[2:spoof_detected:alice:3/3 5:spoof_detected:alice:3/3]"},
		{"one attack frame among the winners refuses by default", "LLS", 0, 100 * time.Millisecond, "[2:spoof_detected:alice:1/3]"},
		{"max_spoof_frames 1 tolerates one", "LLS", 1, 100 * time.Millisecond, "[2:access_granted:alice:1/3]"},
		{"the live person right after an attack is judged on their own frames", "SSSLLL", 0, 100 * time.Millisecond,
			"[2:spoof_detected:alice:3/3 5:access_granted:alice:0/3]"},
		{"an attack right after the grant (inside its cooldown) still alarms", "LLLSSS", 0, 100 * time.Millisecond,
			"[2:access_granted:alice:0/3 3:spoof_detected:alice:1/3]"},
		{"frames without a liveness check (check off) grant as before", "AAA", 0, 100 * time.Millisecond, "[2:access_granted:alice:0/0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.MaxSpoofFrames = tc.maxSpoof
			got := fmt.Sprint(runLive(NewDecider(p), tc.frames, tc.step))
			if got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.frames, got, tc.want)
			}
		})
	}
}

func TestDeciderSpoofDecisionCarriesTheFrames(t *testing.T) {
	d := NewDecider(testPolicy())
	var dec Decision
	for i, c := range []byte("LSS") {
		dec, _ = d.Observe(liveObs(c, t0.Add(time.Duration(i)*time.Second)))
	}
	if dec.Verdict != Spoof || dec.PersonID != 1 || dec.Score != 0.8 || dec.Liveness != 0.1 || dec.SpoofFrames != 2 {
		t.Fatalf("decision %+v", dec)
	}
	if len(dec.FrameTimes) != 3 || !dec.FrameTimes[0].Equal(t0) || !dec.FrameTimes[2].Equal(t0.Add(2*time.Second)) {
		t.Errorf("frame times %v, want the three winning frames oldest first", dec.FrameTimes)
	}
	if fmt.Sprint(dec.LivenessScores) != "[0.9 0.1 0.1]" {
		t.Errorf("liveness scores %v", dec.LivenessScores)
	}
	if dec.Verdict.String() != "spoof_detected" {
		t.Errorf("verdict %q", dec.Verdict)
	}
}

package access

import (
	"fmt"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{Threshold: 0.45, Margin: 0.05, Window: 5, Required: 3, Cooldown: 10 * time.Second,
		StrangerFrames: 3, StrangerEvery: 60 * time.Second}
}

// frame codes: "A" alice wins (0.8), "B" bob wins, "a" alice below threshold,
// "~" alice above threshold without margin, "?" unknown face, "." no face,
// "D" dave (disabled) wins.
func obs(code byte, at time.Time) Observation {
	switch code {
	case 'A':
		return Observation{Time: at, Face: true, PersonID: 1, Name: "alice", Score: 0.8, SecondScore: 0.2, Active: true}
	case 'B':
		return Observation{Time: at, Face: true, PersonID: 2, Name: "bob", Score: 0.7, SecondScore: 0.1, Active: true}
	case 'a':
		return Observation{Time: at, Face: true, PersonID: 1, Name: "alice", Score: 0.40, SecondScore: 0.1, Active: true}
	case '~':
		return Observation{Time: at, Face: true, PersonID: 1, Name: "alice", Score: 0.50, SecondScore: 0.48, Active: true}
	case '?':
		return Observation{Time: at, Face: true, PersonID: 2, Name: "bob", Score: 0.2, SecondScore: 0.1, Active: true}
	case 'D':
		return Observation{Time: at, Face: true, PersonID: 4, Name: "dave", Score: 0.9, SecondScore: 0.1, Active: false, DenyReason: "disabled"}
	case '.':
		return Observation{Time: at}
	}
	panic("bad code " + string(code))
}

// run feeds frames 100 ms apart and returns "i:verdict:person" for each decision.
func run(d *Decider, frames string, start time.Time, step time.Duration) []string {
	var out []string
	for i := range len(frames) {
		if dec, ok := d.Observe(obs(frames[i], start.Add(time.Duration(i)*step))); ok {
			out = append(out, fmt.Sprintf("%d:%s:%s", i, dec.Verdict, dec.Name))
		}
	}
	return out
}

func TestDeciderScenarios(t *testing.T) {
	for _, tc := range []struct {
		name, frames string
		want         string
	}{
		{"K of N grants on the Kth win", "AAA", "[2:access_granted:alice]"},
		{"wins spread inside the window", "A.A.A", "[4:access_granted:alice]"},
		{"wins spread wider than the window never grant", "A..A..A..A", "[]"},
		{"below threshold never grants (it is a stranger)", "aaaaaaaaaa", "[2:unknown_face:]"},
		{"no margin over the second identity never grants", "~~~~~~~~~~", "[]"},
		{"two people alternating: neither reaches K in 4", "ABAB", "[]"},
		{"two people alternating: the first reaches K of N", "ABABAB", "[4:access_granted:alice 5:access_granted:bob]"},
		{"one grant per cooldown while standing there", "AAAAAAAAAAAAAAAAAAAA", "[2:access_granted:alice]"},
		{"different people are cooled down separately", "AAABBB", "[2:access_granted:alice 5:access_granted:bob]"},
		{"disabled person is denied once", "DDDDDDDD", "[2:access_denied:dave]"},
		{"stranger alarm after 3 consecutive unknown frames, once", "??????????", "[2:unknown_face:]"},
		{"no-face frames break the stranger streak", "??.??.??.", "[]"},
		{"an empty scene never triggers", "..........", "[]"},
		{"a below-threshold frame of a known person counts as unknown", "aaa", "[2:unknown_face:]"},
		{"known person after a stranger is still granted", "???AAA", "[2:unknown_face: 5:access_granted:alice]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(run(NewDecider(testPolicy()), tc.frames, t0, 100*time.Millisecond))
			if got != tc.want {
				t.Fatalf("frames %q: decisions %s, want %s", tc.frames, got, tc.want)
			}
		})
	}
}

func TestDeciderCooldownExpires(t *testing.T) {
	d := NewDecider(testPolicy())
	// alice stays in view for 25 s at 10 fps: granted at 0.2 s, 10.2 s and 20.2 s
	frames := make([]byte, 250)
	for i := range frames {
		frames[i] = 'A'
	}
	got := run(d, string(frames), t0, 100*time.Millisecond)
	want := "[2:access_granted:alice 102:access_granted:alice 202:access_granted:alice]"
	if fmt.Sprint(got) != want {
		t.Fatalf("decisions %v, want %s", got, want)
	}
}

func TestDeciderStrangerRateLimit(t *testing.T) {
	d := NewDecider(testPolicy())
	// a stranger loiters for 150 s at 2 fps: alarms at 1 s, 61 s and 121 s (every 60 s)
	frames := make([]byte, 300)
	for i := range frames {
		frames[i] = '?'
	}
	got := run(d, string(frames), t0, 500*time.Millisecond)
	want := "[2:unknown_face: 122:unknown_face: 242:unknown_face:]"
	if fmt.Sprint(got) != want {
		t.Fatalf("decisions %v, want %s", got, want)
	}
	// another stranger 10 s after the last alarm waits for the period too
	more := run(d, "?????", t0.Add(131*time.Second), 100*time.Millisecond)
	if len(more) != 0 {
		t.Fatalf("a second stranger inside the alarm period raised %v", more)
	}
}

func TestDeciderScoreAndReason(t *testing.T) {
	d := NewDecider(testPolicy())
	scores := []float64{0.6, 0.9, 0.7}
	var dec Decision
	var ok bool
	for i, s := range scores {
		dec, ok = d.Observe(Observation{Time: t0.Add(time.Duration(i) * time.Second), Face: true, PersonID: 7, Name: "eve",
			Score: s, SecondScore: -1, Active: false, DenyReason: "expired"})
	}
	if !ok || dec.Verdict != Denied || dec.Reason != "expired" || dec.Score != 0.9 || dec.Frames != 3 || dec.PersonID != 7 {
		t.Fatalf("decision %+v (ok %v), want a denial of eve, reason expired, best score 0.9 over 3 frames", dec, ok)
	}
}

func TestPolicyFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Access.WindowFrames, cfg.Access.RequiredFrames, cfg.Access.CooldownSeconds = 7, 4, 2.5
	p := PolicyFrom(cfg)
	if p.Window != 7 || p.Required != 4 || p.Cooldown != 2500*time.Millisecond || p.Threshold != cfg.Recognition.Threshold {
		t.Fatalf("policy %+v does not follow the configuration", p)
	}
	// K=1 of N=1 grants on the first win
	p.Window, p.Required = 1, 1
	if got := run(NewDecider(p), "A", t0, time.Second); len(got) != 1 {
		t.Fatalf("K=1,N=1: %v", got)
	}
}

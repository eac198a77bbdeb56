package access

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// runTracks feeds one frame per step to every track, frames[id] being that
// track's codes (obs; ' ' = the track is not in this frame), and returns
// "frame:track:verdict:person" per decision.
func runTracks(d *TrackDecider, frames map[int]string, start time.Time, step time.Duration) []string {
	var out []string
	n := 0
	var ids []int
	for id, f := range frames {
		n = max(n, len(f))
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i := range n {
		for _, id := range ids {
			f := frames[id]
			if i >= len(f) || f[i] == ' ' {
				continue
			}
			if dec, ok := d.Observe(id, obs(f[i], start.Add(time.Duration(i)*step))); ok {
				out = append(out, fmt.Sprintf("%d:%d:%s:%s", i, id, dec.Verdict, dec.Name))
			}
		}
	}
	return out
}

func TestTrackDeciderScenarios(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames map[int]string
		want   string
	}{
		{"first face frame to grant: the Kth frame of the track", map[int]string{1: "AAA"}, "[2:1:access_granted:alice]"},
		{"a stranger beside alice: alice granted, the stranger alarmed, never granted",
			map[int]string{1: "AAAAAA", 2: "??????"}, "[2:1:access_granted:alice 2:2:unknown_face:]"},
		{"another track's frames do not complete a grant (2 + 1 wins of alice)",
			map[int]string{1: "AA", 2: "  A"}, "[]"},
		{"two people, two grants", map[int]string{1: "AAA", 2: "BBB"}, "[2:1:access_granted:alice 2:2:access_granted:bob]"},
		{"the cooldown is per person over all tracks", map[int]string{1: "AAA", 2: "     AAAA"}, "[2:1:access_granted:alice]"},
		{"one stranger alarm per period over all tracks", map[int]string{1: "???", 2: "???"}, "[2:1:unknown_face:]"},
		{"a stranger's frames do not break alice's window", map[int]string{1: "A A A", 2: "?????"}, "[2:2:unknown_face: 4:1:access_granted:alice]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(runTracks(NewTrackDecider(testPolicy()), tc.frames, t0, 100*time.Millisecond))
			if got != tc.want {
				t.Errorf("decisions %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTrackDeciderCooldownEnds: alice's new track after the cooldown is
// granted again; an ended track's history is forgotten.
func TestTrackDeciderCooldownEnds(t *testing.T) {
	d := NewTrackDecider(testPolicy())
	got := runTracks(d, map[int]string{1: "AAA"}, t0, 100*time.Millisecond)
	d.End(1)
	got = append(got, runTracks(d, map[int]string{1: "A", 2: "AAA"}, t0.Add(11*time.Second), 100*time.Millisecond)...)
	if want := "[2:1:access_granted:alice 2:2:access_granted:alice]"; fmt.Sprint(got) != want {
		t.Errorf("decisions %v, want %s", got, want)
	}
}

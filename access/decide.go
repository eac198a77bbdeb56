package access

import (
	"slices"
	"time"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

// Policy holds the decision thresholds (the [access] section plus the
// recognition threshold and margin).
type Policy struct {
	Threshold      float64       // score needed for a frame to count as a win
	Margin         float64       // best minus second-best identity needed for a win
	Window         int           // N: frames considered
	Required       int           // K: wins of one identity among the last N
	Cooldown       time.Duration // one person is decided at most once per cooldown
	StrangerFrames int           // consecutive unknown frames before the stranger alarm
	StrangerEvery  time.Duration // at most one stranger alarm per this period
	// MaxSpoofFrames is how many of the winning frames may be judged
	// presentation attacks and still grant ([liveness] max_spoof_frames).
	MaxSpoofFrames int
}

// Observation is what one frame showed.
type Observation struct {
	Time time.Time
	// Face is true when a face passed the quality gates and was matched;
	// frames without a usable face count as frames without a win.
	Face bool
	// The best identity (PersonID 0: empty library) and its scores.
	PersonID    int64
	Name        string
	Score       float64
	SecondScore float64
	// Active is whether the best identity may enter at Time (enabled and
	// inside validity); DenyReason says why not.
	Active     bool
	DenyReason string
	// Liveness of the matched face, when it was checked (frames that win
	// with the liveness check on); Spoof is true when it was judged a
	// presentation attack.
	LivenessChecked bool
	Liveness        float64
	Spoof           bool
}

// Verdict is the kind of a decision.
type Verdict int

const (
	Granted  Verdict = iota + 1 // access_granted event
	Denied                      // access_denied event
	Stranger                    // unknown_face alarm
	Spoof                       // spoof_detected alarm: the winning identity was judged a presentation attack
)

// String is the event type the verdict is recorded as.
func (v Verdict) String() string {
	switch v {
	case Granted:
		return event.AccessGranted
	case Denied:
		return event.AccessDenied
	case Stranger:
		return event.UnknownFace
	case Spoof:
		return event.SpoofDetected
	}
	return "none"
}

// Decision is the outcome of a frame that triggered something.
type Decision struct {
	Verdict  Verdict
	Time     time.Time
	PersonID int64 // 0 for strangers
	Name     string
	Score    float64 // best winning score in the window (strangers: best score seen)
	Reason   string  // why a person was denied: facedb.Person.MayEnter's reason
	Frames   int     // wins (or unknown frames) that led to the decision
	// The winning frames' liveness, oldest first, when it was checked:
	// their capture times, scores and how many were judged attacks.
	// Liveness is the lowest score.
	FrameTimes     []time.Time
	LivenessScores []float64
	SpoofFrames    int
	Liveness       float64
}

// Decider applies a Policy to a sequence of observations. It is not safe
// for concurrent use; the zero value is not usable, call NewDecider.
type Decider struct {
	p       Policy
	wins    []int64       // ring of the winning identity per frame (0 = no win)
	scores  []float64     // ring of the winning score
	frames  []Observation // ring of the observations (for their time and liveness)
	pos     int
	filled  int
	last    map[int64]time.Time // last decision per person
	streak  int                 // consecutive unknown-face frames
	streakS float64             // best score during the streak
	alarmAt time.Time           // last stranger alarm
	alarmed bool
	spoofAt map[int64]time.Time // last spoof_detected alarm per identity
}

// NewDecider returns a decider with an empty history.
func NewDecider(p Policy) *Decider {
	if p.Window < 1 {
		p.Window = 1
	}
	if p.Required < 1 {
		p.Required = 1
	}
	if p.StrangerFrames < 1 {
		p.StrangerFrames = 1
	}
	return &Decider{p: p, wins: make([]int64, p.Window), scores: make([]float64, p.Window), frames: make([]Observation, p.Window),
		last: map[int64]time.Time{}, spoofAt: map[int64]time.Time{}}
}

// Policy returns the policy in use.
func (d *Decider) Policy() Policy { return d.p }

// Wins reports whether o counts as a win for its identity.
func (p Policy) Wins(o Observation) bool {
	return o.Face && o.PersonID != 0 && o.Score >= p.Threshold && o.Score-o.SecondScore >= p.Margin
}

// Unknown reports whether o shows a usable face that matches nobody.
func (p Policy) Unknown(o Observation) bool {
	return o.Face && (o.PersonID == 0 || o.Score < p.Threshold)
}

// Observe adds one frame and returns the decision it triggers, if any.
func (d *Decider) Observe(o Observation) (Decision, bool) {
	var win int64
	if d.p.Wins(o) {
		win = o.PersonID
	}
	d.wins[d.pos], d.scores[d.pos], d.frames[d.pos] = win, o.Score, o
	d.pos = (d.pos + 1) % len(d.wins)
	if d.filled < len(d.wins) {
		d.filled++
	}
	d.forget(o.Time)

	if d.p.Unknown(o) {
		d.streak++
		if d.streak == 1 || o.Score > d.streakS {
			d.streakS = o.Score
		}
	} else {
		d.streak = 0
	}

	if win != 0 {
		n, best := 0, 0.0
		for i, id := range d.wins {
			if id == win {
				n++
				best = max(best, d.scores[i])
			}
		}
		if n >= d.p.Required {
			dec := Decision{Verdict: Granted, Time: o.Time, PersonID: win, Name: o.Name, Score: best, Frames: n}
			d.winningFrames(win, &dec)
			if dec.SpoofFrames > d.p.MaxSpoofFrames {
				// No grant. One alarm per identity per cooldown, also while
				// the identity's grant cooldown runs (an attack right after
				// the real person went in); the grant cooldown is left alone,
				// so the real person is not locked out by an attack on them.
				if t, ok := d.spoofAt[win]; ok && o.Time.Sub(t) < d.p.Cooldown {
					return Decision{}, false
				}
				d.spoofAt[win] = o.Time
				dec.Verdict = Spoof
				return dec, true
			}
			if d.cooling(win, o.Time) {
				return Decision{}, false
			}
			d.last[win] = o.Time
			if !o.Active {
				dec.Verdict, dec.Reason = Denied, o.DenyReason
				if dec.Reason == "" {
					dec.Reason = facedb.DenyDisabled
				}
			}
			return dec, true
		}
		return Decision{}, false
	}

	if d.streak >= d.p.StrangerFrames {
		if d.alarmed && o.Time.Sub(d.alarmAt) < d.p.StrangerEvery {
			return Decision{}, false // rate-limited; keep the streak for when the period ends
		}
		dec := Decision{Verdict: Stranger, Time: o.Time, Score: d.streakS, Frames: d.streak}
		d.alarmed, d.alarmAt = true, o.Time
		d.streak = 0
		return dec, true
	}
	return Decision{}, false
}

// winningFrames fills dec's per-frame liveness from the newest Required
// frames won by id in the window (the frames the decision rests on), oldest
// first. Older wins do not count: a live person right after an attack on
// them is judged on their own frames.
func (d *Decider) winningFrames(id int64, dec *Decision) {
	n := len(d.wins)
	var picked []Observation
	for k := 1; k <= n && len(picked) < d.p.Required; k++ {
		i := (d.pos - k + n) % n // newest first
		if d.wins[i] == id {
			picked = append(picked, d.frames[i])
		}
	}
	slices.Reverse(picked)
	for _, f := range picked {
		if !f.LivenessChecked {
			continue
		}
		if len(dec.LivenessScores) == 0 || f.Liveness < dec.Liveness {
			dec.Liveness = f.Liveness
		}
		dec.FrameTimes = append(dec.FrameTimes, f.Time)
		dec.LivenessScores = append(dec.LivenessScores, f.Liveness)
		if f.Spoof {
			dec.SpoofFrames++
		}
	}
}

func (d *Decider) cooling(id int64, now time.Time) bool {
	t, ok := d.last[id]
	return ok && now.Sub(t) < d.p.Cooldown
}

// forget drops cooldown entries that have expired, so the map stays small.
func (d *Decider) forget(now time.Time) {
	if len(d.last) < 64 && len(d.spoofAt) < 64 {
		return
	}
	for id, t := range d.last {
		if now.Sub(t) >= d.p.Cooldown {
			delete(d.last, id)
		}
	}
	for id, t := range d.spoofAt {
		if now.Sub(t) >= d.p.Cooldown {
			delete(d.spoofAt, id)
		}
	}
}

package access

import (
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
}

// Verdict is the kind of a decision.
type Verdict int

const (
	Granted  Verdict = iota + 1 // access_granted event
	Denied                      // access_denied event
	Stranger                    // unknown_face alarm
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
}

// Decider applies a Policy to a sequence of observations. It is not safe
// for concurrent use; the zero value is not usable, call NewDecider.
type Decider struct {
	p       Policy
	wins    []int64   // ring of the winning identity per frame (0 = no win)
	scores  []float64 // ring of the winning score
	pos     int
	filled  int
	last    map[int64]time.Time // last decision per person
	streak  int                 // consecutive unknown-face frames
	streakS float64             // best score during the streak
	alarmAt time.Time           // last stranger alarm
	alarmed bool
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
	return &Decider{p: p, wins: make([]int64, p.Window), scores: make([]float64, p.Window), last: map[int64]time.Time{}}
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
	d.wins[d.pos], d.scores[d.pos] = win, o.Score
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
		if n >= d.p.Required && !d.cooling(win, o.Time) {
			d.last[win] = o.Time
			dec := Decision{Verdict: Granted, Time: o.Time, PersonID: win, Name: o.Name, Score: best, Frames: n}
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

func (d *Decider) cooling(id int64, now time.Time) bool {
	t, ok := d.last[id]
	return ok && now.Sub(t) < d.p.Cooldown
}

// forget drops cooldown entries that have expired, so the map stays small.
func (d *Decider) forget(now time.Time) {
	if len(d.last) < 64 {
		return
	}
	for id, t := range d.last {
		if now.Sub(t) >= d.p.Cooldown {
			delete(d.last, id)
		}
	}
}

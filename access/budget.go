package access

import (
	"context"
	"fmt"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/motion"
	"github.com/facegate/facegate/track"
	"github.com/facegate/facegate/vision"
)

// The frame budget (issue 15): the motion gate runs before analysis, so a
// static scene costs an 80x60 grey copy instead of a detection; the face
// tracker runs between analysis and decision, so a face already recognised
// is not embedded on every frame and each person in view is decided on
// their own frames (TrackDecider).

// Budget configures the frame budget.
type Budget struct {
	MotionGate bool           // skip detection while the scene is static
	Motion     motion.Options // the gate's settings
	Tracking   bool           // decide per face track, embed only when needed
	Track      track.Options  // the tracker's settings
}

// FaceAnalyzer is what tracking needs from the vision pipeline
// (*vision.Pipeline): detection and the per-face half of Analyze.
type FaceAnalyzer interface {
	Detect(img gocv.Mat) ([]vision.Face, error)
	AnalyzeFace(img gocv.Mat, f vision.Face) (vision.Analysis, error)
}

// staticLiveEvery: while detection is skipped the live view is refreshed at
// most this often (encoding a JPEG costs more than the gate); liveEvery:
// the same for analysed frames without a decision (a decision's frame is
// always encoded: it is the snapshot).
const (
	staticLiveEvery = time.Second
	liveEvery       = 200 * time.Millisecond
)

// budget is the loop's frame-budget state (nil parts are off).
type budget struct {
	gate     *motion.Gate
	tracker  *track.Tracker
	dec      *TrackDecider
	faces    FaceAnalyzer
	liveAt   time.Time // when the live view was last encoded
	analysed bool      // the last frame ran detection
}

// trackState is the loop's per-track state (track.Track.State).
type trackState struct {
	decidedAt time.Time
	verdict   Verdict
	obs       Observation // the newest observation from an embedding
}

func newBudget(o Budget, p Analyzer, pol Policy) (*budget, error) {
	b := &budget{}
	if o.MotionGate {
		b.gate = motion.New(o.Motion)
	}
	if o.Tracking {
		fa, ok := p.(FaceAnalyzer)
		if !ok {
			return nil, fmt.Errorf("access: tracking needs a pipeline with Detect and AnalyzeFace, not %T", p)
		}
		b.faces, b.tracker, b.dec = fa, track.New(o.Track), NewTrackDecider(pol)
	}
	return b, nil
}

// skip runs the motion gate: true when the frame needs no detection. While a
// track is still undecided every frame is analysed.
func (l *Loop) skip(m gocv.Mat, at time.Time) bool {
	b := l.budget
	if b == nil || b.gate == nil {
		return false
	}
	r, err := b.gate.Check(m, at)
	if err != nil {
		l.log.Debug("access: motion gate", "err", err)
		return false
	}
	if r.Detect {
		return false
	}
	if b.tracker != nil {
		for _, t := range b.tracker.Tracks() {
			if !t.Decided {
				b.gate.Ran(at)
				return false
			}
		}
	}
	return true
}

// skipped keeps the live view fresh at a low rate on a frame not analysed.
func (l *Loop) skipped(m gocv.Mat, at time.Time) {
	b := l.budget
	l.live.keepRaw(m, at)
	if b.liveDue(at, staticLiveEvery) {
		l.live.keepAnnotated(m, at)
	}
}

// liveDue reports whether the live view is due for a new frame at at.
func (b *budget) liveDue(at time.Time, every time.Duration) bool {
	if at.Sub(b.liveAt) < every && !at.Before(b.liveAt) {
		return false
	}
	b.liveAt = at
	return true
}

// processTracked analyses one frame face by face through the tracker,
// decides per track, annotates the frame with the tracks and acts on every
// decision.
func (l *Loop) processTracked(ctx context.Context, m gocv.Mat, at time.Time) {
	b := l.budget
	faces, err := b.faces.Detect(m)
	if err != nil {
		l.log.Debug("access: frame not analysed", "err", err)
	}
	cur, ended := b.tracker.Update(faces)
	for _, t := range ended {
		b.dec.End(t.ID)
	}
	pol := b.dec.Policy()
	var decs []Decision
	type drawn struct {
		box   vision.Face
		col   colour
		label string
	}
	var draw []drawn
	var observed []*track.Track // tracks with an observation from this frame
	any := false
	for i, t := range cur {
		st, _ := t.State.(*trackState)
		if st == nil {
			st = &trackState{}
			t.State = st
		}
		// A decision holds for the cooldown (a stranger's for the alarm
		// period); then the track is decided afresh, as the door would
		// re-trigger for a person who stays.
		if t.Decided {
			hold := pol.Cooldown
			if st.verdict == Stranger {
				hold = pol.StrangerEvery
			}
			if at.Sub(st.decidedAt) >= hold {
				t.Decided = false
				b.dec.Restart(t.ID)
			}
		}
		label, col := "", colOther
		if need, _ := t.NeedsEmbedding(); need {
			a, err := b.faces.AnalyzeFace(m, faces[i])
			if err != nil {
				l.log.Debug("access: face not analysed", "err", err)
			}
			l.stats.embeddings.Add(1)
			label = a.Quality.Reason
			if a.Embedding != nil {
				if t.AddEmbedding(a.Embedding) {
					t.Decided = false // the track jumped to another face
					b.dec.Reopen(t.ID)
				}
				if old := b.tracker.Reidentify(t, pol.Threshold); old != t {
					t, st = old, old.State.(*trackState)
				}
				mt := l.library.Gallery().MatchAny(t.Fused())
				o := Observation{Time: at, Face: true, PersonID: mt.PersonID, Name: mt.Name,
					Score: float64(mt.Score), SecondScore: float64(mt.SecondScore)}
				o.Active, o.DenyReason = l.active(mt, at)
				if t.Decided && st.obs.PersonID != o.PersonID {
					t.Decided = false // the safety net found another identity
					b.dec.Reopen(t.ID)
				}
				if l.liveness != nil && pol.Wins(o) {
					l.judgeLiveness(m, faces[i], &o) // liveness per track, on its embedded frames
				}
				st.obs = o
				observed = append(observed, t)
			}
		}
		if st.obs.Face {
			col, label = faceLabel(pol, st.obs)
			any = true // a usable face, embedded now or earlier in its track
		}
		draw = append(draw, drawn{faces[i], col, fmt.Sprintf("#%d %s", t.ID, label)})
	}
	if any {
		l.stats.faces.Add(1)
	}
	if l.fresh(at) { // else too late for a decision
		for _, t := range observed {
			st := t.State.(*trackState)
			if dec, ok := b.dec.Observe(t.ID, st.obs); ok {
				decs = append(decs, dec)
			}
			if v, ok := b.dec.Settled(t.ID); ok && !t.Decided {
				t.Decided, st.decidedAt, st.verdict = true, at, v
			}
		}
	}
	l.live.keepRaw(m, at)
	for _, d := range draw {
		drawFace(&m, d.box.Box, d.col, d.label)
	}
	l.finish(ctx, m, at, decs)
}

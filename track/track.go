package track

import (
	"image"
	"math"
	"sort"

	"github.com/facegate/facegate/vision"
)

// Options configure a Tracker. Zero values take the defaults in brackets.
type Options struct {
	// MinIoU is the box overlap with a track's last box that continues it (0.3).
	MinIoU float64
	// MaxShift continues a track whose box overlaps less when the face's
	// landmarks moved, on average, by at most this fraction of the track's
	// face width (0.5).
	MaxShift float64
	// MaxMissed is how many processed frames in a row a track survives
	// without its face (3); then it ends.
	MaxMissed int
	// RefreshEvery: a decided track is embedded again after this many frames
	// without an embedding (10), the safety net against a track that jumped
	// to another face.
	RefreshEvery int
	// Better: a decided track is embedded again when a face's quality is at
	// least this many times the best quality embedded so far (1.25).
	Better float64
	// FuseBest is how many of a track's best embeddings Fused averages (3).
	FuseBest int
}

func (o *Options) defaults() {
	if o.MinIoU <= 0 {
		o.MinIoU = 0.3
	}
	if o.MaxShift <= 0 {
		o.MaxShift = 0.5
	}
	if o.MaxMissed <= 0 {
		o.MaxMissed = 3
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = 10
	}
	if o.Better <= 1 {
		o.Better = 1.25
	}
	if o.FuseBest <= 0 {
		o.FuseBest = 3
	}
}

// Why a track needs an embedding (Track.NeedsEmbedding).
const (
	ReasonNew       = "new"       // no usable embedding yet
	ReasonUndecided = "undecided" // the caller has not decided the track's identity
	ReasonBetter    = "better"    // a clearly better view than any embedded so far
	ReasonRefresh   = "refresh"   // the safety net: RefreshEvery frames since the last one
)

// Track is one face followed across frames.
type Track struct {
	ID     int         // unique per Tracker, from 1
	Face   vision.Face // the newest detection
	Frames int         // processed frames with this face
	Missed int         // processed frames in a row without it

	// Decided is set by the caller once the track's identity led to a
	// decision; it stops per-frame embedding (see NeedsEmbedding).
	Decided bool
	// State is the caller's per-track state (access: its decision history).
	State any

	o          Options
	sinceEmbed int // frames since the last embedding (or since the track began)
	embedded   bool
	bestQ      float64
	best       []scored // the FuseBest best embeddings, best first
	last       []float32
}

type scored struct {
	q   float64
	emb []float32
}

// Quality ranks views of one face for embedding: the smaller side of the
// box times the detector score (bigger, surer faces embed better).
func Quality(f vision.Face) float64 {
	return float64(min(f.Box.Dx(), f.Box.Dy())) * float64(f.Score)
}

// NeedsEmbedding reports whether the track's current face should be
// embedded, and why.
func (t *Track) NeedsEmbedding() (bool, string) {
	switch {
	case !t.embedded:
		return true, ReasonNew
	case !t.Decided:
		return true, ReasonUndecided
	case Quality(t.Face) >= t.o.Better*t.bestQ:
		return true, ReasonBetter
	case t.sinceEmbed >= t.o.RefreshEvery:
		return true, ReasonRefresh
	}
	return false, ""
}

// JumpBelow: an embedding whose cosine with the track's fused embedding is
// under this is another person's face (the same person's photos score 0.40
// or more on ../shared/faces, different people's about 0 on the median):
// the track jumped, and its fusion starts again from this embedding.
const JumpBelow = 0.3

// AddEmbedding records the embedding of the track's current face (nil when
// its quality gates failed: the track then still needs one). It reports
// whether the face is not the one the track followed so far (JumpBelow).
func (t *Track) AddEmbedding(emb []float32) (jumped bool) {
	if emb == nil {
		return false
	}
	if f := t.Fused(); f != nil && vision.Dot(f, emb) < JumpBelow {
		t.best, t.bestQ, jumped = nil, 0, true
	}
	q := Quality(t.Face)
	t.embedded, t.sinceEmbed, t.last = true, 0, emb
	t.bestQ = math.Max(t.bestQ, q)
	t.best = append(t.best, scored{q, emb})
	sort.SliceStable(t.best, func(i, j int) bool { return t.best[i].q > t.best[j].q })
	if len(t.best) > t.o.FuseBest {
		t.best = t.best[:t.o.FuseBest]
	}
	return jumped
}

// Embedding is the newest embedding (nil before the first).
func (t *Track) Embedding() []float32 { return t.last }

// Fused is the L2-normalised mean of the track's best embeddings (up to
// FuseBest, by Quality), nil before the first.
func (t *Track) Fused() []float32 {
	if len(t.best) == 0 {
		return nil
	}
	return Mean(func(yield func([]float32) bool) {
		for _, s := range t.best {
			if !yield(s.emb) {
				return
			}
		}
	})
}

// Mean is the L2-normalised mean of embeddings of one length (nil for none
// or a zero mean).
func Mean(embs func(yield func([]float32) bool)) []float32 {
	var sum []float64
	for e := range embs {
		if sum == nil {
			sum = make([]float64, len(e))
		}
		for i, v := range e {
			sum[i] += float64(v)
		}
	}
	var n float64
	for _, v := range sum {
		n += v * v
	}
	if n == 0 {
		return nil
	}
	n = math.Sqrt(n)
	out := make([]float32, len(sum))
	for i, v := range sum {
		out[i] = float32(v / n)
	}
	return out
}

// Tracker associates the faces of successive processed frames with tracks.
// It is not safe for concurrent use.
type Tracker struct {
	o      Options
	next   int
	tracks []*Track
}

// New returns a tracker with o's settings (defaults for zero fields).
func New(o Options) *Tracker {
	o.defaults()
	return &Tracker{o: o, next: 1}
}

// Tracks returns the live tracks, oldest first.
func (tr *Tracker) Tracks() []*Track { return tr.tracks }

// Update takes the faces detected on one processed frame and returns the
// track of each (cur[i] is faces[i]'s) and the tracks that ended because
// their face was missing for more than MaxMissed frames. Each face
// continues at most one track and each track at most one face; the pairs
// are taken best first (highest overlap, then smallest landmark shift).
func (tr *Tracker) Update(faces []vision.Face) (cur []*Track, ended []*Track) {
	type pair struct {
		t, f int
		v    float64
	}
	var pairs []pair
	for ti, t := range tr.tracks {
		for fi, f := range faces {
			iou := boxIoU(t.Face.Box, f.Box)
			shift := landmarkShift(t.Face, f)
			if iou >= tr.o.MinIoU || shift <= tr.o.MaxShift {
				pairs = append(pairs, pair{ti, fi, iou - shift})
			}
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].v > pairs[j].v })
	cur = make([]*Track, len(faces))
	taken := make([]bool, len(tr.tracks))
	for _, p := range pairs {
		if taken[p.t] || cur[p.f] != nil {
			continue
		}
		taken[p.t] = true
		cur[p.f] = tr.tracks[p.t]
	}
	var live []*Track
	for ti, t := range tr.tracks {
		if taken[ti] {
			live = append(live, t)
			continue
		}
		t.Missed++
		if t.Missed > tr.o.MaxMissed {
			ended = append(ended, t)
		} else {
			live = append(live, t)
		}
	}
	for fi, f := range faces {
		t := cur[fi]
		if t == nil {
			t = &Track{ID: tr.next, o: tr.o}
			tr.next++
			cur[fi] = t
			live = append(live, t)
		} else {
			t.sinceEmbed++
		}
		t.Face, t.Missed = f, 0
		t.Frames++
	}
	tr.tracks = live
	return cur, ended
}

// Reidentify continues an older track with a new one when the new track's
// first embedding matches it: a face the tracker lost for a frame or two and
// found elsewhere (a jerky camera, a slide-show camera) is the same person
// when its embedding scores at least minScore against an older track's
// fused embedding, and that older track was not seen in this frame. It
// returns the track t now belongs to (t itself when none matched) and merges
// t into it.
func (tr *Tracker) Reidentify(t *Track, minScore float64) *Track {
	if t.Frames != 1 || len(t.best) != 1 {
		return t
	}
	var into *Track
	best := minScore
	for _, o := range tr.tracks {
		if o == t || o.Missed == 0 {
			continue
		}
		if f := o.Fused(); f != nil {
			if s := float64(vision.Dot(f, t.last)); s >= best {
				into, best = o, s
			}
		}
	}
	if into == nil {
		return t
	}
	into.Face, into.Missed = t.Face, 0
	into.Frames++
	into.sinceEmbed = 0
	into.AddEmbedding(t.last)
	live := tr.tracks[:0]
	for _, o := range tr.tracks {
		if o != t {
			live = append(live, o)
		}
	}
	tr.tracks = live
	return into
}

// Reset ends every track (the camera was lost or the scene restarted).
func (tr *Tracker) Reset() []*Track {
	ended := tr.tracks
	tr.tracks = nil
	return ended
}

func boxIoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	u := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia
	if u <= 0 {
		return 0
	}
	return ia / u
}

// landmarkShift is the mean distance between the two faces' landmarks,
// as a fraction of a's box width.
func landmarkShift(a, b vision.Face) float64 {
	w := float64(max(a.Box.Dx(), 1))
	var d float64
	for i := range a.Landmarks {
		d += math.Hypot(float64(a.Landmarks[i].X-b.Landmarks[i].X), float64(a.Landmarks[i].Y-b.Landmarks[i].Y))
	}
	return d / float64(len(a.Landmarks)) / w
}

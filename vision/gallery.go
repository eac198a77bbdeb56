package vision

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/facegate/facegate/vision/internal/fdot"
)

// dotRow scores one template row: AVX2+FMA assembly on amd64 CPUs that
// have it, NEON on arm64, the unrolled Go loop elsewhere (package fdot).
var dotRow = fdot.Dot

// Entry is one stored template of one person.
type Entry struct {
	PersonID  int64
	Name      string
	Enabled   bool
	Embedding []float32 // L2-normalised
}

// Match is the outcome of a 1:N search. PersonID 0 means the gallery had no
// candidate. Score is the best cosine over that person's templates;
// SecondPersonID/SecondScore are the best other identity (0 / -1 if none).
type Match struct {
	PersonID       int64
	Name           string
	Enabled        bool
	Score          float32
	SecondPersonID int64
	SecondScore    float32
}

// Gallery holds the templates of one model in memory, as one contiguous
// matrix, for fast 1:N matching. It is safe for concurrent use; Replace
// swaps the whole content atomically.
type Gallery struct {
	model string
	cur   atomic.Pointer[galleryData]
}

type galleryData struct {
	dims    int
	n       int
	matrix  []float32 // n x dims, row-major
	person  []int32   // row -> index into people
	people  []galleryPerson
	anyOn   bool
	version int64
}

type galleryPerson struct {
	id      int64
	name    string
	enabled bool
}

// NewGallery returns an empty gallery for templates of model.
func NewGallery(model string) *Gallery {
	g := &Gallery{model: model}
	g.cur.Store(&galleryData{})
	return g
}

// Model is the model id whose templates the gallery holds.
func (g *Gallery) Model() string { return g.model }

// Len is the number of templates.
func (g *Gallery) Len() int { return g.cur.Load().n }

// People is the number of distinct people.
func (g *Gallery) People() int { return len(g.cur.Load().people) }

// Replace swaps in a new set of templates. Entries whose embedding length
// differs from the first entry's are dropped (they cannot belong to the
// same model). Filtering by model id is the caller's job (enrol.LoadGallery does
// it).
func (g *Gallery) Replace(entries []Entry) {
	d := &galleryData{}
	for _, e := range entries {
		if len(e.Embedding) > 0 {
			d.dims = len(e.Embedding)
			break
		}
	}
	idx := map[int64]int32{}
	d.matrix = make([]float32, 0, len(entries)*d.dims)
	d.person = make([]int32, 0, len(entries))
	for _, e := range entries {
		if d.dims == 0 || len(e.Embedding) != d.dims || e.PersonID == 0 {
			continue
		}
		pi, ok := idx[e.PersonID]
		if !ok {
			pi = int32(len(d.people))
			idx[e.PersonID] = pi
			d.people = append(d.people, galleryPerson{id: e.PersonID, name: e.Name, enabled: e.Enabled})
		}
		d.anyOn = d.anyOn || e.Enabled
		d.matrix = append(d.matrix, e.Embedding...)
		d.person = append(d.person, pi)
	}
	d.n = len(d.person)
	g.cur.Store(d)
}

// Match returns the best identity among ENABLED people only.
func (g *Gallery) Match(emb []float32) Match { return g.match(emb, true) }

// MatchAny returns the best identity among all people; Match.Enabled tells
// whether that person is enabled (a recognised but disabled person can be
// told "access denied").
func (g *Gallery) MatchAny(emb []float32) Match { return g.match(emb, false) }

type top2 struct {
	p1, p2 int32 // person index, -1 = none
	s1, s2 float32
}

func newTop2() top2 { return top2{p1: -1, p2: -1, s1: -2, s2: -2} }

func (t *top2) add(p int32, s float32) {
	switch {
	case p == t.p1:
		if s > t.s1 {
			t.s1 = s
		}
	case s > t.s1:
		t.p2, t.s2 = t.p1, t.s1
		t.p1, t.s1 = p, s
	case p == t.p2:
		if s > t.s2 {
			t.s2 = s
		}
	case s > t.s2:
		t.p2, t.s2 = p, s
	}
}

// parallelMin is the template count from which matching is split across CPUs.
const parallelMin = 8192

func (g *Gallery) match(emb []float32, enabledOnly bool) Match {
	d := g.cur.Load()
	none := Match{Score: -1, SecondScore: -1}
	if d.n == 0 || len(emb) != d.dims || (enabledOnly && !d.anyOn) {
		return none
	}
	workers := 1
	if d.n >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), d.n/(parallelMin/2))
	}
	var t top2
	if workers <= 1 {
		t = d.scan(emb, 0, d.n, enabledOnly)
	} else {
		parts := make([]top2, workers)
		var wg sync.WaitGroup
		chunk := (d.n + workers - 1) / workers
		for w := range workers {
			lo, hi := w*chunk, min(d.n, (w+1)*chunk)
			wg.Go(func() { parts[w] = d.scan(emb, lo, hi, enabledOnly) })
		}
		wg.Wait()
		// The best two distinct people of the whole set are among the best
		// two of every chunk (a person's best row lies in one chunk).
		t = newTop2()
		for _, pt := range parts {
			if pt.p1 >= 0 {
				t.add(pt.p1, pt.s1)
			}
			if pt.p2 >= 0 {
				t.add(pt.p2, pt.s2)
			}
		}
	}
	if t.p1 < 0 {
		return none
	}
	p := d.people[t.p1]
	m := Match{PersonID: p.id, Name: p.name, Enabled: p.enabled, Score: t.s1, SecondScore: -1}
	if t.p2 >= 0 {
		m.SecondPersonID, m.SecondScore = d.people[t.p2].id, t.s2
	}
	return m
}

func (d *galleryData) scan(emb []float32, lo, hi int, enabledOnly bool) top2 {
	t := newTop2()
	dims := d.dims
	for i := lo; i < hi; i++ {
		pi := d.person[i]
		if enabledOnly && !d.people[pi].enabled {
			continue
		}
		t.add(pi, dotRow(emb, d.matrix[i*dims:(i+1)*dims:(i+1)*dims]))
	}
	return t
}

// Dot is the dot product of two equally long vectors (cosine similarity for
// L2-normalised embeddings).
func Dot(a, b []float32) float32 { return fdot.Dot(a, b) }

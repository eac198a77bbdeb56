package vision

import (
	"math/rand/v2"
	"testing"
)

func randUnit(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	normalize(v)
	return v
}

// bruteMatch is the obvious reference for Gallery.match.
func bruteMatch(entries []Entry, emb []float32, enabledOnly bool) Match {
	best := map[int64]float32{}
	names := map[int64]Entry{}
	for _, e := range entries {
		if enabledOnly && !e.Enabled {
			continue
		}
		s := Dot(emb, e.Embedding)
		if b, ok := best[e.PersonID]; !ok || s > b {
			best[e.PersonID] = s
		}
		names[e.PersonID] = e
	}
	m := Match{Score: -1, SecondScore: -1}
	for id, s := range best {
		if s > m.Score {
			m.SecondPersonID, m.SecondScore = m.PersonID, m.Score
			m.PersonID, m.Score = id, s
		} else if s > m.SecondScore {
			m.SecondPersonID, m.SecondScore = id, s
		}
	}
	if m.PersonID != 0 {
		m.Name, m.Enabled = names[m.PersonID].Name, names[m.PersonID].Enabled
	}
	return m
}

// TestGalleryMatchesBruteForce: the unrolled, chunked, parallel search gives
// the same best and second-best identities as a plain loop, with and
// without disabled people, below and above the parallel cut-over.
func TestGalleryMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 1000, 3 * parallelMin} {
		var entries []Entry
		for i := range n {
			pid := int64(i/3 + 1) // three templates per person
			entries = append(entries, Entry{PersonID: pid, Name: "p", Enabled: pid%5 != 0, Embedding: randUnit(r, 512)})
		}
		g := NewGallery("fr512")
		g.Replace(entries)
		if g.Len() != n {
			t.Fatalf("Len %d, want %d", g.Len(), n)
		}
		for q := range 5 {
			probe := randUnit(r, 512)
			if q == 0 {
				probe = entries[n/2].Embedding // an exact hit
			}
			for _, enabledOnly := range []bool{true, false} {
				got, want := g.match(probe, enabledOnly), bruteMatch(entries, probe, enabledOnly)
				if got.PersonID != want.PersonID || got.SecondPersonID != want.SecondPersonID ||
					abs32(got.Score-want.Score) > 1e-5 || abs32(got.SecondScore-want.SecondScore) > 1e-5 {
					t.Errorf("n=%d enabledOnly=%v: got %+v, want %+v", n, enabledOnly, got, want)
				}
			}
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestGalleryEmptyAndWrongDims(t *testing.T) {
	g := NewGallery("fr512")
	if m := g.Match(make([]float32, 512)); m.PersonID != 0 {
		t.Errorf("empty gallery matched %+v", m)
	}
	g.Replace([]Entry{{PersonID: 1, Enabled: true, Embedding: []float32{1, 0}}})
	if m := g.Match([]float32{1, 0, 0}); m.PersonID != 0 {
		t.Errorf("probe of another length matched %+v", m)
	}
	g.Replace([]Entry{{PersonID: 1, Enabled: false, Embedding: []float32{1, 0}}})
	if m := g.Match([]float32{1, 0}); m.PersonID != 0 {
		t.Errorf("only a disabled person, Match gave %+v", m)
	}
	if m := g.MatchAny([]float32{1, 0}); m.PersonID != 1 || m.Enabled {
		t.Errorf("MatchAny gave %+v, want person 1, disabled", m)
	}
}

package track

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/scene"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// BenchmarkFusion measures whether a track should decide on the fusion of
// its frames (the mean of its best embeddings, Track.Fused) rather than on
// each frame's own embedding. Every identity photo of ../shared/faces is
// turned into a sequence (scene.WalkIn: walks in, grows, stays, with sensor
// noise) and tracked; the gallery is every other photo's embedding. Per
// sequence: the genuine score (best over the person's other photos) and the
// stranger score (best over everyone else), per frame and fused. Reported:
// the genuine mean and minimum and the stranger maximum, per frame and
// fused. Run once: go test -run '^$' -bench Fusion -benchtime 1x ./track/
func BenchmarkFusion(b *testing.B) {
	p := pipeline(b)
	faces := testenv.FacesDir(b)
	type photo struct {
		ident, folder, file string
		emb                 []float32
	}
	var photos []photo
	ents, _ := os.ReadDir(faces)
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		fs, _ := filepath.Glob(filepath.Join(faces, e.Name(), "*"))
		for _, f := range fs {
			img, err := vision.ReadImage(f)
			if err != nil {
				continue
			}
			as, err := p.Analyze(img)
			img.Close()
			if err == nil && len(as) > 0 && as[0].Embedding != nil {
				photos = append(photos, photo{e.Name(), e.Name(), filepath.Base(f), as[0].Embedding})
			}
		}
	}
	best := func(emb []float32, skip int, same bool) float64 {
		m := math.Inf(-1)
		for j, q := range photos {
			if j != skip && (q.ident == photos[skip].ident) == same {
				m = math.Max(m, float64(vision.Dot(emb, q.emb)))
			}
		}
		return m
	}
	var genF, genS, strF, strS []float64
	for b.Loop() {
		genF, genS, strF, strS = nil, nil, nil, nil
		for i, ph := range photos {
			s := scene.New(b, 3)
			s.AddFace(b, p, "x", ph.folder, ph.file)
			tr := New(Options{})
			for _, puts := range scene.WalkIn("x", 8) {
				f := s.Frame(puts...)
				fs, err := p.Detect(f)
				if err == nil && len(fs) > 0 {
					cur, _ := tr.Update(fs[:1])
					if a, err := p.AnalyzeFace(f, fs[0]); err == nil && a.Embedding != nil {
						cur[0].AddEmbedding(a.Embedding)
						genS = append(genS, best(a.Embedding, i, true))
						strS = append(strS, best(a.Embedding, i, false))
					}
				}
				f.Close()
			}
			if ts := tr.Tracks(); len(ts) > 0 && ts[0].Fused() != nil {
				genF = append(genF, best(ts[0].Fused(), i, true))
				strF = append(strF, best(ts[0].Fused(), i, false))
			}
			s.Close()
		}
	}
	stat := func(v []float64) (mean, lo, hi float64) {
		sort.Float64s(v)
		for _, x := range v {
			mean += x
		}
		return mean / float64(len(v)), v[0], v[len(v)-1]
	}
	gm, gl, _ := stat(genS)
	fm, fl, _ := stat(genF)
	_, _, sh := stat(strS)
	_, _, fh := stat(strF)
	b.ReportMetric(float64(len(genF)), "sequences")
	b.ReportMetric(gm, "genuine-mean/frame")
	b.ReportMetric(fm, "genuine-mean/fused")
	b.ReportMetric(gl, "genuine-min/frame")
	b.ReportMetric(fl, "genuine-min/fused")
	b.ReportMetric(sh, "stranger-max/frame")
	b.ReportMetric(fh, "stranger-max/fused")
}

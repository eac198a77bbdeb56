package vision

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// EvalReport is the result of Evaluate; its JSON keys are the contract of
// `facegate eval -json` (docs/recognition.md) plus a few extra diagnostics.
type EvalReport struct {
	Model                 string  `json:"model"`
	Images                int     `json:"images"`     // identity images
	Identities            int     `json:"identities"` // identity folders
	Detected              int     `json:"detected"`
	DetectRate            float64 `json:"detect_rate"`
	NofaceImages          int     `json:"noface_images"`
	NofaceFalseDetections int     `json:"noface_false_detections"`
	Threshold             float64 `json:"threshold"`
	EER                   float64 `json:"eer"`
	EERThreshold          float64 `json:"eer_threshold"`
	FAR                   float64 `json:"far"`
	FRR                   float64 `json:"frr"`
	GenuinePairs          int     `json:"genuine_pairs"`
	ImpostorPairs         int     `json:"impostor_pairs"`
	GenuineMin            float64 `json:"genuine_min"`
	GenuineMedian         float64 `json:"genuine_median"`
	ImpostorMax           float64 `json:"impostor_max"`
	ImpostorMedian        float64 `json:"impostor_median"`
	OpenSetTrials         int     `json:"open_set_trials"`
	OpenSetFalseAccepts   int     `json:"open_set_false_accepts"`
	OpenSetMaxScore       float64 `json:"open_set_max_score"`
	Rank1                 float64 `json:"rank1"`
	Rank1Trials           int     `json:"rank1_trials"`
	QualityRejected       int     `json:"quality_rejected"` // detected identity images failing the quality gates
	DetectMsMedian        float64 `json:"detect_ms_median"`
	EmbedMsMedian         float64 `json:"embed_ms_median"`
	DetectMaxSide         int     `json:"detect_max_side"`
	CandidateMaxSide      int     `json:"candidate_max_side"` // two-stage detection's candidate copy; 0 = one stage

	// The extremes of the quality measures over detected identity images,
	// for tuning the gates.
	SmallestFace   int     `json:"smallest_face_pixels"`
	LeastSharpness float64 `json:"least_sharpness"`
	LargestYaw     float64 `json:"largest_yaw_ratio"`

	Sweep []SweepPoint `json:"sweep,omitempty"` // FAR/FRR/open-set false accepts at other thresholds

	LowestGenuine   []PairScore `json:"lowest_genuine,omitempty"`   // the 3 hardest same-person pairs
	HighestImpostor []PairScore `json:"highest_impostor,omitempty"` // the 3 most similar different-person pairs

	Missed          []string `json:"missed,omitempty"`           // identity images without a detection
	NofaceDetected  []string `json:"noface_detected,omitempty"`  // _noface images with a detection
	QualityFailures []string `json:"quality_failures,omitempty"` // "path: reason"
	Errors          []string `json:"errors,omitempty"`           // unreadable images
}

// SweepPoint is the error rates at one threshold.
type SweepPoint struct {
	Threshold           float64 `json:"threshold"`
	FAR                 float64 `json:"far"`
	FRR                 float64 `json:"frr"`
	OpenSetFalseAccepts int     `json:"open_set_false_accepts"`
}

// PairScore is the cosine score of two images.
type PairScore struct {
	A     string  `json:"a"`
	B     string  `json:"b"`
	Score float64 `json:"score"`
}

type evalSample struct {
	ident int
	path  string
	emb   []float32
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true}

// listImages returns the image files directly inside dir, sorted.
func listImages(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// Evaluate runs the evaluation protocol of docs/recognition.md on a labelled folder:
// one sub-folder per identity, _noface/ for images without a face, other
// _* folders ignored. OpenCV is limited to one thread for the timings.
func Evaluate(ctx context.Context, dataset string, o Options, threshold float64) (EvalReport, error) {
	o.Threads = 1
	p, err := Open(o)
	if err != nil {
		return EvalReport{}, err
	}
	defer p.Close()
	rep := EvalReport{Model: p.ModelID(), Threshold: threshold, DetectMaxSide: o.DetectMaxSide, CandidateMaxSide: o.CandidateMaxSide}

	ents, err := os.ReadDir(dataset)
	if err != nil {
		return rep, fmt.Errorf("vision: eval: %w", err)
	}
	var samples []evalSample
	var detectMs, embedMs []float64
	ident := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		dir := filepath.Join(dataset, name)
		if strings.HasPrefix(name, "_") {
			if name != "_noface" {
				continue
			}
			files, err := listImages(dir)
			if err != nil {
				return rep, fmt.Errorf("vision: eval: %w", err)
			}
			for _, f := range files {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				rep.NofaceImages++
				faces, _, err := p.evalImage(f, false)
				if err != nil {
					rep.Errors = append(rep.Errors, err.Error())
					continue
				}
				if len(faces) > 0 {
					rep.NofaceFalseDetections++
					rep.NofaceDetected = append(rep.NofaceDetected, f)
				}
			}
			continue
		}
		files, err := listImages(dir)
		if err != nil {
			return rep, fmt.Errorf("vision: eval: %w", err)
		}
		if len(files) == 0 {
			continue
		}
		rep.Identities++
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			rep.Images++
			faces, a, err := p.evalImage(f, true)
			if err != nil {
				rep.Errors = append(rep.Errors, err.Error())
				rep.Missed = append(rep.Missed, f)
				continue
			}
			p.mu.Lock()
			detectMs = append(detectMs, ms(p.lastDetect))
			if len(faces) > 0 {
				embedMs = append(embedMs, ms(p.lastEmbed))
			}
			p.mu.Unlock()
			if len(faces) == 0 {
				rep.Missed = append(rep.Missed, f)
				continue
			}
			rep.Detected++
			q := a.Quality
			if rep.Detected == 1 || q.FacePixels < rep.SmallestFace {
				rep.SmallestFace = q.FacePixels
			}
			if rep.Detected == 1 || q.Sharpness < rep.LeastSharpness {
				rep.LeastSharpness = q.Sharpness
			}
			rep.LargestYaw = math.Max(rep.LargestYaw, q.YawRatio)
			if !a.Quality.OK {
				rep.QualityRejected++
				rep.QualityFailures = append(rep.QualityFailures, f+": "+a.Quality.Reason)
			}
			samples = append(samples, evalSample{ident: ident, path: f, emb: a.Embedding})
		}
		ident++
	}
	if rep.Images > 0 {
		rep.DetectRate = float64(rep.Detected) / float64(rep.Images)
	}
	rep.DetectMsMedian = median(detectMs)
	rep.EmbedMsMedian = median(embedMs)
	scoreSamples(&rep, samples, threshold)
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// evalImage detects faces in one file and, if embed is set, gates and embeds
// the highest-scoring face even when a gate fails (the report counts those).
func (p *Pipeline) evalImage(path string, embed bool) ([]Face, Analysis, error) {
	img, err := ReadImage(path)
	if err != nil {
		return nil, Analysis{}, err
	}
	defer img.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, Analysis{}, ErrClosed
	}
	faces, err := p.detectLocked(img)
	if err != nil {
		return nil, Analysis{}, fmt.Errorf("%s: %w", path, err)
	}
	if !embed || len(faces) == 0 {
		return faces, Analysis{}, nil
	}
	a, err := p.analyzeFaceLocked(img, faces[0], true)
	if err != nil {
		return nil, Analysis{}, fmt.Errorf("%s: %w", path, err)
	}
	return faces, a, nil
}

func scoreSamples(rep *EvalReport, s []evalSample, t float64) {
	n := len(s)
	sim := make([][]float64, n)
	for i := range sim {
		sim[i] = make([]float64, n)
		for j := range n {
			sim[i][j] = float64(Dot(s[i].emb, s[j].emb))
		}
	}
	var gen, imp []float64
	var genP, impP []PairScore
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			ps := PairScore{A: s[i].path, B: s[j].path, Score: sim[i][j]}
			if s[i].ident == s[j].ident {
				gen = append(gen, sim[i][j])
				genP = append(genP, ps)
			} else {
				imp = append(imp, sim[i][j])
				impP = append(impP, ps)
			}
		}
	}
	sort.Slice(genP, func(i, j int) bool { return genP[i].Score < genP[j].Score })
	sort.Slice(impP, func(i, j int) bool { return impP[i].Score > impP[j].Score })
	rep.LowestGenuine = genP[:min(3, len(genP))]
	rep.HighestImpostor = impP[:min(3, len(impP))]
	rep.GenuinePairs, rep.ImpostorPairs = len(gen), len(imp)
	sort.Float64s(gen)
	sort.Float64s(imp)
	if len(gen) > 0 {
		rep.GenuineMin, rep.GenuineMedian = gen[0], median(gen)
	}
	if len(imp) > 0 {
		rep.ImpostorMax, rep.ImpostorMedian = imp[len(imp)-1], median(imp)
	}
	rep.FAR, rep.FRR = rates(gen, imp, t)
	rep.EER, rep.EERThreshold = eer(gen, imp)

	// Open set: each identity removed from the gallery, probed with its own
	// images; the best score over the remaining gallery is the stranger's.
	var stranger []float64
	for i := 0; i < n; i++ {
		best := math.Inf(-1)
		for j := 0; j < n; j++ {
			if s[j].ident != s[i].ident && sim[i][j] > best {
				best = sim[i][j]
			}
		}
		if !math.IsInf(best, -1) {
			stranger = append(stranger, best)
			rep.OpenSetMaxScore = math.Max(rep.OpenSetMaxScore, best)
		}
	}
	sort.Float64s(stranger)
	openFA := func(t float64) int { return len(stranger) - sort.SearchFloat64s(stranger, t) }
	rep.OpenSetTrials, rep.OpenSetFalseAccepts = len(stranger), openFA(t)
	for k := 40; k <= 60; k += 2 {
		st := float64(k) / 100
		far, frr := rates(gen, imp, st)
		rep.Sweep = append(rep.Sweep, SweepPoint{Threshold: st, FAR: far, FRR: frr, OpenSetFalseAccepts: openFA(st)})
	}

	// Closed set: leave-one-out rank-1 over identities with >= 2 images.
	count := map[int]int{}
	for _, x := range s {
		count[x.ident]++
	}
	correct := 0
	for i := 0; i < n; i++ {
		if count[s[i].ident] < 2 {
			continue
		}
		bestJ, best := -1, math.Inf(-1)
		for j := 0; j < n; j++ {
			if j != i && sim[i][j] > best {
				bestJ, best = j, sim[i][j]
			}
		}
		rep.Rank1Trials++
		if bestJ >= 0 && s[bestJ].ident == s[i].ident {
			correct++
		}
	}
	if rep.Rank1Trials > 0 {
		rep.Rank1 = float64(correct) / float64(rep.Rank1Trials)
	}
}

// rates returns FAR (impostor >= t) and FRR (genuine < t); both lists sorted.
func rates(gen, imp []float64, t float64) (far, frr float64) {
	if len(imp) > 0 {
		far = float64(len(imp)-sort.SearchFloat64s(imp, t)) / float64(len(imp))
	}
	if len(gen) > 0 {
		frr = float64(sort.SearchFloat64s(gen, t)) / float64(len(gen))
	}
	return far, frr
}

// eer sweeps every observed score as a threshold and returns the point where
// FAR and FRR are closest, as their mean, with that threshold.
func eer(gen, imp []float64) (rate, thr float64) {
	if len(gen) == 0 || len(imp) == 0 {
		return 0, 0
	}
	cands := append(append([]float64{}, gen...), imp...)
	bestGap := math.Inf(1)
	for _, t := range cands {
		far, frr := rates(gen, imp, t)
		if g := math.Abs(far - frr); g < bestGap || (g == bestGap && (far+frr)/2 < rate) {
			bestGap, rate, thr = g, (far+frr)/2, t
		}
	}
	return rate, thr
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	m := len(c) / 2
	if len(c)%2 == 1 {
		return c[m]
	}
	return (c[m-1] + c[m]) / 2
}

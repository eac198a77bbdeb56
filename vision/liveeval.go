package vision

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gocv.io/x/gocv"
)

// BonaFideFolder is the folder of live presentations in a liveness set;
// every other folder is one attack species (print, replay, ...).
const BonaFideFolder = "live"

// LivenessReport is the result of EvaluateLiveness, measured the way
// ISO/IEC 30107-3 does: APCER per attack species, BPCER over bona fide
// presentations, each with the number of images it was measured on. Its
// JSON keys are the contract of `facegate eval -liveness -json`.
type LivenessReport struct {
	Model     string  `json:"model"`
	Threshold float64 `json:"threshold"`

	APCER           map[string]float64 `json:"apcer"`            // by species: accepted / attacks
	Attacks         map[string]int     `json:"attacks"`          // by species: images with a usable face
	AttacksAccepted map[string]int     `json:"attacks_accepted"` // by species: judged live
	BPCER           float64            `json:"bpcer"`            // rejected / bona fide
	BonaFide        int                `json:"bona_fide"`        // live images with a usable face
	BonaFideRefused int                `json:"bona_fide_rejected"`
	Images          map[string]int     `json:"images"`  // by folder, every image
	NoFace          map[string]int     `json:"no_face"` // by folder: no face passing detection and the quality gates

	EER          float64 `json:"eer"` // all species pooled against bona fide
	EERThreshold float64 `json:"eer_threshold"`
	// APCER0Threshold is the lowest threshold at which no attack of any
	// species is accepted, and APCER0BPCER the BPCER it costs.
	APCER0Threshold float64 `json:"apcer0_threshold"`
	APCER0BPCER     float64 `json:"apcer0_bpcer"`

	LivenessMsMedian float64 `json:"liveness_ms_median"` // per face, one OpenCV thread

	Sweep    []LivenessSweepPoint `json:"sweep,omitempty"`
	Accepted []ScoredImage        `json:"accepted_attacks,omitempty"`   // attacks judged live
	Rejected []ScoredImage        `json:"rejected_bona_fide,omitempty"` // live images judged attacks
	Errors   []string             `json:"errors,omitempty"`
}

// LivenessSweepPoint is BPCER and the worst species' APCER at one threshold.
type LivenessSweepPoint struct {
	Threshold float64 `json:"threshold"`
	BPCER     float64 `json:"bpcer"`
	MaxAPCER  float64 `json:"max_apcer"`
}

// ScoredImage is the liveness score of one image's subject face.
type ScoredImage struct {
	Path  string  `json:"path"`
	Score float64 `json:"score"`
}

// SubjectFace returns the index of the face a liveness check should judge
// when nothing else says which one is the subject: the largest face that
// passed the quality gates (and was embedded), the person nearest the
// camera. It returns -1 when no face is usable. The access loop does not
// use it: it judges the face that recognition matched.
func SubjectFace(as []Analysis) int {
	best, area := -1, 0
	for i, a := range as {
		if a.Embedding == nil {
			continue
		}
		if s := a.Face.Box.Dx() * a.Face.Box.Dy(); s > area {
			best, area = i, s
		}
	}
	return best
}

// EvaluateLiveness measures a liveness check on a folder laid out like
// ../shared/liveness: live/ plus one folder per attack species. Each image
// is analysed as a camera frame (detection, quality gates); the subject
// face (SubjectFace) is scored. Images without a usable face are counted
// per folder and left out of APCER and BPCER. OpenCV runs on one thread.
func EvaluateLiveness(ctx context.Context, dir string, o Options, lo LivenessOptions) (LivenessReport, error) {
	o.Threads = 1
	p, err := Open(o)
	if err != nil {
		return LivenessReport{}, err
	}
	defer p.Close()
	l, err := OpenLiveness(lo)
	if err != nil {
		return LivenessReport{}, err
	}
	defer l.Close()
	rep := LivenessReport{Model: l.Profile().ID, Threshold: l.Threshold(),
		APCER: map[string]float64{}, Attacks: map[string]int{}, AttacksAccepted: map[string]int{},
		Images: map[string]int{}, NoFace: map[string]int{}}

	ents, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("vision: eval liveness: %w", err)
	}
	scores := map[string][]ScoredImage{}
	var livenessMs []float64
	for _, e := range ents {
		if !e.IsDir() || e.Name()[0] == '.' || e.Name()[0] == '_' {
			continue
		}
		folder := e.Name()
		files, err := listImages(filepath.Join(dir, folder))
		if err != nil {
			return rep, fmt.Errorf("vision: eval liveness: %w", err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			rep.Images[folder]++
			s, took, ok, err := scoreSubject(p, l, f)
			switch {
			case err != nil:
				rep.Errors = append(rep.Errors, err.Error())
				rep.NoFace[folder]++
			case !ok:
				rep.NoFace[folder]++
			default:
				scores[folder] = append(scores[folder], ScoredImage{Path: f, Score: s})
				livenessMs = append(livenessMs, ms(took))
			}
		}
	}
	if rep.Images[BonaFideFolder] == 0 {
		return rep, fmt.Errorf("vision: eval liveness: %s has no %s/ folder of bona fide images", dir, BonaFideFolder)
	}
	if len(rep.Images) < 2 {
		return rep, fmt.Errorf("vision: eval liveness: %s has no attack folder (print/, replay/, ...) beside %s/", dir, BonaFideFolder)
	}
	for folder := range rep.Images {
		rep.NoFace[folder] += 0 // every folder listed, zero included
	}
	scoreLiveness(&rep, scores)
	rep.LivenessMsMedian = median(livenessMs)
	return rep, nil
}

// scoreSubject analyses one image file and scores its subject face; ok is
// false when it has no usable face.
func scoreSubject(p *Pipeline, l *Liveness, path string) (score float64, took time.Duration, ok bool, err error) {
	img, err := ReadImage(path)
	if err != nil {
		return 0, 0, false, err
	}
	defer img.Close()
	score, took, ok, err = judgeSubject(p, l, img)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: %w", path, err)
	}
	return score, took, ok, nil
}

func judgeSubject(p *Pipeline, l *Liveness, img gocv.Mat) (score float64, took time.Duration, ok bool, err error) {
	as, err := p.Analyze(img)
	if err != nil {
		return 0, 0, false, err
	}
	i := SubjectFace(as)
	if i < 0 {
		return 0, 0, false, nil
	}
	t0 := time.Now()
	if score, err = (ImageJudge{Pipeline: p, Liveness: l}).Score(img, as[i].Face); err != nil {
		return 0, 0, false, err
	}
	return score, time.Since(t0), true, nil
}

// ImageJudge judges faces of camera frames: the matched face of a frame in
// the access loop (Score), the subject face (SubjectFace) of a frame
// captured for enrolment (JudgeJPEG). It scores the face with the box
// Pipeline.LivenessFace gives.
type ImageJudge struct {
	Pipeline *Pipeline
	Liveness *Liveness
}

// Score returns the live probability of face f of img (from Analyze).
func (j ImageJudge) Score(img gocv.Mat, f Face) (float64, error) {
	lf, err := j.Pipeline.LivenessFace(img, f)
	if err != nil {
		return 0, err
	}
	return j.Liveness.Score(img, lf)
}

// Live reports whether score passes the threshold.
func (j ImageJudge) Live(score float64) bool { return j.Liveness.Live(score) }

// JudgeJPEG decodes an image and returns its subject face's liveness score
// and whether that is live. An image without a usable face gives ErrNoFace.
func (j ImageJudge) JudgeJPEG(b []byte) (score float64, live bool, err error) {
	img, err := DecodeImage(b)
	if err != nil {
		return 0, false, err
	}
	defer img.Close()
	score, _, ok, err := judgeSubject(j.Pipeline, j.Liveness, img)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return 0, false, fmt.Errorf("%w passing the quality gates", ErrNoFace)
	}
	return score, j.Liveness.Live(score), nil
}

func scoreLiveness(rep *LivenessReport, scores map[string][]ScoredImage) {
	t := rep.Threshold
	values := func(s []ScoredImage) []float64 {
		v := make([]float64, len(s))
		for i, x := range s {
			v[i] = x.Score
		}
		sort.Float64s(v)
		return v
	}
	live := values(scores[BonaFideFolder])
	rep.BonaFide = len(live)
	_, rep.BPCER = rates(live, nil, t)
	rep.BonaFideRefused = int(math.Round(rep.BPCER * float64(len(live))))
	for _, x := range scores[BonaFideFolder] {
		if x.Score < t {
			rep.Rejected = append(rep.Rejected, x)
		}
	}
	var pooled []float64
	species := map[string][]float64{}
	maxAttack := math.Inf(-1)
	for folder := range rep.Images {
		if folder == BonaFideFolder {
			continue
		}
		v := values(scores[folder])
		species[folder] = v
		pooled = append(pooled, v...)
		rep.Attacks[folder] = len(v)
		apcer, _ := rates(nil, v, t)
		rep.APCER[folder] = apcer
		rep.AttacksAccepted[folder] = int(math.Round(apcer * float64(len(v))))
		if len(v) > 0 {
			maxAttack = math.Max(maxAttack, v[len(v)-1])
		}
		for _, x := range scores[folder] {
			if x.Score >= t {
				rep.Accepted = append(rep.Accepted, x)
			}
		}
	}
	sort.Float64s(pooled)
	rep.EER, rep.EERThreshold = eer(live, pooled)
	if !math.IsInf(maxAttack, -1) {
		rep.APCER0Threshold = math.Nextafter(maxAttack, 2)
		_, rep.APCER0BPCER = rates(live, nil, rep.APCER0Threshold)
	}
	for k := 1; k <= 19; k++ {
		st := float64(k) / 20
		_, b := rates(live, nil, st)
		pt := LivenessSweepPoint{Threshold: st, BPCER: b}
		for _, v := range species {
			a, _ := rates(nil, v, st)
			pt.MaxAPCER = math.Max(pt.MaxAPCER, a)
		}
		rep.Sweep = append(rep.Sweep, pt)
	}
	sort.Slice(rep.Accepted, func(i, j int) bool { return rep.Accepted[i].Score > rep.Accepted[j].Score })
	sort.Slice(rep.Rejected, func(i, j int) bool { return rep.Rejected[i].Score < rep.Rejected[j].Score })
}

package access

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/camera"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// Door is what the loop needs from the door controller (*door.Controller).
type Door interface {
	Unlock(ctx context.Context, d time.Duration, source, actor string) error
}

// Store is what the loop needs from the database (*facedb.DB).
type Store interface {
	Record(ctx context.Context, r facedb.Record) (facedb.Record, error)
	People(ctx context.Context) ([]facedb.Person, error)
	Templates(ctx context.Context, model string) ([]facedb.Template, error)
	LibraryRevision(ctx context.Context) (int64, error)
}

// Health receives the camera's health (*health.Tracker).
type Health interface {
	Set(component string, ok bool, detail string)
}

// Analyzer finds and embeds faces (*vision.Pipeline).
type Analyzer interface {
	Analyze(img gocv.Mat) ([]vision.Analysis, error)
	ModelID() string
}

// LivenessChecker judges a matched face live or a presentation attack
// (*vision.Liveness).
type LivenessChecker interface {
	Score(img gocv.Mat, f vision.Face) (float64, error)
	Live(score float64) bool
}

// Stats counts what the loop has done since it started.
type Stats struct {
	Captured  int64 // frames delivered by the source
	Processed int64 // frames analysed
	Dropped   int64 // frames replaced by a newer one before they were analysed
	BadFrames int64 // frames the source could not decode
	Faces     int64 // frames with a usable face
	Decisions int64 // events and alarms raised by faces
	Outages   int64 // camera_lost alarms
	Stale     int64 // frames analysed too late to count towards a decision
	// The frame budget (budget.go): frames detection ran on (the others
	// were skipped by the motion gate) and faces embedded.
	Analysed   int64
	Embeddings int64
	// CameraStuck is set while one call into the camera (open or read) has
	// been running for longer than the read timeout: a read hung inside
	// OpenCV (V4L2, GStreamer, FFmpeg) never returns, so the loop cannot
	// reopen the camera and only a restart helps (the systemd watchdog).
	CameraStuck bool
	CameraCall  time.Duration // how long the current camera call has been running (0: none)
}

// Loop runs the camera-to-decision loop. Create it with New, run it with Run.
type Loop struct {
	opt      Options
	vision   Analyzer
	db       Store
	door     Door
	health   Health
	log      *slog.Logger
	decider  *Decider
	budget   *budget // motion gate and tracker (budget.go); nil = every frame analysed whole
	library  *enrol.LiveGallery
	liveness LivenessChecker // nil: no liveness check
	snaps    Snapshots
	unlock   time.Duration
	cam      *camera.Supervisor
	prunePer time.Duration
	// staleAfter is the oldest a frame may be when its analysis ends for it
	// to count towards a decision (0: no limit): a loop that fell behind
	// (CPU taken by enrolment uploads, a slow machine) never opens the door
	// for a face that was in front of it seconds ago.
	staleAfter time.Duration
	lagNanos   atomic.Int64 // capture-to-analysed delay of the last frame
	lagAt      atomic.Int64 // unix nanos of that frame's analysis

	reload  chan struct{}
	running atomic.Bool

	storageLow bool

	live liveFrames

	stats struct {
		processed, faces, decisions, stale atomic.Int64
		livenessChecks, spoofFrames        atomic.Int64
		analysed, embeddings               atomic.Int64
	}
	fps       fpsMeter
	decisions *prometheus.CounterVec
}

// New builds a loop. db and p are required; d may be nil (no door: grants
// are recorded but nothing is unlocked) and h may be nil.
func New(o Options, p Analyzer, db Store, d Door, h Health, log *slog.Logger) (*Loop, error) {
	if p == nil || db == nil {
		return nil, errors.New("access: a vision pipeline and a database are required")
	}
	if o.Camera.FPS <= 0 {
		return nil, fmt.Errorf("access: camera frame rate %v is not positive", o.Camera.FPS)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loop{
		opt: o, vision: p, db: db, door: d, health: h, log: log.With("component", "access"),
		decider:    NewDecider(o.Policy),
		library:    enrol.NewLiveGallery(db, p.ModelID()),
		snaps:      o.Snapshots,
		unlock:     o.Unlock,
		cam:        camera.NewSupervisor(o.Camera, db, h, log),
		prunePer:   time.Minute,
		staleAfter: max(StaleAfter, time.Duration(3/o.Camera.FPS*float64(time.Second))),
		reload:     make(chan struct{}, 1),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facegate_access_decisions_total",
			Help: "Decisions of the camera loop by type (access_granted, access_denied, unknown_face, spoof_detected)."}, []string{"type"}),
	}
	if o.Budget.MotionGate || o.Budget.Tracking {
		b, err := newBudget(o.Budget, p, o.Policy)
		if err != nil {
			return nil, err
		}
		l.budget = b
	}
	return l, nil
}

// SetLiveness makes the loop judge the matched face of every frame that
// wins recognition; a grant then needs the winning frames to be live
// (liveness.max_spoof_frames). Call it before Run; nil turns the check off.
func (l *Loop) SetLiveness(c LivenessChecker) { l.liveness = c }

// Stats returns the counters.
func (l *Loop) Stats() Stats {
	c := l.cam.Stats()
	return Stats{
		Captured: c.Captured, Processed: l.stats.processed.Load(), Dropped: c.Dropped,
		BadFrames: c.BadFrames, Faces: l.stats.faces.Load(), Decisions: l.stats.decisions.Load(),
		Outages: c.Outages, CameraStuck: c.Stuck, CameraCall: c.Call, Stale: l.stats.stale.Load(),
		Analysed: l.stats.analysed.Load(), Embeddings: l.stats.embeddings.Load(),
	}
}

// StaleAfter is the capture-to-analysis delay beyond which a frame no
// longer counts towards a decision (or three frame intervals, if longer).
const StaleAfter = 2 * time.Second

// Run captures and decides until ctx is cancelled; it returns nil then. A
// lost camera, a bad frame or a failing database never ends it. It cannot be
// run twice at the same time.
func (l *Loop) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("access: loop already running")
	}
	defer l.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if err := l.loadGallery(ctx); err != nil {
		l.log.Error("access: loading the face library failed; retrying", "err", err)
	}
	l.setHealth(false, "starting")

	captureDone := make(chan struct{})
	go func() {
		defer close(captureDone)
		l.cam.Run(ctx)
	}()
	maintDone := make(chan struct{})
	go func() {
		defer close(maintDone)
		l.maintain(ctx)
	}()
	defer func() {
		cancel()
		<-maintDone
		<-captureDone // at most two seconds: Supervisor.Run does not wait longer for a blocked read
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.reload:
			if err := l.loadGallery(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("access: reloading the face library failed", "err", err)
			}
		case <-tick.C:
			l.pollLibrary(ctx)
			l.watchdog(ctx, time.Now())
		case <-l.cam.Ready():
			m, at, ok := l.cam.Take()
			if !ok {
				continue
			}
			l.safeProcess(ctx, m, at)
			m.Close()
		}
	}
}

// watchdog lets the camera supervisor catch a blocked read and reports the
// processed frame rate while the camera delivers.
func (l *Loop) watchdog(ctx context.Context, now time.Time) {
	if age, ok := l.cam.Watch(ctx, now); ok {
		if why, behind := l.behind(now); behind {
			l.setHealth(false, why)
			return
		}
		l.setHealth(true, fmt.Sprintf("%.1f fps processed, last frame %.1fs ago", l.fps.rate(now), age.Seconds()))
	}
}

// behind says whether the loop falls behind: its last frame (analysed
// within the last 5 s) was analysed too long after its capture.
func (l *Loop) behind(now time.Time) (string, bool) {
	lag, at := time.Duration(l.lagNanos.Load()), time.Unix(0, l.lagAt.Load())
	if l.staleAfter <= 0 || lag <= l.staleAfter || now.Sub(at) >= 5*time.Second {
		return "", false
	}
	return fmt.Sprintf("falling behind: frames analysed %.1fs after capture (limit %.1fs); no decisions on them, %.1f fps processed",
		lag.Seconds(), l.staleAfter.Seconds(), l.fps.rate(now)), true
}

func (l *Loop) setHealth(ok bool, detail string) {
	if l.health != nil {
		l.health.Set(camera.HealthComponent, ok, detail)
	}
}

// safeProcess keeps a panic in one frame from ending the loop.
func (l *Loop) safeProcess(ctx context.Context, m gocv.Mat, at time.Time) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("access: panic while processing a frame", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	l.process(ctx, m, at)
}

var (
	colGrant   = color.RGBA{0, 200, 0, 0}
	colDeny    = color.RGBA{0, 0, 230, 0}
	colUnknown = color.RGBA{0, 200, 255, 0}
	colOther   = color.RGBA{160, 160, 160, 0}
	colSpoof   = color.RGBA{200, 0, 200, 0}
)

// process analyses one frame (which it annotates in place), runs the
// decider, and acts on a decision. With the frame budget (budget.go) the
// motion gate may skip the frame, and the tracker decides per face.
func (l *Loop) process(ctx context.Context, m gocv.Mat, at time.Time) {
	l.stats.processed.Add(1)
	l.fps.add(at)
	if l.skip(m, at) {
		l.skipped(m, at)
		return
	}
	l.stats.analysed.Add(1)
	if l.budget != nil && l.budget.tracker != nil {
		l.processTracked(ctx, m, at)
		return
	}
	as, err := l.vision.Analyze(m)
	if err != nil {
		l.log.Debug("access: frame not analysed", "err", err)
	}
	l.stats.embeddings.Add(int64(len(as)))
	o := Observation{Time: at}
	best := -1
	for i, a := range as {
		if a.Embedding != nil {
			best = i
			break
		}
	}
	if best >= 0 {
		mt := l.library.Gallery().MatchAny(as[best].Embedding)
		o.Face = true
		o.PersonID, o.Name, o.Score, o.SecondScore = mt.PersonID, mt.Name, float64(mt.Score), float64(mt.SecondScore)
		o.Active, o.DenyReason = l.active(mt, at)
		l.stats.faces.Add(1)
		if l.liveness != nil && l.decider.Policy().Wins(o) {
			l.judgeLiveness(m, as[best].Face, &o)
		}
	}
	var decs []Decision
	if l.fresh(at) {
		if dec, ok := l.decider.Observe(o); ok {
			decs = append(decs, dec)
		}
	}

	l.live.keepRaw(m, at)
	// annotate
	pol := l.decider.Policy()
	for i, a := range as {
		col, label := colOther, a.Quality.Reason
		if i == best {
			col, label = faceLabel(pol, o)
		}
		drawFace(&m, a.Face.Box, col, label)
	}
	l.finish(ctx, m, at, decs)
}

// fresh records how long after its capture a frame's analysis ended and
// says whether it is recent enough to count towards a decision.
func (l *Loop) fresh(at time.Time) bool {
	lag := time.Since(at)
	l.lagNanos.Store(int64(lag))
	l.lagAt.Store(time.Now().UnixNano())
	if l.staleAfter > 0 && lag > l.staleAfter {
		// Analysed too late: the person may have left; a decision now
		// would open the door for someone seen seconds ago.
		l.stats.stale.Add(1)
		l.log.Debug("access: stale frame not used for a decision", "lag", lag.Round(time.Millisecond))
		return false
	}
	return true
}

// faceLabel is the colour and label of a matched face on the live view.
func faceLabel(pol Policy, o Observation) (colour, string) {
	switch {
	case o.Spoof:
		return colSpoof, fmt.Sprintf("attack? %s %.2f live %.2f", o.Name, o.Score, o.Liveness)
	case pol.Wins(o) && o.Active:
		return colGrant, fmt.Sprintf("%s %.2f", o.Name, o.Score)
	case pol.Wins(o):
		return colDeny, fmt.Sprintf("%s %.2f %s", o.Name, o.Score, o.DenyReason)
	case pol.Unknown(o):
		return colUnknown, fmt.Sprintf("unknown %.2f", o.Score)
	}
	return colUnknown, fmt.Sprintf("unsure %s %.2f", o.Name, o.Score)
}

type colour = color.RGBA

// drawFace draws a face box and its label on the live view.
func drawFace(m *gocv.Mat, box image.Rectangle, col colour, label string) {
	thick := max(2, m.Cols()/320)
	gocv.Rectangle(m, box, col, thick)
	y := box.Min.Y - 6
	if y < 16 {
		y = box.Max.Y + 18
	}
	gocv.PutText(m, label, image.Pt(box.Min.X, y), gocv.FontHersheySimplex, 0.5*float64(thick)/2, col, thick/2+1)
}

// finish writes the decisions' banner, publishes the annotated frame on the
// live view and acts on each decision (with that frame as its snapshot).
// With the frame budget, frames without a decision reach the live view at
// most every liveEvery.
func (l *Loop) finish(ctx context.Context, m gocv.Mat, at time.Time, decs []Decision) {
	for i, dec := range decs {
		col := map[Verdict]color.RGBA{Granted: colGrant, Denied: colDeny, Stranger: colUnknown, Spoof: colSpoof}[dec.Verdict]
		gocv.PutText(&m, dec.Verdict.String()+" "+dec.Name, image.Pt(10, 30+30*i), gocv.FontHersheySimplex, 0.8, col, 2)
	}
	var jpeg []byte
	if len(decs) > 0 || l.budget == nil || l.budget.liveDue(at, liveEvery) {
		jpeg = l.live.keepAnnotated(m, at)
	}
	for _, dec := range decs {
		l.stats.decisions.Add(1)
		l.decisions.WithLabelValues(dec.Verdict.String()).Inc()
		l.act(ctx, dec, jpeg)
	}
}

// judgeLiveness scores the matched face (before the frame is annotated). A
// failed check counts as an attack: the door stays shut.
func (l *Loop) judgeLiveness(m gocv.Mat, f vision.Face, o *Observation) {
	s, err := l.liveness.Score(m, f)
	if err != nil {
		l.log.Warn("access: liveness check failed; the frame counts as an attack", "err", err)
		s = 0
	}
	o.LivenessChecked, o.Liveness = true, s
	o.Spoof = err != nil || !l.liveness.Live(s)
	l.stats.livenessChecks.Add(1)
	if o.Spoof {
		l.stats.spoofFrames.Add(1)
	}
}

// act unlocks the door for a grant and records the decision with its snapshot.
func (l *Loop) act(ctx context.Context, dec Decision, jpeg []byte) {
	r := facedb.Record{Kind: event.KindEvent, TS: dec.Time, Type: dec.Verdict.String(), PersonID: dec.PersonID, Name: dec.Name,
		Score: dec.Score, Reason: dec.Reason, Source: event.SourceFace, Detail: map[string]any{"frames": dec.Frames}}
	switch dec.Verdict {
	case Granted:
		if l.door != nil {
			if err := l.door.Unlock(ctx, l.unlock, event.SourceFace, dec.Name); err != nil {
				l.log.Error("access: unlocking the door failed", "person", dec.Name, "err", err)
				r.Detail["unlock_error"] = err.Error()
			}
		}
		l.log.Info("access: granted", "person", dec.Name, "id", dec.PersonID, "score", fmt.Sprintf("%.3f", dec.Score))
	case Denied:
		l.log.Info("access: denied", "person", dec.Name, "id", dec.PersonID, "reason", dec.Reason)
	case Stranger:
		r.Kind = event.KindAlarm
		l.log.Info("access: unknown face", "best_score", fmt.Sprintf("%.3f", dec.Score))
	case Spoof:
		r.Kind = event.KindAlarm
		l.log.Warn("access: presentation attack, no grant", "person", dec.Name, "id", dec.PersonID,
			"score", fmt.Sprintf("%.3f", dec.Score), "liveness", fmt.Sprintf("%.3f", dec.Liveness),
			"spoof_frames", dec.SpoofFrames, "frames", dec.Frames)
	}
	if len(dec.LivenessScores) > 0 {
		times := make([]string, len(dec.FrameTimes))
		for i, t := range dec.FrameTimes {
			times[i] = event.Stamp(t)
		}
		r.Detail["liveness"] = dec.Liveness
		r.Detail["liveness_scores"] = dec.LivenessScores
		r.Detail["frame_times"] = times
		r.Detail["spoof_frames"] = dec.SpoofFrames
	}
	if jpeg != nil {
		path, err := l.snaps.Save(jpeg, dec.Time)
		if err != nil {
			// a full disk must not lose the event: record it without a snapshot
			l.log.Error("access: snapshot not saved; recording the event without it", "err", err)
			r.Detail["snapshot_error"] = err.Error()
		} else {
			r.Snapshot = path
		}
	}
	l.record(ctx, r)
}

func (l *Loop) record(ctx context.Context, r facedb.Record) {
	// A decision made while the daemon stops is still recorded (facedb.Record
	// commits regardless of ctx), and a failure is never silent.
	if _, err := l.db.Record(context.WithoutCancel(ctx), r); err != nil {
		l.log.Error("access: recording failed", "type", r.Type, "err", err)
	}
}

// maintain prunes snapshots and watches free disk space.
func (l *Loop) maintain(ctx context.Context) {
	t := time.NewTicker(l.prunePer)
	defer t.Stop()
	for {
		l.housekeep(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Loop) housekeep(ctx context.Context, now time.Time) {
	res, err := l.snaps.Prune(now)
	if err != nil {
		l.log.Warn("access: pruning snapshots", "err", err)
	}
	if res.Removed > 0 {
		l.log.Info("access: pruned snapshots", "removed", res.Removed, "freed_mb", float64(res.RemovedBytes)/(1<<20),
			"kept", res.Files, "kept_mb", float64(res.Bytes)/(1<<20))
	}
	free, err := FreeBytes(l.snaps.Dir)
	if err != nil {
		l.log.Warn("access: checking free space", "err", err)
		return
	}
	limit := uint64(l.opt.StorageLowMB * (1 << 20))
	low := free < limit
	if low && !l.storageLow {
		l.log.Warn("access: storage low", "free_mb", free>>20, "limit_mb", l.opt.StorageLowMB)
		l.record(ctx, facedb.Record{Kind: event.KindAlarm, Type: event.StorageLow, Source: event.SourceSystem,
			Reason: fmt.Sprintf("%d MB free under %s, limit %.0f MB", free>>20, l.snaps.Dir, l.opt.StorageLowMB),
			Detail: map[string]any{"free_mb": free >> 20, "path": l.snaps.Dir}})
	} else if !low && l.storageLow {
		l.log.Info("access: storage no longer low", "free_mb", free>>20)
	}
	l.storageLow = low
}

// fpsMeter measures the processed frame rate over the last few seconds.
type fpsMeter struct {
	mu    sync.Mutex
	times []time.Time
}

func (f *fpsMeter) add(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.times = append(f.times, t)
	if len(f.times) > 256 {
		f.times = append(f.times[:0], f.times[len(f.times)-128:]...)
	}
}

func (f *fpsMeter) rate(now time.Time) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	const span = 5 * time.Second
	n := 0
	var first time.Time
	for i := len(f.times) - 1; i >= 0 && now.Sub(f.times[i]) <= span; i-- {
		n++
		first = f.times[i]
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / now.Sub(first).Seconds()
}

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

// HealthComponent is the health tracker's name for the camera.
const HealthComponent = "camera"

// Stats counts what the loop has done since it started.
type Stats struct {
	Captured  int64 // frames delivered by the source
	Processed int64 // frames analysed
	Dropped   int64 // frames replaced by a newer one before they were analysed
	BadFrames int64 // frames the source could not decode
	Faces     int64 // frames with a usable face
	Decisions int64 // events and alarms raised by faces
	Outages   int64 // camera_lost alarms
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
	library  *enrol.LiveGallery
	snaps    Snapshots
	unlock   time.Duration
	stall    time.Duration
	openSrc  func(ctx context.Context) (camera.Source, error)
	prunePer time.Duration

	reload  chan struct{}
	running atomic.Bool

	// newest captured frame, not yet processed
	slotMu   sync.Mutex
	slot     gocv.Mat
	slotAt   time.Time
	slotFull bool
	ready    chan struct{}

	// camera state, shared by the capture goroutine and the watchdog
	camMu     sync.Mutex
	outage    bool
	outageAt  time.Time
	lastFrame time.Time
	ended     bool

	storageLow bool

	jpegMu sync.Mutex
	jpeg   []byte
	jpegAt time.Time

	// Raw (unannotated) frames are encoded only while someone asks for
	// them (enrolment from the live camera), not for every frame.
	rawWanted atomic.Int64 // wall clock (unix ns) of the last LatestRawJPEG call
	rawMu     sync.Mutex
	raw       []byte
	rawAt     time.Time // capture time
	rawMade   time.Time // wall clock when it was encoded

	stats struct {
		captured, processed, dropped, bad, faces, decisions, outages atomic.Int64
		cameraCall                                                   atomic.Int64 // unix nanos the current camera open/read began, 0 if none
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
		decider:  NewDecider(o.Policy),
		library:  enrol.NewLiveGallery(db, p.ModelID()),
		snaps:    o.Snapshots,
		unlock:   o.Unlock,
		stall:    o.Camera.Stall,
		prunePer: time.Minute,
		reload:   make(chan struct{}, 1),
		ready:    make(chan struct{}, 1),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facegate_access_decisions_total",
			Help: "Decisions of the camera loop by type (access_granted, access_denied, unknown_face)."}, []string{"type"}),
	}
	l.openSrc = func(ctx context.Context) (camera.Source, error) { return camera.Open(ctx, o.Camera) }
	return l, nil
}

// Stats returns the counters.
func (l *Loop) Stats() Stats {
	st := Stats{
		Captured: l.stats.captured.Load(), Processed: l.stats.processed.Load(), Dropped: l.stats.dropped.Load(),
		BadFrames: l.stats.bad.Load(), Faces: l.stats.faces.Load(), Decisions: l.stats.decisions.Load(),
		Outages: l.stats.outages.Load(),
	}
	if began := l.stats.cameraCall.Load(); began != 0 {
		st.CameraCall = time.Since(time.Unix(0, began))
		st.CameraStuck = st.CameraCall > l.readTimeout()+time.Second
	}
	return st
}

// readTimeout is how long one camera read may take before the camera counts
// as stalled (and is reopened, when the read returns at all).
func (l *Loop) readTimeout() time.Duration {
	return max(l.stall, seconds(2/l.opt.Camera.FPS)) // a slow playlist is not a stalled camera
}

// inCamera marks a call into the camera as running until the returned func.
func (l *Loop) inCamera() func() {
	l.stats.cameraCall.Store(time.Now().UnixNano())
	return func() { l.stats.cameraCall.Store(0) }
}

// LatestJPEG returns the newest annotated frame (nil before the first) and
// when it was captured. The slice must not be modified.
func (l *Loop) LatestJPEG() ([]byte, time.Time) {
	l.jpegMu.Lock()
	defer l.jpegMu.Unlock()
	return l.jpeg, l.jpegAt
}

// rawWindow is how long after a LatestRawJPEG call the loop keeps encoding
// raw frames, and how old a raw frame may be to be returned at once.
const rawWindow = 10 * time.Second

// LatestRawJPEG returns the newest camera frame without the drawn boxes and
// labels (for enrolment from the live camera) and when it was captured. The
// loop encodes raw frames only on demand: the first call after a pause waits
// up to two seconds for the next processed frame, and returns nil when none
// comes.
func (l *Loop) LatestRawJPEG() ([]byte, time.Time) {
	asked := time.Now()
	l.rawWanted.Store(asked.UnixNano())
	deadline := asked.Add(2 * time.Second)
	for {
		l.rawMu.Lock()
		b, at, made := l.raw, l.rawAt, l.rawMade
		l.rawMu.Unlock()
		if b != nil && time.Since(made) < rawWindow {
			return b, at
		}
		if time.Now().After(deadline) {
			return nil, time.Time{}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keepRaw encodes the unannotated frame while LatestRawJPEG is in use.
func (l *Loop) keepRaw(m gocv.Mat, at time.Time) {
	w := l.rawWanted.Load()
	if w == 0 || time.Since(time.Unix(0, w)) > rawWindow {
		return
	}
	if b := encodeJPEG(m); b != nil {
		l.rawMu.Lock()
		l.raw, l.rawAt, l.rawMade = b, at, time.Now()
		l.rawMu.Unlock()
	}
}

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
		l.capture(ctx)
	}()
	maintDone := make(chan struct{})
	go func() {
		defer close(maintDone)
		l.maintain(ctx)
	}()
	defer func() {
		cancel()
		<-maintDone
		// V4L2/GStreamer reads block inside OpenCV; do not let one hold up shutdown.
		select {
		case <-captureDone:
		case <-time.After(2 * time.Second):
			l.log.Warn("access: camera read still blocked at shutdown; leaving it")
		}
		l.slotMu.Lock()
		if l.slotFull {
			l.slot.Close()
			l.slotFull = false
		}
		l.slotMu.Unlock()
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
		case <-l.ready:
			m, at, ok := l.take()
			if !ok {
				continue
			}
			l.safeProcess(ctx, m, at)
			m.Close()
		}
	}
}

// offer stores the newest frame, dropping an unprocessed older one.
func (l *Loop) offer(m gocv.Mat, at time.Time) {
	l.slotMu.Lock()
	if l.slotFull {
		l.slot.Close()
		l.stats.dropped.Add(1)
	}
	l.slot, l.slotAt, l.slotFull = m, at, true
	l.slotMu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

func (l *Loop) take() (gocv.Mat, time.Time, bool) {
	l.slotMu.Lock()
	defer l.slotMu.Unlock()
	if !l.slotFull {
		return gocv.Mat{}, time.Time{}, false
	}
	l.slotFull = false
	return l.slot, l.slotAt, true
}

// capture opens the source and feeds frames into the slot, reopening with
// back-off after errors and stalls.
func (l *Loop) capture(ctx context.Context) {
	const minBackoff = 250 * time.Millisecond
	maxBackoff := max(l.opt.Camera.ReopenMax, minBackoff)
	backoff := minBackoff
	readTimeout := l.readTimeout()
	for ctx.Err() == nil {
		done := l.inCamera()
		src, err := l.openSrc(ctx)
		done()
		if err != nil {
			l.lost(ctx, err)
		} else {
			l.log.Info("access: camera opened", "source", l.opt.Camera.Source)
			err = l.readAll(ctx, src, readTimeout, &backoff, minBackoff)
			src.Close()
			if errors.Is(err, camera.ErrEnd) {
				l.camMu.Lock()
				l.ended = true
				l.camMu.Unlock()
				l.log.Info("access: camera source ended (loop = false)", "source", l.opt.Camera.Source)
				l.setHealth(false, "source ended")
				<-ctx.Done()
				return
			}
			if ctx.Err() != nil {
				return
			}
			l.lost(ctx, err)
		}
		l.log.Debug("access: reopening camera", "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (l *Loop) readAll(ctx context.Context, src camera.Source, timeout time.Duration, backoff *time.Duration, minBackoff time.Duration) error {
	lastGood := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		done := l.inCamera()
		m, err := src.Read(rctx)
		done()
		cancel()
		now := time.Now()
		switch {
		case err == nil:
			lastGood = now
			*backoff = minBackoff
			l.stats.captured.Add(1)
			l.gotFrame(now)
			l.offer(m, now)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, camera.ErrBadFrame):
			l.stats.bad.Add(1)
			l.log.Debug("access: skipping bad frame", "err", err)
			if now.Sub(lastGood) > timeout {
				return fmt.Errorf("access: camera delivers only bad frames: %w", err)
			}
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("access: camera delivered no frame for %v", timeout.Round(time.Millisecond))
		default:
			return err
		}
	}
}

// gotFrame ends an outage.
func (l *Loop) gotFrame(now time.Time) {
	l.camMu.Lock()
	was, since := l.outage, l.outageAt
	l.outage, l.lastFrame, l.ended = false, now, false
	l.camMu.Unlock()
	if was {
		l.log.Info("access: camera recovered", "source", l.opt.Camera.Source, "after", now.Sub(since).Round(time.Millisecond))
		l.setHealth(true, "recovered")
	}
}

// lost raises camera_lost once per outage.
func (l *Loop) lost(ctx context.Context, cause error) {
	if ctx.Err() != nil {
		return
	}
	l.camMu.Lock()
	first := !l.outage
	if first {
		l.outage, l.outageAt = true, time.Now()
	}
	l.camMu.Unlock()
	l.setHealth(false, "lost: "+cause.Error())
	if !first {
		l.log.Debug("access: camera still lost", "err", cause)
		return
	}
	l.stats.outages.Add(1)
	l.log.Warn("access: camera lost", "source", l.opt.Camera.Source, "err", cause)
	l.record(ctx, facedb.Record{Kind: event.KindAlarm, Type: event.CameraLost, Source: event.SourceCamera, Reason: cause.Error(),
		Detail: map[string]any{"source": l.opt.Camera.Source}})
}

// watchdog publishes camera health and catches a read blocked inside OpenCV.
func (l *Loop) watchdog(ctx context.Context, now time.Time) {
	if st := l.Stats(); st.CameraStuck {
		l.lost(ctx, fmt.Errorf("access: a camera call has been blocked for %v (inside OpenCV: only a restart helps)", st.CameraCall.Round(time.Second)))
		return
	}
	l.camMu.Lock()
	outage, ended, last := l.outage, l.ended, l.lastFrame
	l.camMu.Unlock()
	if outage || ended {
		return
	}
	if last.IsZero() {
		return
	}
	age := now.Sub(last)
	limit := max(l.stall, seconds(2/l.opt.Camera.FPS)) + time.Second
	if age > limit {
		l.lost(ctx, fmt.Errorf("access: no frame for %v", age.Round(time.Millisecond)))
		return
	}
	l.setHealth(true, fmt.Sprintf("%.1f fps processed, last frame %.1fs ago", l.fps.rate(now), age.Seconds()))
}

func (l *Loop) setHealth(ok bool, detail string) {
	if l.health != nil {
		l.health.Set(HealthComponent, ok, detail)
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
)

// process analyses one frame (which it annotates in place), runs the
// decider, and acts on a decision.
func (l *Loop) process(ctx context.Context, m gocv.Mat, at time.Time) {
	l.stats.processed.Add(1)
	l.fps.add(at)
	as, err := l.vision.Analyze(m)
	if err != nil {
		l.log.Debug("access: frame not analysed", "err", err)
	}
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
	}
	dec, decided := l.decider.Observe(o)

	l.keepRaw(m, at)
	// annotate
	pol := l.decider.Policy()
	for i, a := range as {
		col, label := colOther, a.Quality.Reason
		if i == best {
			switch {
			case pol.Wins(o) && o.Active:
				col, label = colGrant, fmt.Sprintf("%s %.2f", o.Name, o.Score)
			case pol.Wins(o):
				col, label = colDeny, fmt.Sprintf("%s %.2f %s", o.Name, o.Score, o.DenyReason)
			case pol.Unknown(o):
				col, label = colUnknown, fmt.Sprintf("unknown %.2f", o.Score)
			default:
				col, label = colUnknown, fmt.Sprintf("unsure %s %.2f", o.Name, o.Score)
			}
		}
		thick := max(2, m.Cols()/320)
		gocv.Rectangle(&m, a.Face.Box, col, thick)
		y := a.Face.Box.Min.Y - 6
		if y < 16 {
			y = a.Face.Box.Max.Y + 18
		}
		gocv.PutText(&m, label, image.Pt(a.Face.Box.Min.X, y), gocv.FontHersheySimplex, 0.5*float64(thick)/2, col, thick/2+1)
	}
	if decided {
		col := map[Verdict]color.RGBA{Granted: colGrant, Denied: colDeny, Stranger: colUnknown}[dec.Verdict]
		gocv.PutText(&m, dec.Verdict.String()+" "+dec.Name, image.Pt(10, 30), gocv.FontHersheySimplex, 0.8, col, 2)
	}
	jpeg := encodeJPEG(m)
	if jpeg != nil {
		l.jpegMu.Lock()
		l.jpeg, l.jpegAt = jpeg, at
		l.jpegMu.Unlock()
	}
	if decided {
		l.stats.decisions.Add(1)
		l.decisions.WithLabelValues(dec.Verdict.String()).Inc()
		l.act(ctx, dec, jpeg)
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

func encodeJPEG(m gocv.Mat) []byte {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
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

package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

// HealthComponent is the health tracker's name for the camera.
const HealthComponent = "camera"

// Journal records the camera_lost alarm (*facedb.DB).
type Journal interface {
	Record(ctx context.Context, r facedb.Record) (facedb.Record, error)
}

// Health receives the camera's health (*health.Tracker).
type Health interface {
	Set(component string, ok bool, detail string)
}

// SupervisorStats counts what a Supervisor has done since it started.
type SupervisorStats struct {
	Captured  int64 // frames delivered by the source
	Dropped   int64 // frames replaced by a newer one before they were taken
	BadFrames int64 // frames the source could not decode
	Outages   int64 // camera_lost alarms
	// Stuck is set while one call into the camera (open or read) has been
	// running for longer than the read timeout plus a second: a read hung
	// inside OpenCV (V4L2, GStreamer, FFmpeg) never returns, so the camera
	// cannot be reopened and only a restart helps (the systemd watchdog).
	Stuck bool
	Call  time.Duration // how long the current camera call has been running (0: none)
}

// Supervisor keeps a camera open and its newest frame at hand: it reads
// frames into a one-frame slot (a newer frame replaces one not yet taken, so
// a slow consumer always gets the newest), reopens the source with back-off
// after errors and stalls, and raises one camera_lost alarm per outage. A
// lost camera never ends it.
type Supervisor struct {
	o       Options
	open    func(ctx context.Context) (Source, error)
	journal Journal
	health  Health
	log     *slog.Logger

	slotMu   sync.Mutex
	slot     gocv.Mat
	slotAt   time.Time
	slotFull bool
	ready    chan struct{}

	// camera state, shared by the reading goroutine and Watch
	mu        sync.Mutex
	outage    bool
	outageAt  time.Time
	lastFrame time.Time
	ended     bool

	captured, dropped, bad, outages atomic.Int64
	call                            atomic.Int64 // unix nanos the current open/read began, 0 if none
}

// NewSupervisor returns a supervisor of the camera o names; j and h may be
// nil.
func NewSupervisor(o Options, j Journal, h Health, log *slog.Logger) *Supervisor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{o: o, journal: j, health: h, log: log, ready: make(chan struct{}, 1)}
	s.open = func(ctx context.Context) (Source, error) { return Open(ctx, o) }
	return s
}

// Stats returns the counters.
func (s *Supervisor) Stats() SupervisorStats {
	st := SupervisorStats{Captured: s.captured.Load(), Dropped: s.dropped.Load(), BadFrames: s.bad.Load(), Outages: s.outages.Load()}
	if began := s.call.Load(); began != 0 {
		st.Call = time.Since(time.Unix(0, began))
		st.Stuck = st.Call > s.readTimeout()+time.Second
	}
	return st
}

// inCamera marks a call into the camera as running until the returned func.
func (s *Supervisor) inCamera() func() {
	s.call.Store(time.Now().UnixNano())
	return func() { s.call.Store(0) }
}

// LastFrame is when the newest frame arrived (zero before the first).
func (s *Supervisor) LastFrame() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastFrame
}

// Ready is signalled (capacity one) when a frame is waiting to be taken.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Take returns the newest frame, which the caller closes, and when it was
// captured; false when none is waiting.
func (s *Supervisor) Take() (gocv.Mat, time.Time, bool) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	if !s.slotFull {
		return gocv.Mat{}, time.Time{}, false
	}
	s.slotFull = false
	return s.slot, s.slotAt, true
}

// offer stores the newest frame, dropping an untaken older one.
func (s *Supervisor) offer(m gocv.Mat, at time.Time) {
	s.slotMu.Lock()
	if s.slotFull {
		s.slot.Close()
		s.dropped.Add(1)
	}
	s.slot, s.slotAt, s.slotFull = m, at, true
	s.slotMu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// discard closes a frame left in the slot.
func (s *Supervisor) discard() {
	s.slotMu.Lock()
	if s.slotFull {
		s.slot.Close()
		s.slotFull = false
	}
	s.slotMu.Unlock()
}

// Run opens the source and feeds frames into the slot until ctx is
// cancelled, reopening with back-off (doubling up to ReopenMax) after
// errors and stalls. A V4L2 or GStreamer read blocked inside OpenCV does not
// hold up the return for more than two seconds. The frame left in the slot
// is closed on return.
func (s *Supervisor) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.capture(ctx)
	}()
	<-ctx.Done()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		s.log.Warn("camera: read still blocked at shutdown; leaving it")
	}
	s.discard()
}

// readTimeout is how long a read may take before the camera counts as
// stalled: Stall, or two frame intervals of a slow playlist.
func (s *Supervisor) readTimeout() time.Duration {
	t := s.o.Stall
	if s.o.FPS > 0 {
		if iv := time.Duration(2 / s.o.FPS * float64(time.Second)); iv > t {
			t = iv // a slow playlist is not a stalled camera
		}
	}
	return t
}

func (s *Supervisor) capture(ctx context.Context) {
	const minBackoff = 250 * time.Millisecond
	maxBackoff := max(s.o.ReopenMax, minBackoff)
	backoff := minBackoff
	readTimeout := s.readTimeout()
	for ctx.Err() == nil {
		done := s.inCamera()
		src, err := s.open(ctx)
		done()
		if err != nil {
			s.lost(ctx, err)
		} else {
			s.log.Info("camera: opened", "source", s.o.Source)
			err = s.readAll(ctx, src, readTimeout, &backoff, minBackoff)
			src.Close()
			if errors.Is(err, ErrEnd) {
				s.mu.Lock()
				s.ended = true
				s.mu.Unlock()
				s.log.Info("camera: source ended (loop = false)", "source", s.o.Source)
				s.setHealth(false, "source ended")
				<-ctx.Done()
				return
			}
			if ctx.Err() != nil {
				return
			}
			s.lost(ctx, err)
		}
		s.log.Debug("camera: reopening", "in", backoff)
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

func (s *Supervisor) readAll(ctx context.Context, src Source, timeout time.Duration, backoff *time.Duration, minBackoff time.Duration) error {
	lastGood := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		done := s.inCamera()
		m, err := src.Read(rctx)
		done()
		cancel()
		now := time.Now()
		switch {
		case err == nil:
			lastGood = now
			*backoff = minBackoff
			s.captured.Add(1)
			s.gotFrame(now)
			s.offer(m, now)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrBadFrame):
			s.bad.Add(1)
			s.log.Debug("camera: skipping bad frame", "err", err)
			if now.Sub(lastGood) > timeout {
				return fmt.Errorf("camera: delivers only bad frames: %w", err)
			}
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("camera: delivered no frame for %v", timeout.Round(time.Millisecond))
		default:
			return err
		}
	}
}

// gotFrame ends an outage.
func (s *Supervisor) gotFrame(now time.Time) {
	s.mu.Lock()
	was, since := s.outage, s.outageAt
	s.outage, s.lastFrame, s.ended = false, now, false
	s.mu.Unlock()
	if was {
		s.log.Info("camera: recovered", "source", s.o.Source, "after", now.Sub(since).Round(time.Millisecond))
		s.setHealth(true, "recovered")
	}
}

// lost raises camera_lost once per outage.
func (s *Supervisor) lost(ctx context.Context, cause error) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	first := !s.outage
	if first {
		s.outage, s.outageAt = true, time.Now()
	}
	s.mu.Unlock()
	s.setHealth(false, "lost: "+cause.Error())
	if !first {
		s.log.Debug("camera: still lost", "err", cause)
		return
	}
	s.outages.Add(1)
	s.log.Warn("camera: lost", "source", s.o.Source, "err", cause)
	if s.journal == nil {
		return
	}
	if _, err := s.journal.Record(ctx, facedb.Record{Kind: event.KindAlarm, Type: event.CameraLost, Source: event.SourceCamera,
		Reason: cause.Error(), Detail: map[string]any{"source": s.o.Source}}); err != nil && ctx.Err() == nil {
		s.log.Error("camera: recording camera_lost failed", "err", err)
	}
}

// Watch catches a read blocked inside OpenCV: called periodically, it
// raises camera_lost when a camera call is stuck (Stats) or no frame came
// for longer than the read timeout plus a second. It returns the age of the newest frame and whether the
// camera is delivering (false during an outage, after the end of a
// non-looping source and before the first frame).
func (s *Supervisor) Watch(ctx context.Context, now time.Time) (time.Duration, bool) {
	if st := s.Stats(); st.Stuck {
		s.lost(ctx, fmt.Errorf("camera: a camera call has been blocked for %v (inside OpenCV: only a restart helps)", st.Call.Round(time.Second)))
		return 0, false
	}
	s.mu.Lock()
	outage, ended, last := s.outage, s.ended, s.lastFrame
	s.mu.Unlock()
	if outage || ended || last.IsZero() {
		return 0, false
	}
	age := now.Sub(last)
	if age > s.readTimeout()+time.Second {
		s.lost(ctx, fmt.Errorf("camera: no frame for %v", age.Round(time.Millisecond)))
		return age, false
	}
	return age, true
}

func (s *Supervisor) setHealth(ok bool, detail string) {
	if s.health != nil {
		s.health.Set(HealthComponent, ok, detail)
	}
}

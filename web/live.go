package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/event"
)

// Door is what the live view needs from the door controller
// (*door.Controller satisfies it).
type Door interface {
	Unlock(ctx context.Context, d time.Duration, source, actor string) error
	State() door.State
	SimContact(open bool) error
	SimExitPress() error
}

// doorJSON is /api/door.
type doorJSON struct {
	Door          string     `json:"door"` // locked or unlocked
	Locked        bool       `json:"locked"`
	Contact       string     `json:"contact"`
	UnlockedUntil *time.Time `json:"unlocked_until,omitempty"`
	Sim           bool       `json:"sim"`
	ForcedOpen    bool       `json:"forced_open"`
	HeldOpen      bool       `json:"held_open"`
	Demo          bool       `json:"demo"`
}

func (s *Server) livePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "live", map[string]any{
		"HasDoor":   s.deps.Door != nil,
		"HasCamera": s.deps.Frames != nil,
		"DemoDoor":  s.cfg.Demo && s.deps.Door != nil && s.deps.Door.State().Sim,
		"UnlockS":   s.cfg.Door.UnlockSeconds,
	})
}

func (s *Server) apiDoor(w http.ResponseWriter, r *http.Request) {
	if s.deps.Door == nil {
		writeError(w, http.StatusServiceUnavailable, "no door controller")
		return
	}
	st := s.deps.Door.State()
	j := doorJSON{Door: st.DoorState(), Locked: st.Locked, Contact: st.Contact, Sim: st.Sim,
		ForcedOpen: st.ForcedOpen, HeldOpen: st.HeldOpen, Demo: s.cfg.Demo}
	if !st.UnlockedUntil.IsZero() {
		t := st.UnlockedUntil
		j.UnlockedUntil = &t
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) apiUnlock(w http.ResponseWriter, r *http.Request) {
	if s.deps.Door == nil {
		writeError(w, http.StatusServiceUnavailable, "no door controller")
		return
	}
	user, _ := userFrom(r.Context())
	d := time.Duration(s.cfg.Door.UnlockSeconds * float64(time.Second))
	// The controller records the relay action in the audit log with source
	// "web" and the user as actor.
	if err := s.deps.Door.Unlock(r.Context(), d, event.SourceWeb, user); err != nil {
		s.log.Error("web unlock failed", "user", user, "err", err)
		writeError(w, http.StatusInternalServerError, "unlock failed: "+err.Error())
		return
	}
	s.log.Info("door unlocked from the web page", "user", user, "seconds", d.Seconds())
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "seconds": d.Seconds()})
}

// simAllowed answers the demo-only door controls.
func (s *Server) simAllowed(w http.ResponseWriter) bool {
	if s.deps.Door == nil {
		writeError(w, http.StatusServiceUnavailable, "no door controller")
		return false
	}
	if !s.cfg.Demo || !s.deps.Door.State().Sim {
		writeError(w, http.StatusForbidden, "simulated door inputs are only available in demo mode with gpio = \"sim\"")
		return false
	}
	return true
}

func (s *Server) apiSimContact(w http.ResponseWriter, r *http.Request) {
	if !s.simAllowed(w) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	open, err := strconv.ParseBool(r.PostFormValue("open"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "open must be true or false")
		return
	}
	if err := s.deps.Door.SimContact(open); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) apiSimExit(w http.ResponseWriter, r *http.Request) {
	if !s.simAllowed(w) {
		return
	}
	if err := s.deps.Door.SimExitPress(); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// latestFrame prefers an unannotated frame when the source offers one.
func (s *Server) latestFrame(ctx context.Context, raw bool) ([]byte, time.Time) {
	if raw {
		if rf, ok := s.deps.Frames.(rawFrames); ok {
			return rf.LatestRawJPEG(ctx)
		}
	}
	return s.deps.Frames.LatestJPEG()
}

// apiCapture returns the current camera frame as a JPEG, for enrolment from
// the live camera.
func (s *Server) apiCapture(w http.ResponseWriter, r *http.Request) {
	if s.deps.Frames == nil {
		writeError(w, http.StatusServiceUnavailable, "no camera")
		return
	}
	b, ts := s.latestFrame(r.Context(), true)
	if len(b) == 0 {
		writeError(w, http.StatusServiceUnavailable, "the camera has not delivered a frame yet")
		return
	}
	if s.deps.Liveness != nil {
		// A face that is not live (a photo or a phone held up to the
		// camera) is refused here; a frame without a usable face is
		// handed over and refused by the photo check like an upload.
		if score, live, err := s.deps.Liveness.JudgeJPEG(b); err == nil && !live {
			s.log.Warn("web: camera capture refused: the face was judged a presentation attack", "liveness", fmt.Sprintf("%.3f", score))
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
				"the face in front of the camera looks like a photo or a screen (liveness %.2f): enrol the person themselves, or upload a photo", score))
			return
		}
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Time", ts.UTC().Format(time.RFC3339Nano))
	w.Write(b)
}

// streamFPS caps what the MJPEG stream sends.
const streamFPS = 10

// streamSessionCheck is how often a live stream checks that its session is
// still valid.
const streamSessionCheck = time.Second

// apiStream sends the annotated camera frames as multipart/x-mixed-replace
// until the client goes away, the server shuts down (the request context
// derives from Run's), or the session that opened it ends (logout, expiry,
// a password change).
func (s *Server) apiStream(w http.ResponseWriter, r *http.Request) {
	if s.deps.Frames == nil {
		writeError(w, http.StatusServiceUnavailable, "no camera")
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		writeError(w, http.StatusServiceUnavailable, "too many live views open")
		return
	}
	fps := s.cfg.Camera.FPS
	if fps <= 0 || fps > streamFPS {
		fps = streamFPS
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer tick.Stop()
	rc := http.NewResponseController(w)
	const boundary = "facegateframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	var last time.Time
	ctx := r.Context()
	checked := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(checked) >= streamSessionCheck {
			checked = time.Now()
			if _, ok := s.sessionUser(r); !ok {
				s.log.Info("live stream ended: the session ended", "client", clientIP(r))
				return
			}
		}
		b, ts := s.latestFrame(ctx, false)
		if len(b) == 0 || !ts.After(last) {
			continue
		}
		last = ts
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(b)); err != nil {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Debug("live stream ended", "err", err)
			}
			return
		}
	}
}

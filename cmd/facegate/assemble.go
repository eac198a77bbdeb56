package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/facegate/facegate/access"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/mqttlink"
	"github.com/facegate/facegate/site"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
	"github.com/facegate/facegate/web"
)

// assemble builds the daemon's parts. cleanup must be called on every path
// (it releases the relay and frees the models) even when err is not nil.
func assemble(ctx context.Context, cfg config.Config, db *facedb.DB, h *health.Tracker, log *slog.Logger) (parts []subsystem, watched []heartbeat, cleanup func(), err error) {
	var closers []func()
	cleanup = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The door first: its relay is released at once and on every exit path.
	ctrl, err := door.Open(cfg.Door, db, log)
	if err != nil {
		return nil, nil, cleanup, err
	}
	closers = append(closers, func() {
		if err := ctrl.Close(); err != nil {
			log.Error("releasing the relay failed", "err", err)
		} else {
			log.Info("relay released (door locked)")
		}
	})
	parts = append(parts, subsystem{"door", ctrl.Run})

	pipe, err := vision.Open(visionconfig.Options(cfg.Recognition, cfg.ModelsDir))
	if err != nil {
		return nil, nil, cleanup, err
	}
	closers = append(closers, func() { _ = pipe.Close() })
	live, err := openLiveness(cfg)
	if err != nil {
		return nil, nil, cleanup, err
	}
	if live != nil {
		closers = append(closers, func() { _ = live.Close() })
	}

	loop, err := access.New(access.OptionsFrom(cfg), pipe, db, ctrl, h, log)
	if err != nil {
		return nil, nil, cleanup, err
	}
	if live != nil {
		loop.SetLiveness(vision.ImageJudge{Pipeline: pipe, Liveness: live})
	}
	if err := loop.Register(reg); err != nil {
		return nil, nil, cleanup, err
	}
	parts = append(parts, subsystem{"camera loop", loop.Run})
	watched = append(watched, &loopProgress{loop: loop})

	if cfg.Site.Name != "" {
		// A site door: the site's records keep the face library current.
		// The camera loop reloads once per applied batch through the
		// library revision it already polls.
		syncer, err := site.NewSyncer(cfg, db, log, site.SyncOptions{Model: pipe.ModelID(), Health: h})
		if err != nil {
			return nil, nil, cleanup, err
		}
		if err := syncer.Register(reg); err != nil {
			return nil, nil, cleanup, err
		}
		parts = append(parts, subsystem{"site", syncer.Run})
	}

	link, err := mqttlink.New(cfg, db, ctrl, h, reg, log)
	if err != nil {
		return nil, nil, cleanup, err
	}
	link.SetVersion(version)
	parts = append(parts, subsystem{"mqtt", link.Run})

	if cfg.Web.Listen != "" {
		// The web page fails alone (a busy port, a broken certificate):
		// reported in the log and health, retried, the door keeps working.
		var srv *web.Server
		err := web.EnsureAdmin(ctx, db, log)
		// Enrolment uploads get their own vision instance: the camera
		// loop's pipeline is never locked by a photo being analysed, so
		// uploads cannot starve recognition at the door.
		var enrolPipe *vision.Pipeline
		if err == nil {
			if enrolPipe, err = vision.Open(visionconfig.Options(cfg.Recognition, cfg.ModelsDir)); err == nil {
				closers = append(closers, func() { _ = enrolPipe.Close() })
			}
		}
		if err == nil {
			deps := web.Deps{
				DB: db, Enrol: enrolService(cfg, enrolPipe, db, loop), Door: ctrl, Frames: loop, Health: h, Gatherer: reg, Registerer: reg, Log: log,
				OnLibraryChange: loop.ReloadGallery,
			}
			if live != nil {
				deps.Liveness = vision.ImageJudge{Pipeline: enrolPipe, Liveness: live}
			}
			srv, err = web.New(cfg, deps)
		}
		run := func(context.Context) error { return err }
		if err == nil {
			run = srv.Run
		}
		parts = append(parts, subsystem{"web", isolated("web", h, log, run)})
	}
	return parts, watched, cleanup, nil
}

// loopProgress tells the watchdog whether the camera loop is moving: it is
// stalled when frames arrive but none has been analysed for a while, or when
// a camera call hangs (inside OpenCV it never returns, so the loop cannot
// reopen the camera itself).
type loopProgress struct {
	loop *access.Loop

	mu        sync.Mutex
	processed int64
	captured  int64
	last      time.Time
}

func (p *loopProgress) LastProgress() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.loop.Stats()
	now := time.Now()
	if p.last.IsZero() || s.Processed != p.processed || (s.Captured == p.captured && !s.CameraStuck) {
		// Analysing, or no frames at all from a camera whose calls
		// return (a lost camera is the loop's own alarm and reopen).
		p.last = now
	}
	p.processed, p.captured = s.Processed, s.Captured
	return p.last
}

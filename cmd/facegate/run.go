package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/signedcmd"
)

func init() {
	register(command{
		name:    "run",
		summary: "run the door appliance daemon",
		run:     runCmd,
	})
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	cfgPath := configFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := runDaemon(ctx, cfg, log); err != nil {
		log.Error("facegate stopped", "err", err)
		return err
	}
	return nil
}

// subsystem is one long-running part of the daemon.
type subsystem struct {
	name string
	run  func(ctx context.Context) error
}

// goSafe runs s under g, turning a panic into an error so that the deferred
// clean-up of runDaemon (relay release, offline message) still happens.
func goSafe(g *errgroup.Group, ctx context.Context, log *slog.Logger, s subsystem) {
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("subsystem panicked", "subsystem", s.name, "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("%s: panic: %v", s.name, r)
			}
		}()
		err = s.run(ctx)
		switch {
		case err == nil || errors.Is(err, context.Canceled):
			return nil
		case strings.HasPrefix(err.Error(), s.name+":"):
			return err // the package already named itself
		default:
			return fmt.Errorf("%s: %w", s.name, err)
		}
	})
}

// isolated makes run a part that fails alone (the web page): its error or
// panic is logged and shown in health under name, it is started again with
// back-off (5 s doubling to a minute), and the door keeps working meanwhile.
// The part itself reports itself healthy once it works again.
func isolated(name string, h *health.Tracker, log *slog.Logger, run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		wait := 5 * time.Second
		for {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						log.Error("subsystem panicked", "subsystem", name, "panic", r, "stack", string(debug.Stack()))
						err = fmt.Errorf("%s: panic: %v", name, r)
					}
				}()
				return run(ctx)
			}()
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("%s: stopped", name)
			}
			log.Error("subsystem failed; the door keeps working without it", "subsystem", name, "err", err, "retry_in", wait)
			h.Set(name, false, fmt.Sprintf("%v (retrying every %s)", err, wait))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Minute)
		}
	}
}

// runDaemon runs every subsystem until ctx is cancelled (SIGINT/SIGTERM, a
// clean exit) or one of them fails (the others are stopped, the error is
// returned). The door relay is released on every path.
func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	log.Info("facegate starting", "version", version, "commit", commit, "config", cfg.File, "device_id", cfg.DeviceID)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the database", "err", err)
		}
	}()
	if db.Backup != "" {
		log.Info("database migrated; previous file kept", "backup", db.Backup)
	}
	h := health.New()
	// Records that cannot be written (full disk) are queued in memory and
	// retried; health is degraded meanwhile.
	db.SetWriteStateHook(func(ok bool, detail string) {
		if ok {
			detail = "entry log written"
		} else {
			log.Error("entry log not written; records queued in memory", "detail", detail)
		}
		h.Set("storage", ok, detail)
	})

	parts, watched, cleanup, err := assemble(ctx, cfg, db, h, log)
	defer cleanup()
	if err != nil {
		return err
	}
	parts = append(parts,
		subsystem{"database", func(ctx context.Context) error { return watchDatabase(ctx, cfg, db, h, log) }},
		subsystem{"watchdog", func(ctx context.Context) error { return watchdog(ctx, watched, log) }},
	)

	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		goSafe(g, gctx, log, p)
	}
	if _, err := sddaemon.SdNotify(false, sddaemon.SdNotifyReady); err != nil {
		log.Warn("systemd notify failed", "err", err)
	}
	log.Info("facegate running")
	err = g.Wait()
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	if err != nil {
		return err
	}
	log.Info("facegate stopped cleanly")
	return nil
}

// watchDatabase checks that the database answers, for the health report,
// and prunes the audit log and used nonces by age (hourly).
func watchDatabase(ctx context.Context, cfg config.Config, db *facedb.DB, h *health.Tracker, log *slog.Logger) error {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var pruned time.Time
	for {
		if err := db.Ping(ctx); err != nil && ctx.Err() == nil {
			h.Set("database", false, err.Error())
		} else {
			h.Set("database", true, "")
		}
		if time.Since(pruned) >= time.Hour {
			pruned = time.Now()
			keep := time.Duration(cfg.Access.AuditMaxAgeDays * 24 * float64(time.Hour))
			if n, err := db.PruneAudit(ctx, pruned.Add(-keep)); err != nil {
				log.Warn("pruning the audit log (access.audit_max_age_days)", "err", err)
			} else if n > 0 {
				log.Info("audit log pruned", "entries", n, "older_than_days", cfg.Access.AuditMaxAgeDays)
			}
			// A nonce matters while its command could still be accepted
			// (signedcmd.MaxSkew either side); keep it twice that.
			if _, err := db.PruneNonces(ctx, pruned.Add(-4*signedcmd.MaxSkew)); err != nil {
				log.Warn("pruning used command nonces", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// heartbeat is implemented by parts whose progress the systemd watchdog
// should vouch for (the camera loop).
type heartbeat interface {
	LastProgress() time.Time
}

// watchdog pings systemd's watchdog while the watched loops make progress,
// so a hung camera loop gets the service restarted.
func watchdog(ctx context.Context, watched []heartbeat, log *slog.Logger) error {
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		stalled := false
		for _, hb := range watched {
			if time.Since(hb.LastProgress()) > interval {
				stalled = true
			}
		}
		if stalled {
			log.Error("a watched loop made no progress; not pinging the watchdog", "interval", interval)
			continue
		}
		_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyWatchdog)
	}
}

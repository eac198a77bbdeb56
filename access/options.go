package access

import (
	"time"

	"github.com/facegate/facegate/camera"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/motion"
	"github.com/facegate/facegate/track"
)

// Options configure a Loop. cmd/facegate fills them from the configuration
// with OptionsFrom; New checks nothing else of the configuration.
type Options struct {
	Policy       Policy
	Unlock       time.Duration  // how long a grant energises the relay (door.unlock_seconds)
	Camera       camera.Options // the source and its supervision
	Snapshots    Snapshots      // where snapshots go and how long they stay
	StorageLowMB float64        // free space under which storage_low is raised
	Budget       Budget         // the frame budget: motion gate and face tracking (budget.go)
}

// OptionsFrom maps a validated configuration onto Options.
func OptionsFrom(cfg config.Config) Options {
	c := cfg.Camera
	return Options{
		Policy: PolicyFrom(cfg),
		Unlock: seconds(cfg.Door.UnlockSeconds),
		Camera: camera.Options{Source: c.Source, FPS: c.FPS, Loop: c.Loop, Width: c.Width, Height: c.Height,
			Stall: seconds(c.StallSeconds), ReopenMax: seconds(c.ReopenMaxSeconds)},
		Snapshots: Snapshots{
			Dir:      cfg.SnapshotDir(),
			MaxAge:   seconds(cfg.Access.SnapshotMaxAgeDays * 86400),
			MaxBytes: int64(cfg.Access.SnapshotMaxMB * (1 << 20)),
			Headroom: SnapshotHeadroom,
		},
		StorageLowMB: cfg.Access.StorageLowMB,
		Budget: Budget{
			MotionGate: c.MotionGate,
			Motion:     motion.Options{Threshold: c.MotionThreshold, Every: seconds(c.DetectEverySeconds)},
			Tracking:   cfg.Access.Tracking,
			Track:      track.Options{RefreshEvery: cfg.Access.TrackRefreshFrames, FuseBest: cfg.Access.TrackFuse},
		},
	}
}

// PolicyFrom builds the policy from a configuration.
func PolicyFrom(cfg config.Config) Policy {
	a := cfg.Access
	return Policy{
		Threshold:      cfg.Recognition.Threshold,
		Margin:         cfg.Recognition.Margin,
		Window:         a.WindowFrames,
		Required:       a.RequiredFrames,
		Cooldown:       seconds(a.CooldownSeconds),
		StrangerFrames: a.StrangerFrames,
		StrangerEvery:  seconds(a.StrangerAlarmSeconds),
		MaxSpoofFrames: cfg.Liveness.MaxSpoofFrames,
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

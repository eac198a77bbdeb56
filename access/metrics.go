package access

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds the loop's metrics (facegate_camera_* and facegate_access_*)
// to reg. Call it once, before Run.
func (l *Loop) Register(reg prometheus.Registerer) error {
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	cs := []prometheus.Collector{
		counter("facegate_camera_frames_total", "Frames delivered by the camera source.", func() int64 { return l.cam.Stats().Captured }),
		counter("facegate_camera_frames_dropped_total", "Frames replaced by a newer one before they were analysed.", func() int64 { return l.cam.Stats().Dropped }),
		counter("facegate_camera_bad_frames_total", "Frames the camera source could not decode.", func() int64 { return l.cam.Stats().BadFrames }),
		counter("facegate_camera_lost_total", "Camera outages (camera_lost alarms).", func() int64 { return l.cam.Stats().Outages }),
		counter("facegate_access_frames_processed_total", "Frames analysed by the decision loop.", l.stats.processed.Load),
		counter("facegate_access_face_frames_total", "Analysed frames with a face that passed the quality gates.", l.stats.faces.Load),
		counter("facegate_liveness_checks_total", "Winning faces judged by the liveness check.", l.stats.livenessChecks.Load),
		counter("facegate_liveness_spoof_frames_total", "Winning faces judged presentation attacks.", l.stats.spoofFrames.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "facegate_camera_fps", Help: "Frames analysed per second over the last 5 s."},
			func() float64 { return l.fps.rate(time.Now()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "facegate_camera_last_frame_age_seconds", Help: "Seconds since the camera delivered a frame (-1 before the first)."},
			func() float64 {
				last := l.cam.LastFrame()
				if last.IsZero() {
					return -1
				}
				return time.Since(last).Seconds()
			}),
		l.decisions,
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Package access is facegate's camera-to-decision loop.
//
// Decider is a small pure state machine (observations in, decisions out,
// time taken from the observations) implementing the door policy: a person is
// granted after the same identity wins in K of the last N frames (score at or
// above the threshold and at least the margin above the second-best
// identity), once per cooldown; a recognised person who is disabled or outside
// their validity period is denied, also once per cooldown; a face that passes
// the quality gates but matches nobody, seen for a few consecutive frames,
// gives one stranger alarm per alarm period.
//
// Loop runs the decider on live frames: it takes the newest frame from a
// camera.Supervisor (which opens, reopens and watches the camera), matches
// the best face against the face library (library.go: the daemon's only
// gallery, reloaded when it changes), unlocks the door, records every
// decision with a snapshot JPEG, prunes snapshots by age and total size,
// raises storage_low when the disk fills and keeps the latest frames for the
// web live view and enrolment from the camera (live.go). It takes its own
// Options (OptionsFrom maps the configuration).
package access

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
// Loop runs the decider on live frames: it opens the camera source (reopening
// it with back-off and raising one camera_lost alarm per outage), always
// processes the newest frame (older ones are dropped, never queued), matches
// the best face against the face library (reloaded when it changes), unlocks
// the door, records every decision with a snapshot JPEG, prunes snapshots by
// age and total size, raises storage_low when the disk fills, feeds the health
// tracker and keeps the latest annotated frame for the web live view.
package access

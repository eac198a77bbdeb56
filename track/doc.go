// Package track provides the camera loop's face tracker: it follows faces
// from one processed frame to the next (box overlap, or landmark distance
// for a face that moved more than its box overlaps), so that each person in
// view is one track with its own history, and it says when a track needs a
// new embedding (a new track, an identity not decided yet, a clearly better
// view, or every few frames as a safety net) so that a face already
// recognised is not embedded again on every frame.
//
// The tracker knows nothing about identities or the access policy: the
// camera loop (package access) keeps one decision history per track in
// Track.State and marks a track Decided.
package track

// Package motion provides the camera loop's motion gate: a cheap per-frame
// change measure that lets the loop skip face detection while the scene in
// front of the door is static.
//
// Each frame is reduced to a small grey copy (80x60 by default) and compared
// with a slowly adapting background (a running average of earlier copies).
// The gate asks for detection at once when enough of the copy's pixels
// changed, and in any case when the forced interval has passed since the
// last detection, so a person standing perfectly still is still seen.
package motion

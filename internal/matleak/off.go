//go:build !matprofile

package matleak

import "testing"

// Enabled reports whether Check counts Mats (built with -tags matprofile).
const Enabled = false

// Check needs -tags matprofile to count Mats; without it (plain go test) it
// only says in the test log that the check is off.
func Check(t testing.TB) {
	t.Helper()
	t.Log("gocv Mat leak check skipped: built without -tags matprofile (make test uses it)")
}

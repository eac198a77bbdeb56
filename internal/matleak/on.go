//go:build matprofile

package matleak

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

// Enabled reports whether Check counts Mats (built with -tags matprofile).
const Enabled = true

// Check fails the test if it ends with more live gocv Mats than it started
// with, and prints where the leaked Mats were made.
func Check(t testing.TB) {
	t.Helper()
	start := gocv.MatProfile.Count()
	t.Cleanup(func() {
		if n := gocv.MatProfile.Count(); n != start {
			var b bytes.Buffer
			_ = gocv.MatProfile.WriteTo(&b, 1)
			t.Errorf("gocv Mat leak: %d live Mats at the end, %d at the start\n%s", n, start, b.String())
		}
	})
}

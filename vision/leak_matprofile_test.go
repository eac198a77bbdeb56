//go:build matprofile

package vision

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

// checkMats fails the test if it ends with more live gocv Mats than it started with.
func checkMats(t *testing.T) {
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

const matProfileOn = true

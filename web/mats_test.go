//go:build matprofile

package web

import (
	"testing"

	"gocv.io/x/gocv"
)

// checkMats fails the test if it leaves gocv Mats open (-tags matprofile).
func checkMats(t *testing.T) {
	start := gocv.MatProfile.Count()
	t.Cleanup(func() {
		if n := gocv.MatProfile.Count(); n != start {
			t.Errorf("gocv Mats: %d open at the start, %d at the end", start, n)
		}
	})
}

//go:build !matprofile

package vision

import "testing"

// checkMats needs -tags matprofile to count Mats; without it it does nothing
// (TestMatProfileOn reports that the leak checks were off).
func checkMats(t *testing.T) { t.Helper() }

const matProfileOn = false

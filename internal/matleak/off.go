//go:build !matprofile

package matleak

import "testing"

// Enabled reports whether Check counts Mats (built with -tags matprofile).
const Enabled = false

// Check needs -tags matprofile to count Mats; without it it does nothing.
func Check(t testing.TB) { t.Helper() }

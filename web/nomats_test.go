//go:build !matprofile

package web

import "testing"

// checkMats needs -tags matprofile (as the Makefile runs the tests).
func checkMats(t *testing.T) { t.Log("Mat leak check needs -tags matprofile") }

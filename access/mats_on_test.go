//go:build matprofile

package access

import "gocv.io/x/gocv"

// matsOpen counts the gocv Mats open now (needs -tags matprofile).
func matsOpen() int { return gocv.MatProfile.Count() }

//go:build !matprofile

package camera

// matsOpen cannot count Mats without -tags matprofile; the leak checks then
// compare 0 with 0. make test and .ci/run build with the tag.
func matsOpen() int { return 0 }

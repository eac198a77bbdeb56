// Package fdot provides the float32 dot product used by vision's 1:N
// matching: AVX2+FMA assembly on amd64 CPUs that have it, an unrolled Go
// loop elsewhere. It is a separate package because a cgo package (vision)
// cannot contain Go assembly.
package fdot

// Package fdot provides the float32 dot product used by vision's 1:N
// matching: AVX2+FMA assembly on amd64 CPUs that have it, NEON assembly on
// arm64 (the Raspberry Pi 4), and an unrolled Go loop elsewhere. It is a
// separate package because a cgo package (vision) cannot contain Go
// assembly.
package fdot

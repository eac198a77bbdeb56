//go:build !amd64

package fdot

const useAVX2 = false

func dotAVX(a, b []float32) float32 { return Generic(a, b) }

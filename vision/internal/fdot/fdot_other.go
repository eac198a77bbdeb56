//go:build !amd64 && !arm64

package fdot

const useSIMD = false

func dotSIMD(a, b []float32) float32 { return Generic(a, b) }

package fdot

// NEON (ASIMD) is part of every arm64 CPU, the Raspberry Pi 4's Cortex-A72 included.
const useSIMD = true

//go:noescape
func dotNEON(a, b *float32, n int, acc *[16]float32)

// dotSIMD handles the multiple-of-16 prefix with NEON fused multiply-adds
// and the rest in Go.
func dotSIMD(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	b = b[:len(a)]
	n := len(a) &^ 15
	var s float32
	if n > 0 {
		var acc [16]float32
		dotNEON(&a[0], &b[0], n, &acc)
		for k := 0; k < 4; k++ {
			s += (acc[k] + acc[4+k]) + (acc[8+k] + acc[12+k])
		}
	}
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

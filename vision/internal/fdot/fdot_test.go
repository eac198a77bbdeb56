package fdot

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernels: both kernels agree with a float64 reference for lengths
// around the assembly's 8- and 32-float blocks.
func TestKernels(t *testing.T) {
	t.Logf("accelerated: %v", Accelerated())
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 128, 511, 512, 1000} {
		a, b := make([]float32, n), make([]float32, n+3) // b may be longer
		var want float64
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		for name, f := range map[string]func(a, b []float32) float32{"Dot": Dot, "Generic": Generic} {
			if got := f(a, b); math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s n=%d: %v, want %v", name, n, got, want)
			}
		}
	}
}

func BenchmarkDot512(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float32, 512), make([]float32, 512)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for name, f := range map[string]func(a, b []float32) float32{"dot": Dot, "generic": Generic} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = f(x, y)
			}
		})
	}
}

package vision

import (
	"testing"
	"time"
)

// BenchmarkPipelineLiveness: one 640x480 frame with one face through the
// per-frame pipeline (detect, gates, align, embed, match against 1,000
// templates) with the default liveness check on the matched face and
// without it, one OpenCV thread (the check includes Pipeline.LivenessFace's
// one-stage detection, as in the access loop). Both run in every iteration, interleaved,
// so the drift of a shared machine cancels in the ratio. Reported: CPU time
// per frame with liveness (cpu-ns/op) and without (off-cpu-ns/op), the
// added CPU time per face and the on/off ratio.
func BenchmarkPipelineLiveness(b *testing.B) {
	frame := frame640(b)
	defer frame.Close()
	p := benchPipeline(b, 640)
	l := ImageJudge{Pipeline: p, Liveness: openLiveness(b, DefaultLivenessModel)}
	g := NewGallery("fr512")
	g.Replace(randomEntries(1000, 512))
	frameCPU := func(live bool) time.Duration {
		c0 := cpuNow()
		as, err := p.Analyze(frame)
		if err != nil || len(as) != 1 || as[0].Embedding == nil {
			b.Fatal(as, err)
		}
		_ = g.Match(as[0].Embedding)
		if live {
			if _, err := l.Score(frame, as[0].Face); err != nil {
				b.Fatal(err)
			}
		}
		return cpuNow() - c0
	}
	var on, off time.Duration
	n := 0
	for b.Loop() {
		on += frameCPU(true)
		off += frameCPU(false)
		n++
	}
	onNs, offNs := float64(on.Nanoseconds())/float64(n), float64(off.Nanoseconds())/float64(n)
	b.ReportMetric(onNs, "cpu-ns/op")
	b.ReportMetric(offNs, "off-cpu-ns/op")
	b.ReportMetric(onNs-offNs, "liveness-cpu-ns/face")
	b.ReportMetric(onNs/offNs, "on/off")
}

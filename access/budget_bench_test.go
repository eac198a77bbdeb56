package access

import (
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/scene"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

// The loop benchmarks (issue 15): the camera loop's per-frame cost on
// synthetic sequences from package scene, at 10 fps simulated time, with the
// shipped frame budget (/new: motion gate, two-stage detection, tracking)
// and with today's full pipeline on every frame (/baseline: no gate,
// one-stage detection at 640 px, every face embedded on every frame), in the
// same run. Reported per frame: ns, CPU ns (getrusage), detections and
// embeddings, and for /new the ratios of its ns/frame and CPU ns/frame to
// /baseline's (on a shared machine the CPU ratio is the steadier one). OpenCV runs on one
// thread, as on the Pi's budget.
//
//	go test -run '^$' -bench 'BenchmarkLoop(Static|OneFace|TwoFaces)' -benchtime 100x ./access/

func BenchmarkLoopStatic(b *testing.B) {
	benchLoop(b, func(int) [][]scene.Put { return empty(50) })
}

func BenchmarkLoopOneFace(b *testing.B) {
	benchLoop(b, func(n int) [][]scene.Put { return append(empty(10), scene.WalkIn("alice", 40)...) })
}

func BenchmarkLoopTwoFaces(b *testing.B) {
	benchLoop(b, func(n int) [][]scene.Put { return scene.TwoWalkIn("alice", "bob", 50) })
}

func benchLoop(b *testing.B, sequence func(n int) [][]scene.Put) {
	vision.SetThreads(1)
	s := doorScene(b)
	seq := sequence(50)
	frames := make([]gocv.Mat, len(seq))
	for i, puts := range seq {
		frames[i] = s.Frame(puts...)
	}
	defer func() {
		for _, m := range frames {
			m.Close()
		}
	}()
	var baseline, baselineCPU float64
	for _, v := range []struct {
		name string
		edit func(*config.Config)
	}{
		{"baseline", func(c *config.Config) {
			c.Camera.MotionGate, c.Access.Tracking, c.Recognition.CandidateMaxSide = false, false, 0
		}},
		{"new", tracking},
	} {
		b.Run(v.name, func(b *testing.B) {
			cfg := config.Default()
			if v.edit != nil {
				v.edit(&cfg)
			}
			p, err := vision.Open(visionconfig.Options(cfg.Recognition, testenv.ModelsDir(b)))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			f := newFixtureWith(b, p, v.edit, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
			start := f.loop.Stats()
			cpu0 := cpuTime()
			n := 0
			t0 := time.Now()
			for b.Loop() {
				for _, fr := range frames {
					m := fr.Clone()
					f.loop.process(b.Context(), m, t0.Add(time.Duration(n)*100*time.Millisecond))
					m.Close()
					n++
				}
			}
			elapsed := time.Since(t0)
			cpu := cpuTime() - cpu0
			end := f.loop.Stats()
			nsFrame := float64(elapsed.Nanoseconds()) / float64(n)
			cpuFrame := float64(cpu.Nanoseconds()) / float64(n)
			b.ReportMetric(nsFrame, "ns/frame")
			b.ReportMetric(cpuFrame, "cpu-ns/frame")
			b.ReportMetric(float64(end.Embeddings-start.Embeddings)/float64(n), "embeddings/frame")
			b.ReportMetric(float64(end.Analysed-start.Analysed)/float64(n), "detections/frame")
			if v.name == "baseline" {
				baseline, baselineCPU = nsFrame, cpuFrame
			} else if baseline > 0 {
				b.ReportMetric(nsFrame/baseline, "new/baseline")
				b.ReportMetric(cpuFrame/baselineCPU, "cpu-new/baseline")
			}
		})
	}
}

// cpuTime is the process's user + system CPU time (getrusage).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

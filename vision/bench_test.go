package vision

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/vision/internal/fdot"
)

// frame640 returns a 640x480 BGR frame holding one face (df04/img30.jpg
// scaled to fit and letterboxed), like a camera frame.
func frame640(b testing.TB) gocv.Mat {
	src := readFace(b, "df04", "img30.jpg")
	defer src.Close()
	s := min(640/float64(src.Cols()), 480/float64(src.Rows()))
	w, h := int(float64(src.Cols())*s), int(float64(src.Rows())*s)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(src, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	out := gocv.NewMat()
	l, tp := (640-w)/2, (480-h)/2
	gocv.CopyMakeBorder(small, &out, tp, 480-h-tp, l, 640-w-l, gocv.BorderConstant, color.RGBA{40, 40, 40, 0})
	if out.Cols() != 640 || out.Rows() != 480 {
		b.Fatalf("frame %dx%d", out.Cols(), out.Rows())
	}
	return out
}

// cpuNow is the process's user+system CPU time. The build machine is shared,
// so wall-clock ns/op swings with other people's load; CPU time per op
// (reported as cpu-ns/op) is what the operation itself costs.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMetric starts counting CPU time; the returned func reports cpu-ns/op
// over n operations and returns it.
func cpuMetric(b *testing.B) func(n int) float64 {
	start := cpuNow()
	return func(n int) float64 {
		v := float64((cpuNow() - start).Nanoseconds()) / float64(max(n, 1))
		b.ReportMetric(v, "cpu-ns/op")
		return v
	}
}

func benchPipeline(b *testing.B, maxSide int) *Pipeline {
	o := defaultOptions(b)
	o.DetectMaxSide = maxSide
	o.CandidateMaxSide = 0 // one stage: BenchmarkDetectTwoStage measures two
	o.Threads = 1
	return openPipeline(b, o)
}

// BenchmarkDetect: YuNet on a 640x480 frame at native size and on a
// 320x240 copy (detect_max_side 320), one OpenCV thread.
func BenchmarkDetect(b *testing.B) {
	frame := frame640(b)
	defer frame.Close()
	for _, c := range []struct {
		name string
		side int
	}{{"full640", 640}, {"downscaled320", 320}} {
		b.Run(c.name, func(b *testing.B) {
			p := benchPipeline(b, c.side)
			stop, n := cpuMetric(b), 0
			for b.Loop() {
				fs, err := p.Detect(frame)
				if err != nil || len(fs) != 1 {
					b.Fatalf("%d faces, %v", len(fs), err)
				}
				n++
			}
			stop(n)
		})
	}
}

// BenchmarkAlignEmbed: alignCrop + blobFromImage + forward + normalise for one face.
func BenchmarkAlignEmbed(b *testing.B) {
	frame := frame640(b)
	defer frame.Close()
	p := benchPipeline(b, 640)
	fs, err := p.Detect(frame)
	if err != nil || len(fs) != 1 {
		b.Fatal(fs, err)
	}
	stop, n := cpuMetric(b), 0
	defer func() { stop(n) }()
	for b.Loop() {
		n++
		p.mu.Lock()
		aligned := gocv.NewMat()
		err := p.alignLocked(frame, fs[0], &aligned)
		if err == nil {
			_, err = p.embedLocked(aligned)
		}
		aligned.Close()
		p.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline: one 640x480 frame with one face through detect, quality
// gates, align, embed and a match against 1,000 templates (ns/op). Each
// iteration also runs, with the timer stopped, the bare OpenCV calls the
// pipeline makes (YuNet detect, alignCrop, blobFromImage + forward) on
// prepared inputs; interleaving them cancels the drift of a shared machine.
// Reported: the CPU time of both and the pipeline's overhead over the bare calls.
func BenchmarkPipeline(b *testing.B) {
	frame := frame640(b)
	defer frame.Close()
	p := benchPipeline(b, 640)
	g := NewGallery("fr512")
	g.Replace(randomEntries(1000, 512))
	fs, err := p.Detect(frame)
	if err != nil || len(fs) != 1 {
		b.Fatal(fs, err)
	}
	row, _ := gocv.NewMatFromBytes(1, 15, gocv.MatTypeCV32F, float32Bytes(fs[0].row[:]))
	defer row.Close()
	out, aligned := gocv.NewMat(), gocv.NewMat()
	defer out.Close()
	defer aligned.Close()
	var pipeCPU, rawCPU time.Duration
	n := 0
	for b.Loop() {
		c0 := cpuNow()
		as, err := p.Analyze(frame)
		if err != nil || len(as) != 1 || as[0].Embedding == nil {
			b.Fatal(as, err)
		}
		_ = g.Match(as[0].Embedding)
		c1 := cpuNow()
		pipeCPU += c1 - c0

		b.StopTimer()
		c1 = cpuNow()
		_ = p.det.detect(frame, &out)
		_ = p.align.align(frame, row, &aligned)
		blob := gocv.BlobFromImage(aligned, p.prof.Scale, p.prof.InputSize, gocv.NewScalar(127, 127, 127, 0), true, false)
		p.net.SetInput(blob, "")
		o := p.net.Forward("")
		rawCPU += cpuNow() - c1
		o.Close()
		blob.Close()
		b.StartTimer()
		n++
	}
	pipe := float64(pipeCPU.Nanoseconds()) / float64(n)
	raw := float64(rawCPU.Nanoseconds()) / float64(n)
	b.ReportMetric(pipe, "cpu-ns/op")
	b.ReportMetric(raw, "opencv-cpu-ns/op")
	b.ReportMetric(100*(pipe-raw)/raw, "overhead-%")
}

func randomEntries(n, dims int) []Entry {
	r := rand.New(rand.NewPCG(7, 9))
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{PersonID: int64(i/5 + 1), Name: "p", Enabled: true, Embedding: randUnit(r, dims)}
	}
	return es
}

// BenchmarkMatch: 1:N search over 512-d templates: the shipped code
// (contiguous []float32, AVX2+FMA dot on amd64, split over GOMAXPROCS from
// 8192 templates), the same on one goroutine, the portable unrolled Go dot
// on one goroutine (the fallback for CPUs without AVX2/NEON), and OpenCV gemm through gocv (gallery x
// probe^T, then a scan for the two best identities).
func BenchmarkMatch(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	probe := randUnit(r, 512)
	for _, n := range []int{1000, 10000, 100000} {
		es := randomEntries(n, 512)
		g := NewGallery("fr512")
		g.Replace(es)
		d := g.cur.Load()
		b.Run(fmt.Sprintf("go/%dk", n/1000), func(b *testing.B) {
			stop, k := cpuMetric(b), 0
			for b.Loop() {
				if m := g.Match(probe); m.PersonID == 0 {
					b.Fatal("no match")
				}
				k++
			}
			stop(k)
		})
		b.Run(fmt.Sprintf("go-1thread/%dk", n/1000), func(b *testing.B) {
			stop, k := cpuMetric(b), 0
			for b.Loop() {
				if t := d.scan(probe, 0, d.n, true); t.p1 < 0 {
					b.Fatal("no match")
				}
				k++
			}
			stop(k)
		})
		b.Run(fmt.Sprintf("go-unrolled-1thread/%dk", n/1000), func(b *testing.B) {
			saved := dotRow
			dotRow = fdot.Generic
			defer func() { dotRow = saved }()
			stop, k := cpuMetric(b), 0
			for b.Loop() {
				if t := d.scan(probe, 0, d.n, true); t.p1 < 0 {
					b.Fatal("no match")
				}
				k++
			}
			stop(k)
		})
		b.Run(fmt.Sprintf("gemm/%dk", n/1000), func(b *testing.B) {
			SetThreads(1)
			gm, err := gocv.NewMatFromBytes(n, 512, gocv.MatTypeCV32F, float32Bytes(d.matrix))
			if err != nil {
				b.Fatal(err)
			}
			defer gm.Close()
			pm, _ := gocv.NewMatFromBytes(1, 512, gocv.MatTypeCV32F, float32Bytes(probe))
			defer pm.Close()
			empty := gocv.NewMat()
			defer empty.Close()
			scores := gocv.NewMat()
			defer scores.Close()
			stop, k := cpuMetric(b), 0
			defer func() { stop(k) }()
			for b.Loop() {
				k++
				gocv.Gemm(gm, pm, 1, empty, 0, &scores, 2 /* GEMM_2_T */)
				s, _ := scores.DataPtrFloat32()
				t := newTop2()
				for i, v := range s {
					t.add(d.person[i], v)
				}
				if t.p1 < 0 {
					b.Fatal("no match")
				}
			}
		})
	}
}

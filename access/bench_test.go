package access

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// rssMB reads the resident set size of this process from /proc.
func rssMB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// heapMB is the Go heap in use (live objects and fragmentation), which
// separates Go-side growth from C-side (OpenCV, SQLite) growth in the RSS.
func heapMB() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// cameraFrames writes the images as 640x480 JPEG camera frames (letterboxed
// on grey) into dir and returns their paths in order.
func cameraFrames(b *testing.B, dir string, imgs []string) {
	for i, img := range imgs {
		folder, file, _ := strings.Cut(img, "/")
		src, err := vision.ReadImage(testenv.Face(b, folder, file))
		if err != nil {
			b.Fatal(err)
		}
		scale := min(640/float64(src.Cols()), 480/float64(src.Rows()), 1.0)
		w, h := int(float64(src.Cols())*scale), int(float64(src.Rows())*scale)
		small := gocv.NewMat()
		gocv.Resize(src, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
		roi := frame.Region(image.Rect((640-w)/2, (480-h)/2, (640-w)/2+w, (480-h)/2+h))
		small.CopyTo(&roi)
		if !gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("%04d.jpg", i)), frame) {
			b.Fatal("imwrite failed")
		}
		roi.Close()
		frame.Close()
		small.Close()
		src.Close()
	}
}

var soakPlaylist = append(append(append(append([]string{}, df01Probe...), noFaces[:2]...), strangers...), df02Probe...)

// BenchmarkLoopSoak runs the whole loop (dir source at 120 fps, newest frame
// only, real models, real database, snapshots) until b.N frames have been
// processed, and reports the processed frame rate and the process RSS after
// warm-up and at the end. Run it long: -benchtime=3000x.
func BenchmarkLoopSoak(b *testing.B) {
	frames := b.TempDir()
	cameraFrames(b, frames, soakPlaylist)
	f := newFixture(b, func(c *config.Config) {
		c.Camera.Source, c.Camera.FPS, c.Camera.Loop = "dir:"+frames, 120, true
		c.Access.CooldownSeconds = 5
		c.Access.StrangerAlarmSeconds = 5
	}, map[string][]string{"Alice": df01Enrol, "Bob": df02Enrol})
	f.loop.log = f.loop.log.With() // keep logs; decisions are rare
	matleak.Check(b)               // the loop's Mats are all closed once it has stopped
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	// warm up: models, allocator, gallery
	for f.loop.Stats().Processed < 30 {
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	rss0, heap0 := rssMB(b), heapMB()
	start := f.loop.Stats()
	b.ResetTimer()
	t0 := time.Now()
	rssMid := 0.0
	for f.loop.Stats().Processed-start.Processed < int64(b.N) {
		if rssMid == 0 && f.loop.Stats().Processed-start.Processed >= int64(b.N/2) {
			runtime.GC()
			rssMid = rssMB(b) // growth from here to the end would be a leak, not warm-up
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	end := f.loop.Stats()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	rss1, heap1 := rssMB(b), heapMB()
	processed := end.Processed - start.Processed
	b.ReportMetric(float64(processed)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(end.Dropped-start.Dropped)/float64(end.Captured-start.Captured), "dropped/captured")
	b.ReportMetric(rss0, "rss_start_MB")
	b.ReportMetric(rssMid, "rss_half_MB")
	b.ReportMetric(heap0, "go_heap_start_MB")
	b.ReportMetric(heap1, "go_heap_end_MB")
	b.ReportMetric(rss1, "rss_end_MB")
	b.ReportMetric(float64(end.Decisions-start.Decisions), "decisions")
	b.Logf("%d frames in %v: %.1f frames/s, captured %d, dropped %d, faces %d, decisions %d, RSS %.1f -> %.1f (half way) -> %.1f MB",
		processed, elapsed.Round(time.Millisecond), float64(processed)/elapsed.Seconds(), end.Captured-start.Captured,
		end.Dropped-start.Dropped, end.Faces-start.Faces, end.Decisions-start.Decisions, rss0, rssMid, rss1)
}

// BenchmarkProcessFrame is one 640x480 frame with one enrolled face through
// detect, gates, align, embed, match, decide, annotate and JPEG encode:
// "steady" while the person is in cooldown (the usual frame), "decision"
// when every frame grants (snapshot written with fsync, event recorded,
// door unlocked).
func BenchmarkProcessFrame(b *testing.B) {
	dir := b.TempDir()
	cameraFrames(b, dir, df01Probe[:1])
	for _, bc := range []struct {
		name string
		step time.Duration
	}{{"steady", time.Millisecond}, {"decision", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, nil, map[string][]string{"Alice": df01Enrol})
			src, err := vision.ReadImage(filepath.Join(dir, "0000.jpg"))
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			at := time.Now()
			b.ResetTimer()
			for i := range b.N {
				m := src.Clone()
				f.loop.process(context.Background(), m, at.Add(time.Duration(i)*bc.step))
				m.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(f.loop.Stats().Decisions)/float64(b.N), "decisions/op")
		})
	}
}

package access

import (
	"context"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

// changedPixels counts the pixels of a JPEG that differ strongly from an
// image of the same size: drawn lines and text do, JPEG loss does not.
func changedPixels(t *testing.T, jpeg []byte, want gocv.Mat) int {
	t.Helper()
	got, err := vision.DecodeImage(jpeg)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Rows() != want.Rows() || got.Cols() != want.Cols() {
		t.Fatalf("frame is %dx%d, want %dx%d", got.Cols(), got.Rows(), want.Cols(), want.Rows())
	}
	d, g := gocv.NewMat(), gocv.NewMat()
	defer d.Close()
	defer g.Close()
	gocv.AbsDiff(got, want, &d)
	gocv.CvtColor(d, &g, gocv.ColorBGRToGray)
	gocv.Threshold(g, &g, 60, 255, gocv.ThresholdBinary)
	return gocv.CountNonZero(g)
}

// Enrolment from the live camera must not learn the boxes and labels the
// live view draws: LatestRawJPEG is the camera frame as it came, and it is
// only encoded while someone asks for it.
func TestLatestRawJPEGIsTheUnannotatedFrame(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Ada": {"df01/img1.jpg"}})
	f.feed(t, t0, 4, 1, []string{"df01/img2.jpg"})
	if f.loop.live.raw != nil {
		t.Fatal("a raw frame was encoded although nobody asked for one")
	}

	f.loop.live.rawWanted.Store(time.Now().UnixNano())
	f.feed(t, t0.Add(time.Second), 4, 1, []string{"df01/img2.jpg"})
	raw, rawAt := f.loop.LatestRawJPEG(context.Background())
	ann, annAt := f.loop.LatestJPEG()
	if raw == nil || ann == nil {
		t.Fatalf("raw %d bytes, annotated %d bytes", len(raw), len(ann))
	}
	if !rawAt.Equal(annAt) {
		t.Errorf("raw frame from %v, annotated from %v: not the same frame", rawAt, annAt)
	}
	orig, err := vision.ReadImage(testenv.Face(t, "df01", "img2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	rawN, annN := changedPixels(t, raw, orig), changedPixels(t, ann, orig)
	t.Logf("pixels changed against the camera frame: raw %d, annotated %d (of %d)", rawN, annN, orig.Rows()*orig.Cols())
	if rawN > orig.Rows()*orig.Cols()/1000 {
		t.Errorf("raw frame has %d strongly changed pixels: it carries drawings", rawN)
	}
	if annN < 500 || annN < 10*rawN {
		t.Errorf("annotated frame has only %d changed pixels (raw %d): the test proves nothing", annN, rawN)
	}
}

// TestLatestRawJPEGWaitsForTheNextFrame: a first call after a pause waits
// for the next processed frame (and no longer than its context).
func TestLatestRawJPEGWaitsForTheNextFrame(t *testing.T) {
	matleak.Check(t)
	f := newFixture(t, nil, map[string][]string{"Ada": {"df01/img1.jpg"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b, _ := f.loop.LatestRawJPEG(ctx); b != nil {
		t.Fatal("a raw frame before any was processed")
	}
	got := make(chan time.Time, 1)
	go func() {
		_, at := f.loop.LatestRawJPEG(context.Background())
		got <- at
	}()
	// Feed frames until the waiting call has asked (it returns with the
	// first frame processed after it did).
	for i := 0; ; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		f.feed(t, at, 4, 1, []string{"df01/img2.jpg"})
		select {
		case rawAt := <-got:
			if rawAt.IsZero() {
				t.Fatal("the waiting call gave up")
			}
			return
		default:
		}
	}
}

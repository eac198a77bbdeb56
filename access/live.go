package access

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// liveFrames holds the JPEG frames the web page shows: the newest annotated
// frame (every processed frame is encoded) and, only while someone asks for
// it (enrolment from the live camera), the newest frame without annotations.
type liveFrames struct {
	mu     sync.Mutex
	jpeg   []byte
	jpegAt time.Time

	rawWanted atomic.Int64 // wall clock (unix ns) of the last LatestRawJPEG call
	rawMu     sync.Mutex
	raw       []byte
	rawAt     time.Time     // capture time
	rawMade   time.Time     // wall clock when it was encoded
	rawNew    chan struct{} // closed (and replaced) when a raw frame is encoded
}

// rawWindow is how long after a LatestRawJPEG call the loop keeps encoding
// raw frames, and how old a raw frame may be to be returned at once.
const rawWindow = 10 * time.Second

// rawWait is how long LatestRawJPEG waits for the next processed frame.
const rawWait = 2 * time.Second

// LatestJPEG returns the newest annotated frame (nil before the first) and
// when it was captured. The slice must not be modified.
func (l *Loop) LatestJPEG() ([]byte, time.Time) {
	l.live.mu.Lock()
	defer l.live.mu.Unlock()
	return l.live.jpeg, l.live.jpegAt
}

// LatestRawJPEG returns the newest camera frame without the drawn boxes and
// labels (for enrolment from the live camera) and when it was captured. The
// loop encodes raw frames only on demand: the first call after a pause waits
// for the next processed frame, up to two seconds or until ctx ends, and
// returns nil when none comes.
func (l *Loop) LatestRawJPEG(ctx context.Context) ([]byte, time.Time) {
	f := &l.live
	f.rawWanted.Store(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(ctx, rawWait)
	defer cancel()
	for {
		f.rawMu.Lock()
		b, at, made, next := f.raw, f.rawAt, f.rawMade, f.newRawLocked()
		f.rawMu.Unlock()
		if b != nil && time.Since(made) < rawWindow {
			return b, at
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}
		case <-next:
		}
	}
}

func (f *liveFrames) newRawLocked() chan struct{} {
	if f.rawNew == nil {
		f.rawNew = make(chan struct{})
	}
	return f.rawNew
}

// keepRaw encodes the unannotated frame while LatestRawJPEG is in use.
func (f *liveFrames) keepRaw(m gocv.Mat, at time.Time) {
	w := f.rawWanted.Load()
	if w == 0 || time.Since(time.Unix(0, w)) > rawWindow {
		return
	}
	if b := encodeJPEG(m); b != nil {
		f.rawMu.Lock()
		f.raw, f.rawAt, f.rawMade = b, at, time.Now()
		close(f.newRawLocked())
		f.rawNew = nil
		f.rawMu.Unlock()
	}
}

// keepAnnotated encodes the annotated frame for the live view and returns
// it (nil when encoding failed), for the snapshot of a decision.
func (f *liveFrames) keepAnnotated(m gocv.Mat, at time.Time) []byte {
	b := encodeJPEG(m)
	if b != nil {
		f.mu.Lock()
		f.jpeg, f.jpegAt = b, at
		f.mu.Unlock()
	}
	return b
}

func encodeJPEG(m gocv.Mat) []byte {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

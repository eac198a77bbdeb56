package camera

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/camera/source"
)

// Source delivers frames. Read returns a new Mat that the caller closes.
// Close is idempotent and releases everything the source holds (for cmd:
// sources, the whole child process group).
type Source interface {
	Read(ctx context.Context) (gocv.Mat, error)
	Close() error
}

var (
	// ErrBadFrame is wrapped by Read when one frame could not be decoded;
	// the source is still usable.
	ErrBadFrame = errors.New("camera: bad frame")
	// ErrEnd is returned by a non-looping dir: or file: source after its last frame.
	ErrEnd = errors.New("camera: end of stream")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("camera: source closed")
)

// Options configure a camera (the [camera] section, filled by cmd).
type Options struct {
	Source        string  // KIND:ARG, see package camera/source
	FPS           float64 // frame rate: requested from v4l2, the playback rate of dir: and file:
	Loop          bool    // dir: and file: start again at the end
	Width, Height int     // v4l2 frame size request; 0 = the driver's

	// Supervision (Supervisor): no frame for Stall = camera lost; reopen
	// back-off up to ReopenMax.
	Stall, ReopenMax time.Duration
}

// Open opens the source named by o.Source. ctx bounds the life of child
// processes (cmd:); cancelling it kills them.
func Open(ctx context.Context, o Options) (Source, error) {
	spec, err := source.Parse(o.Source)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	interval := time.Duration(0)
	if o.FPS > 0 {
		interval = time.Duration(float64(time.Second) / o.FPS)
	}
	arg := spec.Arg
	switch spec.Kind {
	case source.Dir:
		return openDir(arg, interval, o.Loop)
	case source.File:
		return openFile(arg, interval, o.Loop)
	case source.V4L2:
		return openV4L2(arg, o.Width, o.Height, o.FPS)
	case source.Gst:
		return openCapture("gst:"+arg, func() (*gocv.VideoCapture, error) {
			return gocv.VideoCaptureFileWithAPI(arg, gocv.VideoCaptureGstreamer)
		})
	case source.MJPEG:
		return openStdin()
	default: // source.Cmd
		return openCmd(ctx, arg)
	}
}

func openV4L2(arg string, w, h int, fps float64) (Source, error) {
	return openCapture("v4l2:"+arg, func() (*gocv.VideoCapture, error) {
		var vc *gocv.VideoCapture
		var err error
		if n, perr := strconv.Atoi(arg); perr == nil {
			vc, err = gocv.VideoCaptureDeviceWithAPI(n, gocv.VideoCaptureV4L2)
		} else {
			vc, err = gocv.VideoCaptureFileWithAPI(arg, gocv.VideoCaptureV4L2)
		}
		if err != nil {
			return nil, err
		}
		if w > 0 && h > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(w))
			vc.Set(gocv.VideoCaptureFrameHeight, float64(h))
		}
		if fps > 0 {
			vc.Set(gocv.VideoCaptureFPS, fps) // a request; the driver picks the nearest rate it has
		}
		vc.Set(gocv.VideoCaptureBufferSize, 1) // keep the newest frame, not a backlog
		return vc, nil
	})
}

// pacer spaces reads of recorded sources at the configured frame rate.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.interval <= 0 {
		return nil
	}
	now := time.Now()
	if p.next.IsZero() || now.Sub(p.next) > p.interval {
		// first frame, or we fell behind: do not burst to catch up
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

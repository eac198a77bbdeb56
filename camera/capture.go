package camera

import (
	"context"
	"fmt"
	"os"
	"time"

	"gocv.io/x/gocv"
)

// captureSource reads a live OpenCV VideoCapture (V4L2 or GStreamer).
type captureSource struct {
	name   string
	vc     *gocv.VideoCapture
	closed bool
}

func openCapture(name string, open func() (*gocv.VideoCapture, error)) (*captureSource, error) {
	vc, err := open()
	if err != nil {
		return nil, fmt.Errorf("camera: open %s: %w", name, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("camera: open %s: the capture backend could not open it", name)
	}
	return &captureSource{name: name, vc: vc}, nil
}

func (s *captureSource) Read(ctx context.Context) (gocv.Mat, error) {
	if s.closed {
		return gocv.Mat{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return gocv.Mat{}, err
	}
	m := gocv.NewMat()
	if !s.vc.Read(&m) || m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("camera: %s delivered no frame", s.name)
	}
	return m, nil
}

func (s *captureSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.vc.Close()
}

// fileSource plays a video file at the configured rate, looping by reopening it.
type fileSource struct {
	path   string
	loop   bool
	pace   pacer
	vc     *gocv.VideoCapture
	frames int // frames read since the last (re)open
	ended  bool
	closed bool
}

func openFile(path string, interval time.Duration, loop bool) (*fileSource, error) {
	s := &fileSource{path: path, loop: loop, pace: pacer{interval: interval}}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSource) open() error {
	if _, err := os.Stat(s.path); err != nil {
		return fmt.Errorf("camera: file source: %w", err)
	}
	vc, err := gocv.VideoCaptureFile(s.path)
	if err != nil {
		return fmt.Errorf("camera: file source %s: %w", s.path, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return fmt.Errorf("camera: file source %s: not a video OpenCV can read", s.path)
	}
	s.vc = vc
	s.frames = 0
	return nil
}

func (s *fileSource) Read(ctx context.Context) (gocv.Mat, error) {
	if s.closed {
		return gocv.Mat{}, ErrClosed
	}
	if s.ended {
		return gocv.Mat{}, ErrEnd
	}
	if err := s.pace.wait(ctx); err != nil {
		return gocv.Mat{}, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		if s.vc == nil {
			if err := s.open(); err != nil {
				return gocv.Mat{}, err
			}
		}
		m := gocv.NewMat()
		if s.vc.Read(&m) && !m.Empty() {
			s.frames++
			return m, nil
		}
		m.Close()
		empty := s.frames == 0
		s.vc.Close()
		s.vc = nil
		if empty {
			return gocv.Mat{}, fmt.Errorf("camera: file source %s: no frames", s.path)
		}
		if !s.loop {
			s.ended = true
			return gocv.Mat{}, ErrEnd
		}
	}
	return gocv.Mat{}, fmt.Errorf("camera: file source %s: no frames after reopening", s.path)
}

func (s *fileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.vc != nil {
		err := s.vc.Close()
		s.vc = nil
		return err
	}
	return nil
}

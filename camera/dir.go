package camera

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true, ".pgm": true, ".ppm": true}

// dirSource plays the images of a folder in name order. The folder is listed
// again at the start of every pass, so images can be added or removed while
// it plays.
type dirSource struct {
	dir    string
	loop   bool
	pace   pacer
	files  []string
	pos    int
	passes int
	closed bool
}

func openDir(dir string, interval time.Duration, loop bool) (*dirSource, error) {
	s := &dirSource{dir: dir, loop: loop, pace: pacer{interval: interval}}
	if err := s.list(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *dirSource) list() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("camera: dir source: %w", err)
	}
	s.files = s.files[:0]
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !imageExt[strings.ToLower(filepath.Ext(e.Name()))] {
			continue
		}
		s.files = append(s.files, e.Name())
	}
	slices.Sort(s.files)
	if len(s.files) == 0 {
		return fmt.Errorf("camera: dir source %s: no images (jpg, png, bmp, webp, tiff, pgm, ppm)", s.dir)
	}
	s.pos = 0
	return nil
}

func (s *dirSource) Read(ctx context.Context) (gocv.Mat, error) {
	if s.closed {
		return gocv.Mat{}, ErrClosed
	}
	if s.pos >= len(s.files) {
		if !s.loop {
			return gocv.Mat{}, ErrEnd
		}
		s.passes++
		if err := s.list(); err != nil {
			return gocv.Mat{}, err
		}
	}
	if err := s.pace.wait(ctx); err != nil {
		return gocv.Mat{}, err
	}
	name := s.files[s.pos]
	s.pos++
	path := filepath.Join(s.dir, name)
	if _, err := os.Stat(path); err != nil {
		if _, derr := os.Stat(s.dir); derr != nil {
			return gocv.Mat{}, fmt.Errorf("camera: dir source: %w", derr)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return gocv.Mat{}, fmt.Errorf("%w: %s: vanished", ErrBadFrame, path)
		}
		return gocv.Mat{}, fmt.Errorf("%w: %s: %w", ErrBadFrame, path, err)
	}
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %s: not a decodable image", ErrBadFrame, path)
	}
	return m, nil
}

func (s *dirSource) Close() error {
	s.closed = true
	return nil
}

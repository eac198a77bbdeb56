package vision

import (
	"errors"
	"fmt"
	"os"

	"gocv.io/x/gocv"
)

// Sentinel errors; the returned errors wrap them with detail.
var (
	ErrNoFace       = errors.New("vision: no face")
	ErrSeveralFaces = errors.New("vision: several faces")
	ErrLowQuality   = errors.New("vision: face quality too low")
	ErrDecode       = errors.New("vision: not a readable image")
	ErrTooSmall     = errors.New("vision: image too small")
)

// MinImageSide is the smallest image side Detect accepts.
const MinImageSide = 32

// DecodeImage decodes JPEG/PNG/... bytes into a 3-channel BGR Mat the
// caller must Close. Corrupt or non-image data gives ErrDecode.
func DecodeImage(b []byte) (gocv.Mat, error) {
	if len(b) == 0 {
		return gocv.Mat{}, fmt.Errorf("%w: empty data", ErrDecode)
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %d bytes of unknown or corrupt image data", ErrDecode, len(b))
	}
	return m, nil
}

// ReadImage reads and decodes an image file (see DecodeImage); the error names the file.
func ReadImage(path string) (gocv.Mat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("vision: %w", err)
	}
	m, err := DecodeImage(b)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

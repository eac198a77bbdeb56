package enrol

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/facegate/facegate/vision"
)

// Photo format refusals (see checkImage); both also match vision.ErrDecode.
var (
	// ErrFormat: not a JPEG or PNG file.
	ErrFormat = errors.New("enrol: unsupported image format")
	// ErrIncomplete: the file ends before its image does (a truncated
	// upload or copy) or its data is damaged.
	ErrIncomplete = errors.New("enrol: incomplete or damaged image")
)

// signatures of the formats refused by name, so the message says what the
// file is.
var signatures = []struct {
	magic, name string
}{
	{"RIFF", "WebP or another RIFF file"},
	{"II*\x00", "TIFF"},
	{"MM\x00*", "TIFF"},
	{"GIF8", "GIF"},
	{"BM", "BMP"},
	{"\x00\x00\x00\x0cjP  ", "JPEG 2000"},
	{"\xff\x4f\xff\x51", "JPEG 2000"},
	{"8BPS", "Photoshop"},
	{"P1", "PNM"}, {"P2", "PNM"}, {"P3", "PNM"}, {"P4", "PNM"}, {"P5", "PNM"}, {"P6", "PNM"},
	{"#?RADIANCE", "HDR"},
	{"v/1\x01", "OpenEXR"},
	{"<svg", "SVG"}, {"<?xml", "XML/SVG"},
}

// checkImage runs before any decoder touches the pixels: only JPEG and PNG
// are accepted (OpenCV decodes many more formats, and a 10 KB WebP or TIFF
// can declare a 16383x16383 or 30000x30000 image that takes gigabytes), the
// pixel size is read from the header and capped at MaxImagePixels, and the
// whole image must decode: a truncated JPEG is otherwise accepted by OpenCV
// with grey rows and only a warning.
func checkImage(data []byte) error {
	var decode func([]byte) error
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		decode = func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decode = func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }
	default:
		what := "not an image"
		for _, s := range signatures {
			if bytes.HasPrefix(data, []byte(s.magic)) {
				what = "a " + s.name + " file, not JPEG or PNG"
				if s.magic == "RIFF" && len(data) >= 12 && string(data[8:12]) == "WEBP" {
					what = "a WebP file"
				}
				break
			}
		}
		return fmt.Errorf("%w: %s; only JPEG and PNG photos are accepted%w", ErrFormat, what, quiet{vision.ErrDecode})
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: its header cannot be read: %v%w", ErrIncomplete, err, quiet{vision.ErrDecode})
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return fmt.Errorf("%w: %dx%d pixels; use a photo of at most %d megapixels", ErrTooLarge, cfg.Width, cfg.Height, MaxImagePixels/1_000_000)
	}
	if err := decode(data); err != nil {
		return fmt.Errorf("%w: %v%w", ErrIncomplete, err, quiet{vision.ErrDecode})
	}
	return nil
}

// quiet wraps an error for errors.Is without adding to the message.
type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }

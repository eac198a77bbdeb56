package source

import (
	"errors"
	"fmt"
	"strings"
)

// The source kinds.
const (
	Dir   = "dir"   // dir:PATH, an image folder played as frames
	File  = "file"  // file:PATH, a video file
	V4L2  = "v4l2"  // v4l2:N or v4l2:/dev/videoN, a USB webcam
	Gst   = "gst"   // gst:PIPELINE, a GStreamer pipeline ending in appsink (CSI camera: libcamerasrc)
	MJPEG = "mjpeg" // mjpeg:-, MJPEG on standard input
	Cmd   = "cmd"   // cmd:COMMAND, MJPEG on a child process's standard output (rpicam-vid)
)

// Kinds lists the kinds in the order messages name them.
var Kinds = []string{Dir, File, V4L2, Gst, MJPEG, Cmd}

// ErrSpec is wrapped by every Parse error.
var ErrSpec = errors.New("bad camera source")

// Spec is a parsed source name.
type Spec struct {
	Kind string // one of Kinds
	Arg  string // what follows the first colon, never empty
}

func (s Spec) String() string { return s.Kind + ":" + s.Arg }

// Parse checks a source name and splits it into kind and argument.
func Parse(name string) (Spec, error) {
	kind, arg, ok := strings.Cut(name, ":")
	if !ok || arg == "" {
		return Spec{}, fmt.Errorf("%w: %q must be KIND:ARG with KIND one of %s", ErrSpec, name, strings.Join(Kinds, ", "))
	}
	switch kind {
	case Dir, File, Gst, Cmd:
	case V4L2:
		if strings.Trim(arg, "0123456789") != "" && !strings.HasPrefix(arg, "/dev/") {
			return Spec{}, fmt.Errorf("%w: v4l2 wants a device number or /dev path, got %q", ErrSpec, arg)
		}
	case MJPEG:
		if arg != "-" {
			return Spec{}, fmt.Errorf("%w: mjpeg supports only \"mjpeg:-\" (standard input), got %q", ErrSpec, name)
		}
	default:
		return Spec{}, fmt.Errorf("%w: unknown kind %q in %q (want one of %s)", ErrSpec, kind, name, strings.Join(Kinds, ", "))
	}
	return Spec{Kind: kind, Arg: arg}, nil
}

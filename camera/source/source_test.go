package source

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for name, want := range map[string]Spec{
		"dir:/srv/faces":             {Dir, "/srv/faces"},
		"file:a:b.mp4":               {File, "a:b.mp4"},
		"v4l2:0":                     {V4L2, "0"},
		"v4l2:/dev/video2":           {V4L2, "/dev/video2"},
		"gst:videotestsrc ! appsink": {Gst, "videotestsrc ! appsink"},
		"mjpeg:-":                    {MJPEG, "-"},
		"cmd:rpicam-vid -t 0":        {Cmd, "rpicam-vid -t 0"},
	} {
		got, err := Parse(name)
		if err != nil || got != want || got.String() != name {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for name, why := range map[string]string{
		"":             "must be KIND:ARG",
		"webcam":       "must be KIND:ARG",
		"dir:":         "must be KIND:ARG",
		"usb:0":        `unknown kind "usb"`,
		"v4l2:video0":  "device number or /dev path",
		"mjpeg:/tmp/x": `only "mjpeg:-"`,
	} {
		_, err := Parse(name)
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%q) = %v, want ErrSpec saying %q", name, err, why)
		}
	}
}

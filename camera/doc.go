// Package camera provides facegate's frame sources behind one small
// interface, Source, opened from the camera.source configuration string:
//
//	v4l2:N or v4l2:/dev/videoN   a USB webcam through V4L2
//	gst:PIPELINE                 a GStreamer pipeline ending in appsink (libcamerasrc on a Pi CSI camera)
//	file:PATH                    a video file (FFmpeg backend), paced at camera.fps
//	dir:PATH                     an image folder played in name order at camera.fps
//	mjpeg:-                      a stream of JPEG images on standard input
//	cmd:COMMAND                  a child process (sh -c COMMAND) writing MJPEG to its stdout,
//	                             for example "rpicam-vid -t 0 --codec mjpeg -o -"
//
// dir: and file: sources loop when camera.loop is set and return ErrEnd at
// the end otherwise. A frame that cannot be decoded is reported as
// ErrBadFrame (the caller skips it); any other error means the source is
// lost and should be closed and reopened. Reads of dir:, file:, mjpeg: and
// cmd: sources honour the context; V4L2 and GStreamer reads block inside
// OpenCV until the driver returns. Source names are parsed by package
// camera/source, which config validation uses too.
//
// Supervisor keeps one camera running for the access loop: it reads into a
// one-frame slot (the consumer always takes the newest frame; older ones are
// dropped, never queued), reopens the source with back-off after errors and
// stalls, catches reads blocked inside OpenCV (Watch), raises one camera_lost
// alarm per outage and reports the camera's health.
package camera

// Package source is the one parser of camera source names (camera.source in
// the configuration): KIND:ARG with KIND one of dir, file, v4l2, gst, mjpeg,
// cmd. Package camera opens what it parses and package config validates with
// it; it has no OpenCV dependency, so config can use it.
package source

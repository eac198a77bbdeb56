package vision

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "faceshim.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"

	"gocv.io/x/gocv"
)

// ErrOpenCV wraps every exception thrown by OpenCV's C++ code.
var ErrOpenCV = errors.New("vision: opencv")

func cvError(what string, msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return &cvErr{what: what, msg: s}
}

type cvErr struct{ what, msg string }

func (e *cvErr) Error() string { return "vision: " + e.what + ": " + e.msg }
func (e *cvErr) Unwrap() error { return ErrOpenCV }

// yunet is a cv::FaceDetectorYN. Not safe for concurrent use.
type yunet struct{ h C.fg_detector }

func newYuNet(model string, score float32) (*yunet, error) {
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var h C.fg_detector
	if err := cvError("load detector "+model, C.fg_detector_new(cm, 320, 320, C.float(score), 0.3, 5000, &h)); err != nil {
		return nil, err
	}
	return &yunet{h: h}, nil
}

// detect writes the detector's N x 15 CV_32F rows for img into faces.
func (y *yunet) detect(img gocv.Mat, faces *gocv.Mat) error {
	err := cvError("detect", C.fg_detector_detect(y.h, unsafe.Pointer(img.Ptr()), unsafe.Pointer(faces.Ptr())))
	runtime.KeepAlive(img)
	runtime.KeepAlive(faces)
	return err
}

func (y *yunet) close() {
	if y != nil && y.h != nil {
		C.fg_detector_free(y.h)
		y.h = nil
	}
}

// aligner is a cv::FaceRecognizerSF used only for alignCrop.
type aligner struct{ h C.fg_aligner }

func newAligner(model string) (*aligner, error) {
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var h C.fg_aligner
	if err := cvError("load aligner "+model, C.fg_aligner_new(cm, &h)); err != nil {
		return nil, err
	}
	return &aligner{h: h}, nil
}

func (a *aligner) align(img, row gocv.Mat, out *gocv.Mat) error {
	err := cvError("align", C.fg_aligner_align(a.h, unsafe.Pointer(img.Ptr()), unsafe.Pointer(row.Ptr()), unsafe.Pointer(out.Ptr())))
	runtime.KeepAlive(img)
	runtime.KeepAlive(row)
	runtime.KeepAlive(out)
	return err
}

func (a *aligner) close() {
	if a != nil && a.h != nil {
		C.fg_aligner_free(a.h)
		a.h = nil
	}
}

func checkNet(model string) error {
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	return cvError("load network "+model, C.fg_check_net(cm))
}

// SetThreads sets OpenCV's worker thread count for the whole process
// (cv::setNumThreads); n <= 0 leaves OpenCV's default. gocv v0.32 has no setter.
func SetThreads(n int) {
	if n > 0 {
		C.fg_set_num_threads(C.int(n))
	}
}

// Threads returns OpenCV's current worker thread count.
func Threads() int { return int(C.fg_get_num_threads()) }

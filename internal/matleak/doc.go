// Package matleak provides the gocv Mat leak check shared by the tests of
// every package that uses OpenCV. It counts Mats only when the tests are
// built with -tags matprofile (as make test does); without the tag Check does
// nothing and Enabled is false.
//
// It is a package of its own, not part of testenv, so that the tests of
// packages without OpenCV do not link it.
package matleak

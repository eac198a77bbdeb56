// Package enrol is the one way faces enter the library: facegate enrol (the
// command line), the web page's uploads and its capture from the live
// camera, and the tests all use a Service.
//
// It owns the rules for what is stored: the photo check (image.go: not
// empty, JPEG or PNG only, at most MaxImagePixels as read from the header
// before anything decodes the pixels, decoding completely so a truncated
// file is refused, exactly one face passing the quality gates of package
// vision), the name rule (name.go: valid UTF-8, no control, bidirectional
// or invisible characters; a warning for a name that only differs from
// another one by case, spacing or invisible characters), the meaning of every stored template field
// (Quality is the detector's score of the face, 0..1) and the duplicate
// warning (a face that already matches another person is stored, with a
// warning naming that person). It also loads the library into a
// vision.Gallery (LoadGallery), which keeps package vision free of the
// database.
package enrol

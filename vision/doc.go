// Package vision is facegate's face recognition core: YuNet detection
// through a small cgo shim around cv::FaceDetectorYN, quality gates (size,
// detector score, sharpness, frontal pose), alignment with
// cv::FaceRecognizerSF::alignCrop, L2-normalised embeddings through gocv's
// dnn module with model profiles (fr512, sface), an in-memory 1:N gallery
// that stays fast at 100,000 templates, and the evaluation protocol behind
// `facegate eval`.
//
// A Pipeline and a Gallery are safe for concurrent use. Every gocv.Mat the
// package creates is closed before it returns, except those it hands to the
// caller (DecodeImage, ReadImage), which the caller closes.
package vision

// faceshim.h: a plain C interface to cv::FaceDetectorYN and
// cv::FaceRecognizerSF::alignCrop (OpenCV 4.6 objdetect), which gocv v0.32
// does not wrap. Handles are opaque; Mats are gocv's cv::Mat pointers passed
// as void*. Every function that can throw returns NULL on success or a
// malloc'd error message the caller must free.
#ifndef FACEGATE_FACESHIM_H
#define FACEGATE_FACESHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void* fg_detector;
typedef void* fg_aligner;

char* fg_detector_new(const char* model, int width, int height, float score, float nms, int top_k, fg_detector* out);
// fg_detector_detect sets the input size to the image's size and writes one
// CV_32F row of 15 values per face into faces (a Mat created by Go).
char* fg_detector_detect(fg_detector d, void* img, void* faces);
void fg_detector_free(fg_detector d);

char* fg_aligner_new(const char* model, fg_aligner* out);
// fg_aligner_align writes the 112x112 aligned face for one 15-value
// detector row (a 1x15 CV_32F Mat) into aligned.
char* fg_aligner_align(fg_aligner a, void* img, void* row, void* aligned);
void fg_aligner_free(fg_aligner a);

// fg_check_net loads an ONNX (or other dnn) model once, so that a corrupt
// file becomes an error here instead of an uncaught exception in gocv.
char* fg_check_net(const char* model);

void fg_set_num_threads(int n);
int fg_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif

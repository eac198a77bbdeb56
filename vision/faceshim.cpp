// faceshim.cpp: see faceshim.h.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/objdetect.hpp>

#include "faceshim.h"

static char* fg_err(const char* what) { return strdup(what ? what : "unknown C++ exception"); }

#define FG_TRY try {
#define FG_CATCH                                       \
	}                                                  \
	catch (const cv::Exception& e) {                   \
		return fg_err(e.what());                       \
	}                                                  \
	catch (const std::exception& e) {                  \
		return fg_err(e.what());                       \
	}                                                  \
	catch (...) {                                      \
		return fg_err("unknown C++ exception");        \
	}                                                  \
	return NULL;

char* fg_detector_new(const char* model, int width, int height, float score, float nms, int top_k, fg_detector* out) {
	*out = NULL;
	FG_TRY
	cv::Ptr<cv::FaceDetectorYN> d = cv::FaceDetectorYN::create(model, "", cv::Size(width, height), score, nms, top_k);
	if (d.empty()) return fg_err("FaceDetectorYN::create returned nothing");
	*out = new cv::Ptr<cv::FaceDetectorYN>(d);
	FG_CATCH
}

char* fg_detector_detect(fg_detector d, void* img, void* faces) {
	FG_TRY
	cv::Ptr<cv::FaceDetectorYN>& det = *static_cast<cv::Ptr<cv::FaceDetectorYN>*>(d);
	cv::Mat& m = *static_cast<cv::Mat*>(img);
	cv::Mat& out = *static_cast<cv::Mat*>(faces);
	det->setInputSize(m.size());
	det->detect(m, out);
	FG_CATCH
}

void fg_detector_free(fg_detector d) { delete static_cast<cv::Ptr<cv::FaceDetectorYN>*>(d); }

char* fg_aligner_new(const char* model, fg_aligner* out) {
	*out = NULL;
	FG_TRY
	cv::Ptr<cv::FaceRecognizerSF> r = cv::FaceRecognizerSF::create(model, "");
	if (r.empty()) return fg_err("FaceRecognizerSF::create returned nothing");
	*out = new cv::Ptr<cv::FaceRecognizerSF>(r);
	FG_CATCH
}

char* fg_aligner_align(fg_aligner a, void* img, void* row, void* aligned) {
	FG_TRY
	cv::Ptr<cv::FaceRecognizerSF>& r = *static_cast<cv::Ptr<cv::FaceRecognizerSF>*>(a);
	r->alignCrop(*static_cast<cv::Mat*>(img), *static_cast<cv::Mat*>(row), *static_cast<cv::Mat*>(aligned));
	FG_CATCH
}

void fg_aligner_free(fg_aligner a) { delete static_cast<cv::Ptr<cv::FaceRecognizerSF>*>(a); }

char* fg_check_net(const char* model) {
	FG_TRY
	cv::dnn::Net n = cv::dnn::readNet(model);
	if (n.empty()) return fg_err("readNet returned an empty network");
	FG_CATCH
}

void fg_set_num_threads(int n) { cv::setNumThreads(n); }
int fg_get_num_threads(void) { return cv::getNumThreads(); }

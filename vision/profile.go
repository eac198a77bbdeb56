package vision

import (
	"fmt"
	"image"
	"sort"
)

// Profile describes how one embedding model is fed and compared.
type Profile struct {
	ID        string      // stored with every template, e.g. "fr512"
	File      string      // file name inside the models directory
	InputSize image.Point // network input (width, height) = aligned crop size
	Scale     float64     // blobFromImage scale factor
	Mean      float64     // subtracted from every channel before scaling
	SwapRB    bool        // feed RGB instead of OpenCV's BGR
	Dims      int         // embedding length
	// Threshold is the default cosine threshold for this model; for fr512 it
	// was chosen on ../shared/faces (docs/recognition.md), for sface it is
	// OpenCV Zoo's published cosine threshold.
	Threshold float64
}

// DetectorFile is the YuNet model (OpenCV 4.6 compatible) in the models directory.
const DetectorFile = "yunet_a61a428_fixed_1x3x120x160.onnx"

var profiles = map[string]Profile{
	"fr512": {ID: "fr512", File: "fr_feature.onnx", InputSize: image.Pt(112, 112),
		Scale: 1.0 / 128, Mean: 127, SwapRB: true, Dims: 512, Threshold: 0.48},
	"sface": {ID: "sface", File: "face_recognition_sface_2021dec.onnx", InputSize: image.Pt(112, 112),
		Scale: 1, Mean: 0, SwapRB: true, Dims: 128, Threshold: 0.363},
}

// LookupProfile returns the profile of a model id.
func LookupProfile(id string) (Profile, error) {
	p, ok := profiles[id]
	if !ok {
		return Profile{}, fmt.Errorf("vision: unknown model %q (known: %v)", id, ProfileIDs())
	}
	return p, nil
}

// ProfileIDs lists the known model ids.
func ProfileIDs() []string {
	ids := make([]string, 0, len(profiles))
	for id := range profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

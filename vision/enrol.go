package vision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/facegate/facegate/facedb"
)

// EnrolImage is one image offered for enrolment; Name (a file name) is used
// in messages only.
type EnrolImage struct {
	Name string
	Data []byte
}

// Refusal says why one image was not used.
type Refusal struct {
	Image string
	Err   error // wraps ErrDecode, ErrNoFace, ErrSeveralFaces, ErrLowQuality, ErrTooSmall, ...
}

func (r Refusal) String() string { return r.Image + ": " + r.Err.Error() }

// Duplicate warns that an accepted image already matches another enrolled
// person at or above the threshold.
type Duplicate struct {
	Image    string
	PersonID int64
	Name     string
	Score    float32
}

func (d Duplicate) String() string {
	return fmt.Sprintf("%s already matches person %d %q (score %.3f)", d.Image, d.PersonID, d.Name, d.Score)
}

// EnrolResult is what EnrolPerson did.
type EnrolResult struct {
	Person     facedb.Person // zero when nothing was stored
	Accepted   int
	Refused    []Refusal
	Duplicates []Duplicate
}

// ErrNothingEnrolled is returned when every image was refused; no person is created.
var ErrNothingEnrolled = errors.New("vision: no usable image, person not created")

// EnrolOptions tune EnrolPerson.
type EnrolOptions struct {
	// DupThreshold > 0 matches every accepted face against the people
	// already enrolled (enabled or not) and reports those >= it.
	DupThreshold float64
	// OnImage, if set, is called after each image (for progress bars).
	OnImage func(image string)
}

// EnrolPerson creates a person named name with one template (and thumbnail)
// per usable image, in one transaction. Images with no face, several faces,
// a face failing the quality gates or undecodable data are refused and
// listed; nothing is stored for them. Faces that already match another
// person are reported (see EnrolOptions.DupThreshold) but still enrolled.
func EnrolPerson(ctx context.Context, p *Pipeline, db *facedb.DB, name string, imgs []EnrolImage, o EnrolOptions) (EnrolResult, error) {
	dupThreshold := o.DupThreshold
	var res EnrolResult
	name = strings.TrimSpace(name)
	if name == "" {
		return res, errors.New("vision: enrol: empty name")
	}
	var g *Gallery
	if dupThreshold > 0 {
		g = NewGallery(p.ModelID())
		if err := LoadGallery(ctx, db, g); err != nil {
			return res, err
		}
	}
	var ts []facedb.Template
	for _, im := range imgs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		a, thumb, err := enrolOne(p, im.Data)
		if o.OnImage != nil {
			o.OnImage(im.Name)
		}
		if err != nil {
			res.Refused = append(res.Refused, Refusal{Image: im.Name, Err: err})
			continue
		}
		if g != nil {
			if m := g.MatchAny(a.Embedding); m.PersonID != 0 && float64(m.Score) >= dupThreshold {
				res.Duplicates = append(res.Duplicates, Duplicate{Image: im.Name, PersonID: m.PersonID, Name: m.Name, Score: m.Score})
			}
		}
		ts = append(ts, facedb.Template{Model: p.ModelID(), Embedding: a.Embedding, Quality: float64(a.Face.Score), Thumbnail: thumb})
	}
	if len(ts) == 0 {
		return res, fmt.Errorf("%w: %q: all %d image(s) refused", ErrNothingEnrolled, name, len(imgs))
	}
	person, err := db.AddPerson(ctx, name, ts)
	if err != nil {
		return res, fmt.Errorf("vision: enrol %q: %w", name, err)
	}
	res.Person, res.Accepted = person, len(ts)
	return res, nil
}

func enrolOne(p *Pipeline, data []byte) (Analysis, []byte, error) {
	img, err := DecodeImage(data)
	if err != nil {
		return Analysis{}, nil, err
	}
	defer img.Close()
	return p.Enrol(img)
}

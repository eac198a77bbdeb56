package enrol

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// Photo refusals other than the vision ones (vision.ErrDecode, ErrNoFace,
// ErrSeveralFaces, ErrLowQuality, ErrTooSmall). Check with errors.Is.
var (
	ErrEmpty           = errors.New("enrol: empty file")
	ErrTooLarge        = errors.New("enrol: photo too large")
	ErrNoPhoto         = errors.New("enrol: no photo given")
	ErrBadName         = errors.New("enrol: bad name")
	ErrNothingEnrolled = errors.New("enrol: no usable photo, nothing stored")
)

// MaxImagePixels is the largest photo accepted, read from the file's header
// before anything is decoded: 24 MP (a 6000x4000 camera photo) is 72 MB of
// BGR.
const MaxImagePixels = 24_000_000

// MaxNameLen is the longest display name, in characters.
const MaxNameLen = 100

// Pipeline checks one photo and embeds its face (*vision.Pipeline).
type Pipeline interface {
	Enrol(img gocv.Mat) (vision.Analysis, []byte, error)
	ModelID() string
}

// Library stores people and templates (*facedb.DB).
type Library interface {
	AddPerson(ctx context.Context, name string, ts []facedb.Template) (facedb.Person, error)
	AddTemplates(ctx context.Context, personID int64, ts []facedb.Template) error
	Person(ctx context.Context, id int64) (facedb.Person, error)
	Store
}

// Matcher finds the enrolled person a face is most like, enabled or not
// (*vision.Gallery).
type Matcher interface {
	MatchAny(emb []float32) vision.Match
}

// Options tune a Service.
type Options struct {
	// DuplicateThreshold > 0 matches every accepted face against the
	// library and warns about matches at or above it (recognition.threshold
	// when recognition.duplicate_warn is on); 0 turns the warning off.
	DuplicateThreshold float64
	// Gallery, if set, gives the face library in memory to check
	// duplicates against (the camera loop's in the daemon). Without it the
	// Service keeps a LiveGallery of its own.
	Gallery Gallery
}

// Service enrols people. It is safe for concurrent use.
type Service struct {
	p   Pipeline
	lib Library
	opt Options
}

// New returns a service storing into lib what p accepts.
func New(p Pipeline, lib Library, o Options) *Service {
	if o.Gallery == nil {
		o.Gallery = NewLiveGallery(lib, p.ModelID())
	}
	return &Service{p: p, lib: lib, opt: o}
}

// ModelID is the model of the templates the service stores.
func (s *Service) ModelID() string { return s.p.ModelID() }

// Photo is one image offered for enrolment; Name (a file name) is used in
// messages only.
type Photo struct {
	Name string
	Data []byte
}

// Verdict is the outcome of one photo: refused (Err set; nothing is
// stored for it) or accepted, possibly with a duplicate warning.
type Verdict struct {
	Photo     string
	Err       error      // why the photo was refused; wraps one of the sentinels
	Duplicate *Duplicate // an accepted face that already matches someone else
}

// OK reports whether the photo was accepted.
func (v Verdict) OK() bool { return v.Err == nil }

// Duplicate warns that a face already matches another enrolled person at or
// above the threshold. Also is set when the face matches the person it is
// for as well (photos added to an existing person).
type Duplicate struct {
	PersonID int64
	Name     string
	Score    float32
	Also     bool
}

// String is the warning, e.g. `already matches person 3 "Ada" (score 0.712)`;
// callers put the photo in front ("img4.jpg", "this face").
func (d Duplicate) String() string {
	verb := "already matches"
	if d.Also {
		verb = "also matches"
	}
	return fmt.Sprintf("%s person %d %q (score %.3f)", verb, d.PersonID, d.Name, d.Score)
}

// Explain turns a refusal into the sentence shown next to the photo.
func Explain(err error) string {
	detail := func(sentinel error) string {
		return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
	}
	switch {
	case errors.Is(err, ErrBadName):
		return detail(ErrBadName)
	case errors.Is(err, ErrEmpty):
		return "empty file"
	case errors.Is(err, ErrTooLarge):
		return "too large: " + detail(ErrTooLarge)
	case errors.Is(err, ErrFormat):
		return detail(ErrFormat)
	case errors.Is(err, ErrIncomplete):
		return "the image is incomplete or damaged (a truncated file?): " + detail(ErrIncomplete)
	case errors.Is(err, vision.ErrDecode):
		return "not an image, or a damaged one (JPEG or PNG expected)"
	case errors.Is(err, vision.ErrTooSmall):
		return "image too small: " + detail(vision.ErrTooSmall)
	case errors.Is(err, vision.ErrNoFace):
		return "no face found in this photo"
	case errors.Is(err, vision.ErrSeveralFaces):
		return "several faces in this photo (" + detail(vision.ErrSeveralFaces) + "): use a photo of this person alone"
	case errors.Is(err, vision.ErrLowQuality):
		return "face not usable: " + detail(vision.ErrLowQuality)
	}
	return "could not check this photo: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), "vision: "), "enrol: ")
}

// CleanName is the name rule: valid UTF-8, trimmed, not empty, at most
// MaxNameLen characters, no control characters, no bidirectional controls
// and no invisible characters (zero widths, ...; see nameProblem). Errors
// wrap ErrBadName.
func CleanName(n string) (string, error) {
	if p := nameProblem(n); p != "" {
		return "", fmt.Errorf("%w: %s", ErrBadName, p)
	}
	n = strings.TrimSpace(n)
	if n == "" {
		return "", fmt.Errorf("%w: a name is required", ErrBadName)
	}
	if len([]rune(n)) > MaxNameLen {
		return "", fmt.Errorf("%w: the name is longer than %d characters", ErrBadName, MaxNameLen)
	}
	return n, nil
}

// Batch collects the checked photos for one person, then stores the
// accepted ones in one transaction. It is not safe for concurrent use.
type Batch struct {
	s         *Service
	forPerson int64 // 0: a new person
	ts        []facedb.Template
	verdicts  []Verdict
}

// NewBatch starts the photos for a new person (forPerson 0) or for the
// existing person forPerson, whose own matches are then no warning.
func (s *Service) NewBatch(forPerson int64) *Batch { return &Batch{s: s, forPerson: forPerson} }

// Verdicts are the outcomes so far, in the order the photos came.
func (b *Batch) Verdicts() []Verdict { return b.verdicts }

// Accepted is the number of photos that will be stored.
func (b *Batch) Accepted() int { return len(b.ts) }

// Refuse records a photo refused before its content was checked (an upload
// over its size limit, a file that could not be read).
func (b *Batch) Refuse(photo string, err error) Verdict {
	v := Verdict{Photo: photo, Err: err}
	b.verdicts = append(b.verdicts, v)
	return v
}

// Add checks one photo and keeps its template when it is accepted.
func (b *Batch) Add(ctx context.Context, ph Photo) Verdict {
	v := Verdict{Photo: ph.Name}
	t, err := b.s.Check(ph.Data)
	if err != nil {
		v.Err = err
	} else {
		v.Duplicate = b.s.duplicate(ctx, t.Embedding, b.forPerson)
		b.ts = append(b.ts, t)
	}
	b.verdicts = append(b.verdicts, v)
	return v
}

// empty says why nothing can be stored, or nil.
func (b *Batch) empty() error {
	switch {
	case len(b.verdicts) == 0:
		return ErrNoPhoto
	case len(b.ts) == 0:
		return fmt.Errorf("%w: all %d photo(s) refused", ErrNothingEnrolled, len(b.verdicts))
	}
	return nil
}

// CreatePerson stores a new person named name (see CleanName) with the
// accepted photos. It stores nothing when the name is bad (ErrBadName), no
// photo was given (ErrNoPhoto) or none was accepted (ErrNothingEnrolled).
func (b *Batch) CreatePerson(ctx context.Context, name string) (facedb.Person, error) {
	if b.forPerson != 0 {
		return facedb.Person{}, fmt.Errorf("enrol: CreatePerson on a batch for person %d", b.forPerson)
	}
	name, err := CleanName(name)
	if err != nil {
		return facedb.Person{}, err
	}
	if err := b.empty(); err != nil {
		return facedb.Person{}, fmt.Errorf("%q: %w", name, err)
	}
	p, err := b.s.lib.AddPerson(ctx, name, b.ts)
	if err != nil {
		return facedb.Person{}, fmt.Errorf("enrol %q: %w", name, err)
	}
	return p, nil
}

// AddToPerson stores the accepted photos for the batch's existing person,
// or nothing (ErrNoPhoto, ErrNothingEnrolled).
func (b *Batch) AddToPerson(ctx context.Context) error {
	if b.forPerson == 0 {
		return errors.New("enrol: AddToPerson on a batch for a new person")
	}
	if err := b.empty(); err != nil {
		return err
	}
	if err := b.s.lib.AddTemplates(ctx, b.forPerson, b.ts); err != nil {
		return fmt.Errorf("enrol: person %d: %w", b.forPerson, err)
	}
	return nil
}

// Check is the one photo check, without storing anything: the template
// (with its thumbnail) that enrolling the photo would store, or why the
// photo is refused. Batches use it; so does facegate site enrol, which
// publishes the template instead of storing it.
func (s *Service) Check(data []byte) (facedb.Template, error) {
	if len(data) == 0 {
		return facedb.Template{}, ErrEmpty
	}
	if err := checkImage(data); err != nil {
		return facedb.Template{}, err
	}
	img, err := vision.DecodeImage(data)
	if err != nil {
		return facedb.Template{}, err
	}
	defer img.Close()
	a, thumb, err := s.p.Enrol(img)
	if err != nil {
		return facedb.Template{}, err
	}
	return facedb.Template{
		Model:     s.p.ModelID(),
		Embedding: a.Embedding,
		Quality:   float64(a.Face.Score),
		Thumbnail: thumb,
	}, nil
}

// duplicate names another person the face already matches, or nil.
func (s *Service) duplicate(ctx context.Context, emb []float32, forPerson int64) *Duplicate {
	thr := s.opt.DuplicateThreshold
	if thr <= 0 || len(emb) == 0 {
		return nil
	}
	g, err := s.opt.Gallery.CurrentGallery(ctx)
	if err != nil {
		return nil // the photo is still stored; the check is advice
	}
	m := g.MatchAny(emb)
	if m.PersonID == 0 || float64(m.Score) < thr {
		return nil
	}
	if m.PersonID != forPerson {
		return &Duplicate{PersonID: m.PersonID, Name: m.Name, Score: m.Score}
	}
	if m.SecondPersonID == 0 || float64(m.SecondScore) < thr {
		return nil
	}
	name := "another person"
	if p, err := s.lib.Person(ctx, m.SecondPersonID); err == nil {
		name = p.Name
	}
	return &Duplicate{PersonID: m.SecondPersonID, Name: name, Score: m.SecondScore, Also: true}
}

// Result is what EnrolPerson did.
type Result struct {
	Person   facedb.Person // zero when nothing was stored
	Verdicts []Verdict
}

// Accepted is the number of photos stored.
func (r Result) Accepted() int {
	n := 0
	for _, v := range r.Verdicts {
		if v.OK() {
			n++
		}
	}
	return n
}

// EnrolPerson checks photos and creates a person named name with one
// template per accepted photo, in one transaction; onPhoto, if set, is
// called after each photo (progress bars). When every photo is refused it
// returns ErrNothingEnrolled and creates nobody.
func (s *Service) EnrolPerson(ctx context.Context, name string, photos []Photo, onPhoto func(Verdict)) (Result, error) {
	if _, err := CleanName(name); err != nil {
		return Result{}, err
	}
	b := s.NewBatch(0)
	for _, ph := range photos {
		if err := ctx.Err(); err != nil {
			return Result{Verdicts: b.Verdicts()}, err
		}
		v := b.Add(ctx, ph)
		if onPhoto != nil {
			onPhoto(v)
		}
	}
	p, err := b.CreatePerson(ctx, name)
	return Result{Person: p, Verdicts: b.Verdicts()}, err
}

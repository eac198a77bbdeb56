package enrol

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

func TestMain(m *testing.M) {
	if os.Getenv("OPENCV_LOG_LEVEL") == "" {
		os.Setenv("OPENCV_LOG_LEVEL", "ERROR")
	}
	os.Exit(m.Run())
}

// threshold is the shipped fr512 threshold.
func threshold() float64 {
	p, _ := vision.LookupProfile("fr512")
	return p.Threshold
}

func openPipeline(t testing.TB) *vision.Pipeline {
	t.Helper()
	p, err := vision.Open(visionconfig.Options(config.Default().Recognition, testenv.ModelsDir(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openDB(t testing.TB) *facedb.DB {
	t.Helper()
	db, err := facedb.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func photo(t testing.TB, folder, file string) Photo {
	t.Helper()
	b, err := os.ReadFile(testenv.Face(t, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	return Photo{Name: file, Data: b}
}

func embedding(t testing.TB, p *vision.Pipeline, folder, file string) []float32 {
	t.Helper()
	img, err := vision.ReadImage(testenv.Face(t, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	as, err := p.Analyze(img)
	if err != nil || len(as) == 0 || as[0].Embedding == nil {
		t.Fatalf("%s/%s: no usable face: %+v, %v", folder, file, as, err)
	}
	return as[0].Embedding
}

// TestEnrolPerson covers the enrolment rules with a real library: refused
// images are named and store nothing, a person whose every image is refused
// is not created, and a face that already matches someone is reported.
func TestEnrolPerson(t *testing.T) {
	matleak.Check(t)
	ctx := context.Background()
	p := openPipeline(t)
	db := openDB(t)
	s := New(p, db, Options{DuplicateThreshold: threshold()})

	res, err := s.EnrolPerson(ctx, "nobody", []Photo{
		photo(t, "_noface", "fruits.jpg"),
		photo(t, "_multiface", "couple.jpg"),
		{Name: "garbage.jpg", Data: []byte("garbage")},
		{Name: "empty.jpg"},
	}, nil)
	if !errors.Is(err, ErrNothingEnrolled) || len(res.Verdicts) != 4 || res.Accepted() != 0 {
		t.Fatalf("all-refused enrolment: %+v, %v", res, err)
	}
	for i, want := range []error{vision.ErrNoFace, vision.ErrSeveralFaces, vision.ErrDecode, ErrEmpty} {
		if !errors.Is(res.Verdicts[i].Err, want) {
			t.Errorf("refusal %d (%s): %v, want %v", i, res.Verdicts[i].Photo, res.Verdicts[i].Err, want)
		}
	}
	if people, _ := db.People(ctx); len(people) != 0 {
		t.Fatalf("people after an all-refused enrolment: %+v", people)
	}

	var seen []string
	res, err = s.EnrolPerson(ctx, "alice", []Photo{
		photo(t, "df01", "img1.jpg"), photo(t, "_noface", "fruits.jpg"), photo(t, "df01", "img2.jpg"),
	}, func(v Verdict) { seen = append(seen, v.Photo) })
	if err != nil || res.Accepted() != 2 || len(res.Verdicts) != 3 || res.Verdicts[1].OK() || res.Verdicts[1].Photo != "fruits.jpg" {
		t.Fatalf("alice: %+v, %v", res, err)
	}
	for _, v := range res.Verdicts {
		if v.Duplicate != nil {
			t.Errorf("alice's first photos warned %v", v.Duplicate)
		}
	}
	if len(seen) != 3 {
		t.Errorf("onPhoto called for %v, want all three images", seen)
	}
	if got, _ := db.Person(ctx, res.Person.ID); got.Templates != 2 {
		t.Errorf("alice has %d templates, want 2", got.Templates)
	}
	if _, err := s.NewBatch(res.Person.ID).CreatePerson(ctx, "x"); err == nil {
		t.Error("CreatePerson on a batch for an existing person")
	}
	if th, err := db.PersonThumbnail(ctx, res.Person.ID); err != nil || len(th) < 100 {
		t.Errorf("alice thumbnail: %d bytes, %v", len(th), err)
	}
	// Another photo of alice for alice: no warning.
	b := s.NewBatch(res.Person.ID)
	if v := b.Add(ctx, photo(t, "df01", "img5.jpg")); !v.OK() || v.Duplicate != nil {
		t.Errorf("alice's own photo for alice: %+v", v)
	}
	if err := b.AddToPerson(ctx); err != nil {
		t.Fatal(err)
	}
	// templates.quality is the detector's score of the face, the same for
	// every way in.
	ts, _ := db.Templates(ctx, p.ModelID())
	for _, tp := range ts {
		if tp.Quality < 0.9 || tp.Quality > 1 {
			t.Errorf("stored quality %v, want the detector score (>= 0.9, <= 1)", tp.Quality)
		}
	}

	// The same face under another name: enrolled, with a warning naming alice.
	res2, err := s.EnrolPerson(ctx, "alias", []Photo{photo(t, "df01", "img4.jpg"), photo(t, "df02", "img8.jpg")}, nil)
	if err != nil || res2.Accepted() != 2 {
		t.Fatalf("alias: %+v, %v", res2, err)
	}
	d := res2.Verdicts[0].Duplicate
	if d == nil || d.PersonID != res.Person.ID || d.Also || !strings.Contains(d.String(), `already matches person 1 "alice" (score 0.`) {
		t.Fatalf("duplicate warning: %+v", res2.Verdicts)
	}
	if res2.Verdicts[1].Duplicate != nil {
		t.Errorf("a different face warned %v", res2.Verdicts[1].Duplicate)
	}

	// Alice's photo for alias (who already has alice's img4): a match with
	// alias itself is no warning, but alice is named as "also matches".
	b = s.NewBatch(res2.Person.ID)
	if v := b.Add(ctx, photo(t, "df01", "img4.jpg")); !v.OK() || v.Duplicate == nil || !v.Duplicate.Also || v.Duplicate.Name != "alice" {
		t.Errorf("alice's photo for alias: %+v", v)
	}

	// Nothing is stored under a bad name, and nothing for no photo.
	if _, err := s.NewBatch(0).CreatePerson(ctx, "x"); !errors.Is(err, ErrNoPhoto) {
		t.Errorf("no photo: %v, want ErrNoPhoto", err)
	}
	for _, bad := range []string{"  ", "a\x07b", strings.Repeat("n", MaxNameLen+1)} {
		if _, err := s.EnrolPerson(ctx, bad, []Photo{photo(t, "df02", "img9.jpg")}, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: %v, want ErrBadName", bad, err)
		}
	}
	if people, _ := db.People(ctx); len(people) != 2 {
		t.Errorf("%d people after the refusals, want 2", len(people))
	}
}

// TestExplain: the page shows a sentence, not a Go error.
func TestExplain(t *testing.T) {
	for err, want := range map[error]string{
		vision.ErrNoFace: "no face found in this photo",
		ErrEmpty:         "empty file",
		vision.ErrDecode: "not an image, or a damaged one (JPEG or PNG expected)",
		errors.New("x"):  "could not check this photo: x",
		ErrBadName:       "enrol: bad name",
	} {
		if got := Explain(err); got != want {
			t.Errorf("Explain(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestLibraryMatching enrols real faces into a real SQLite library and
// checks what the camera loop relies on: the right identity wins, another
// model's templates are ignored, disabled people are not matched.
func TestLibraryMatching(t *testing.T) {
	matleak.Check(t)
	ctx := context.Background()
	p := openPipeline(t)
	db := openDB(t)
	s := New(p, db, Options{})
	enrol := func(name, folder string, files ...string) facedb.Person {
		var photos []Photo
		for _, f := range files {
			photos = append(photos, photo(t, folder, f))
		}
		res, err := s.EnrolPerson(ctx, name, photos, nil)
		if err != nil || res.Accepted() != len(files) {
			t.Fatalf("enrol %s: %+v, %v", name, res, err)
		}
		return res.Person
	}
	alice := enrol("alice", "df01", "img1.jpg", "img2.jpg")
	enrol("bob", "df02", "img8.jpg", "img9.jpg")
	amy := enrol("amy", "bbt_amy", "amy1.png", "amy2.png")

	// A person enrolled only with another model: random 512-d vectors that
	// would otherwise be the probe's exact copy.
	probe := embedding(t, p, "df01", "img4.jpg")
	mallory, err := db.AddPerson(ctx, "mallory", []facedb.Template{{Model: "sface", Embedding: probe}})
	if err != nil {
		t.Fatal(err)
	}

	g := vision.NewGallery(p.ModelID())
	people, err := LoadGallery(ctx, db, g)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 6 || g.People() != 3 || len(people) != 4 || people[alice.ID].Name != "alice" {
		t.Fatalf("gallery has %d templates of %d people (%d people returned), want 6 of 3 (sface template ignored), 4", g.Len(), g.People(), len(people))
	}
	thr := float32(threshold())
	m := g.Match(probe)
	if m.PersonID != alice.ID || m.Name != "alice" || m.Score < thr || m.SecondScore >= thr {
		t.Errorf("df01 probe: %+v, want alice above %.2f and the runner-up below", m, thr)
	}
	if m.PersonID == mallory.ID {
		t.Error("matched a template of another model")
	}
	if m2 := g.Match(embedding(t, p, "bbt_amy", "amy3.png")); m2.PersonID != amy.ID || m2.Score < thr {
		t.Errorf("amy probe: %+v", m2)
	}
	if m3 := g.Match(embedding(t, p, "df03", "img16.jpg")); m3.Score >= thr {
		t.Errorf("stranger df03 matched %+v at or above %.2f", m3, thr)
	}

	// Disable alice: Match must not return her, MatchAny says who it is.
	if err := db.SetEnabled(ctx, alice.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGallery(ctx, db, g); err != nil {
		t.Fatal(err)
	}
	if m := g.Match(probe); m.PersonID == alice.ID || m.Score >= thr {
		t.Errorf("disabled alice still matched: %+v", m)
	}
	if m := g.MatchAny(probe); m.PersonID != alice.ID || m.Enabled {
		t.Errorf("MatchAny: %+v, want alice flagged disabled", m)
	}
}

package vision

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
)

func randUnit(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	normalize(v)
	return v
}

// bruteMatch is the obvious reference for Gallery.match.
func bruteMatch(entries []Entry, emb []float32, enabledOnly bool) Match {
	best := map[int64]float32{}
	names := map[int64]Entry{}
	for _, e := range entries {
		if enabledOnly && !e.Enabled {
			continue
		}
		s := Dot(emb, e.Embedding)
		if b, ok := best[e.PersonID]; !ok || s > b {
			best[e.PersonID] = s
		}
		names[e.PersonID] = e
	}
	m := Match{Score: -1, SecondScore: -1}
	for id, s := range best {
		if s > m.Score {
			m.SecondPersonID, m.SecondScore = m.PersonID, m.Score
			m.PersonID, m.Score = id, s
		} else if s > m.SecondScore {
			m.SecondPersonID, m.SecondScore = id, s
		}
	}
	if m.PersonID != 0 {
		m.Name, m.Enabled = names[m.PersonID].Name, names[m.PersonID].Enabled
	}
	return m
}

// TestGalleryMatchesBruteForce: the unrolled, chunked, parallel search gives
// the same best and second-best identities as a plain loop, with and
// without disabled people, below and above the parallel cut-over.
func TestGalleryMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 1000, 3 * parallelMin} {
		var entries []Entry
		for i := range n {
			pid := int64(i/3 + 1) // three templates per person
			entries = append(entries, Entry{PersonID: pid, Name: "p", Enabled: pid%5 != 0, Embedding: randUnit(r, 512)})
		}
		g := NewGallery("fr512")
		g.Replace(entries)
		if g.Len() != n {
			t.Fatalf("Len %d, want %d", g.Len(), n)
		}
		for q := range 5 {
			probe := randUnit(r, 512)
			if q == 0 {
				probe = entries[n/2].Embedding // an exact hit
			}
			for _, enabledOnly := range []bool{true, false} {
				got, want := g.match(probe, enabledOnly), bruteMatch(entries, probe, enabledOnly)
				if got.PersonID != want.PersonID || got.SecondPersonID != want.SecondPersonID ||
					abs32(got.Score-want.Score) > 1e-5 || abs32(got.SecondScore-want.SecondScore) > 1e-5 {
					t.Errorf("n=%d enabledOnly=%v: got %+v, want %+v", n, enabledOnly, got, want)
				}
			}
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestGalleryEmptyAndWrongDims(t *testing.T) {
	g := NewGallery("fr512")
	if m := g.Match(make([]float32, 512)); m.PersonID != 0 {
		t.Errorf("empty gallery matched %+v", m)
	}
	g.Replace([]Entry{{PersonID: 1, Enabled: true, Embedding: []float32{1, 0}}})
	if m := g.Match([]float32{1, 0, 0}); m.PersonID != 0 {
		t.Errorf("probe of another length matched %+v", m)
	}
	g.Replace([]Entry{{PersonID: 1, Enabled: false, Embedding: []float32{1, 0}}})
	if m := g.Match([]float32{1, 0}); m.PersonID != 0 {
		t.Errorf("only a disabled person, Match gave %+v", m)
	}
	if m := g.MatchAny([]float32{1, 0}); m.PersonID != 1 || m.Enabled {
		t.Errorf("MatchAny gave %+v, want person 1, disabled", m)
	}
}

// TestLibraryMatching enrols real faces into a real SQLite library and
// checks what the camera loop relies on: the right identity wins, another
// model's templates are ignored, disabled people are not matched, and the
// watcher picks up library changes.
func TestLibraryMatching(t *testing.T) {
	matleak.Check(t)
	ctx := context.Background()
	p := openPipeline(t, defaultOptions(t))
	db, err := facedb.Open(ctx, filepath.Join(t.TempDir(), "f.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	enrol := func(name, folder string, files ...string) facedb.Person {
		var imgs []EnrolImage
		for _, f := range files {
			imgs = append(imgs, EnrolImage{Name: f, Data: readBytes(t, folder, f)})
		}
		res, err := EnrolPerson(ctx, p, db, name, imgs, EnrolOptions{})
		if err != nil || res.Accepted != len(files) {
			t.Fatalf("enrol %s: %+v, %v", name, res, err)
		}
		return res.Person
	}
	alice := enrol("alice", "df01", "img1.jpg", "img2.jpg")
	bob := enrol("bob", "df02", "img8.jpg", "img9.jpg")
	amy := enrol("amy", "bbt_amy", "amy1.png", "amy2.png")

	// A person enrolled only with another model: random 512-d vectors that
	// would otherwise be the probe's exact copy.
	probe := analyzeOne(t, p, "df01", "img4.jpg").Embedding
	mallory, err := db.AddPerson(ctx, "mallory", []facedb.Template{{Model: "sface", Embedding: probe}})
	if err != nil {
		t.Fatal(err)
	}

	g := NewGallery(p.ModelID())
	if err := LoadGallery(ctx, db, g); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 6 || g.People() != 3 {
		t.Fatalf("gallery has %d templates of %d people, want 6 of 3 (sface template ignored)", g.Len(), g.People())
	}
	thr := float32(defaultOptionsThreshold())
	m := g.Match(probe)
	if m.PersonID != alice.ID || m.Name != "alice" || m.Score < thr || m.SecondScore >= thr {
		t.Errorf("df01 probe: %+v, want alice above %.2f and the runner-up below", m, thr)
	}
	if m.PersonID == mallory.ID {
		t.Error("matched a template of another model")
	}
	if m2 := g.Match(analyzeOne(t, p, "bbt_amy", "amy3.png").Embedding); m2.PersonID != amy.ID || m2.Score < thr {
		t.Errorf("amy probe: %+v", m2)
	}
	if m3 := g.Match(analyzeOne(t, p, "df03", "img16.jpg").Embedding); m3.Score >= thr {
		t.Errorf("stranger df03 matched %+v at or above %.2f", m3, thr)
	}

	// Disable alice: Match must not return her, MatchAny says who it is.
	if err := db.SetEnabled(ctx, alice.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := LoadGallery(ctx, db, g); err != nil {
		t.Fatal(err)
	}
	if m := g.Match(probe); m.PersonID == alice.ID || m.Score >= thr {
		t.Errorf("disabled alice still matched: %+v", m)
	}
	if m := g.MatchAny(probe); m.PersonID != alice.ID || m.Enabled {
		t.Errorf("MatchAny: %+v, want alice flagged disabled", m)
	}

	// The watcher reloads after a library change made elsewhere.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- WatchGallery(wctx, db, g, 20*time.Millisecond, nil) }()
	if err := db.DeletePerson(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.People() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchGallery: %v", err)
	}
	if g.People() != 2 {
		t.Errorf("after deleting bob the gallery has %d people, want 2", g.People())
	}
}

func defaultOptionsThreshold() float64 {
	p, _ := LookupProfile("fr512")
	return p.Threshold
}

func readBytes(t *testing.T, folder, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Face(t, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnrolPerson covers the enrolment rules with a real library: refused
// images are named and store nothing, a person whose every image is refused
// is not created, and a face that already matches someone is reported.
func TestEnrolPerson(t *testing.T) {
	matleak.Check(t)
	ctx := context.Background()
	p := openPipeline(t, defaultOptions(t))
	db, err := facedb.Open(ctx, filepath.Join(t.TempDir(), "f.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	thr := defaultOptionsThreshold()

	res, err := EnrolPerson(ctx, p, db, "nobody", []EnrolImage{
		{Name: "fruits.jpg", Data: readBytes(t, "_noface", "fruits.jpg")},
		{Name: "couple.jpg", Data: readBytes(t, "_multiface", "couple.jpg")},
		{Name: "garbage.jpg", Data: []byte("garbage")},
	}, EnrolOptions{DupThreshold: thr})
	if !errors.Is(err, ErrNothingEnrolled) || len(res.Refused) != 3 {
		t.Fatalf("all-refused enrolment: %+v, %v", res, err)
	}
	for i, want := range []error{ErrNoFace, ErrSeveralFaces, ErrDecode} {
		if !errors.Is(res.Refused[i].Err, want) {
			t.Errorf("refusal %d (%s): %v, want %v", i, res.Refused[i].Image, res.Refused[i].Err, want)
		}
	}
	if people, _ := db.People(ctx); len(people) != 0 {
		t.Fatalf("people after an all-refused enrolment: %+v", people)
	}

	var seen []string
	res, err = EnrolPerson(ctx, p, db, "alice", []EnrolImage{
		{Name: "img1.jpg", Data: readBytes(t, "df01", "img1.jpg")},
		{Name: "fruits.jpg", Data: readBytes(t, "_noface", "fruits.jpg")},
		{Name: "img2.jpg", Data: readBytes(t, "df01", "img2.jpg")},
	}, EnrolOptions{DupThreshold: thr, OnImage: func(s string) { seen = append(seen, s) }})
	if err != nil || res.Accepted != 2 || len(res.Refused) != 1 || res.Refused[0].Image != "fruits.jpg" || len(res.Duplicates) != 0 {
		t.Fatalf("alice: %+v, %v", res, err)
	}
	if len(seen) != 3 {
		t.Errorf("OnImage called for %v, want all three images", seen)
	}
	if got, _ := db.Person(ctx, res.Person.ID); got.Templates != 2 {
		t.Errorf("alice has %d templates, want 2", got.Templates)
	}
	if th, err := db.PersonThumbnail(ctx, res.Person.ID); err != nil || len(th) < 100 {
		t.Errorf("alice thumbnail: %d bytes, %v", len(th), err)
	}

	// The same face under another name: enrolled, with a warning naming alice.
	res2, err := EnrolPerson(ctx, p, db, "alias", []EnrolImage{{Name: "img4.jpg", Data: readBytes(t, "df01", "img4.jpg")},
		{Name: "img8.jpg", Data: readBytes(t, "df02", "img8.jpg")}}, EnrolOptions{DupThreshold: thr})
	if err != nil || len(res2.Duplicates) != 1 || res2.Duplicates[0].PersonID != res.Person.ID || res2.Duplicates[0].Image != "img4.jpg" {
		t.Fatalf("duplicate warning: %+v, %v", res2, err)
	}
}

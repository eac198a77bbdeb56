package enrol

import (
	"context"
	"sync"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// Gallery gives the face library in memory, current as of the call: the
// camera loop's in the daemon (*access.Loop), so the web page keeps no
// second copy; a *LiveGallery elsewhere.
type Gallery interface {
	CurrentGallery(ctx context.Context) (Matcher, error)
}

// LiveGallery is the face library in memory: one vision.Gallery of one
// model and the people by id, reloaded from the database when its library
// revision changes (any process may enrol). It is safe for concurrent use.
type LiveGallery struct {
	db Store
	g  *vision.Gallery

	mu     sync.Mutex
	people map[int64]facedb.Person
	rev    int64
	loaded bool
}

// NewLiveGallery returns an empty gallery of model's templates from db; it
// loads on the first Refresh.
func NewLiveGallery(db Store, model string) *LiveGallery {
	return &LiveGallery{db: db, g: vision.NewGallery(model), people: map[int64]facedb.Person{}}
}

// Gallery is the in-memory gallery (matching never waits for a reload).
func (l *LiveGallery) Gallery() *vision.Gallery { return l.g }

// Person returns an enrolled person as of the last load.
func (l *LiveGallery) Person(id int64) (facedb.Person, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.people[id]
	return p, ok
}

// Refresh reloads when the library revision changed since the last load
// (or nothing was loaded yet); changed reports whether it did.
func (l *LiveGallery) Refresh(ctx context.Context) (changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rev, err := l.db.LibraryRevision(ctx)
	if err != nil {
		return false, err
	}
	if l.loaded && rev == l.rev {
		return false, nil
	}
	return true, l.loadLocked(ctx, rev)
}

// Reload loads the library now, changed or not.
func (l *LiveGallery) Reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rev, err := l.db.LibraryRevision(ctx)
	if err != nil {
		return err
	}
	return l.loadLocked(ctx, rev)
}

func (l *LiveGallery) loadLocked(ctx context.Context, rev int64) error {
	people, err := LoadGallery(ctx, l.db, l.g)
	if err != nil {
		return err
	}
	l.people, l.rev, l.loaded = people, rev, true
	return nil
}

// CurrentGallery refreshes and returns the gallery (Gallery).
func (l *LiveGallery) CurrentGallery(ctx context.Context) (Matcher, error) {
	if _, err := l.Refresh(ctx); err != nil {
		return nil, err
	}
	return l.g, nil
}

package enrol

import (
	"context"
	"fmt"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// Store reads the face library (*facedb.DB).
type Store interface {
	People(ctx context.Context) ([]facedb.Person, error)
	Templates(ctx context.Context, model string) ([]facedb.Template, error)
	LibraryRevision(ctx context.Context) (int64, error)
}

// LoadGallery replaces g's content with the templates of g.Model() of every
// person in db, enabled or not (Gallery.Match skips the disabled ones,
// MatchAny reports them), and returns the people by id. Templates of
// another model are never loaded.
func LoadGallery(ctx context.Context, db Store, g *vision.Gallery) (map[int64]facedb.Person, error) {
	people, err := db.People(ctx)
	if err != nil {
		return nil, fmt.Errorf("enrol: load gallery: %w", err)
	}
	ts, err := db.Templates(ctx, g.Model())
	if err != nil {
		return nil, fmt.Errorf("enrol: load gallery: %w", err)
	}
	byID := make(map[int64]facedb.Person, len(people))
	for _, p := range people {
		byID[p.ID] = p
	}
	entries := make([]vision.Entry, 0, len(ts))
	for _, t := range ts {
		p, ok := byID[t.PersonID]
		if !ok || t.Model != g.Model() {
			continue
		}
		entries = append(entries, vision.Entry{PersonID: p.ID, Name: p.Name, Enabled: p.Enabled, Embedding: t.Embedding})
	}
	g.Replace(entries)
	return byID, nil
}

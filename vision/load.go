package vision

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/facegate/facegate/facedb"
)

// LoadGallery fills g with the templates of g.Model() of every person in
// db, enabled or not (Match skips the disabled ones, MatchAny reports them).
// Templates of another model are never loaded.
func LoadGallery(ctx context.Context, db *facedb.DB, g *Gallery) error {
	people, err := db.People(ctx)
	if err != nil {
		return fmt.Errorf("vision: load gallery: %w", err)
	}
	ts, err := db.Templates(ctx, g.Model())
	if err != nil {
		return fmt.Errorf("vision: load gallery: %w", err)
	}
	byID := make(map[int64]facedb.Person, len(people))
	for _, p := range people {
		byID[p.ID] = p
	}
	entries := make([]Entry, 0, len(ts))
	for _, t := range ts {
		p, ok := byID[t.PersonID]
		if !ok || t.Model != g.Model() {
			continue
		}
		entries = append(entries, Entry{PersonID: p.ID, Name: p.Name, Enabled: p.Enabled, Embedding: t.Embedding})
	}
	g.Replace(entries)
	return nil
}

// WatchGallery reloads g whenever the library revision in db changes,
// checking every interval, until ctx is cancelled. It loads once at start.
// Load errors are logged and retried on the next tick.
func WatchGallery(ctx context.Context, db *facedb.DB, g *Gallery, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	last := int64(-1)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		rev, err := db.LibraryRevision(ctx)
		if err == nil && rev != last {
			if err = LoadGallery(ctx, db, g); err == nil {
				last = rev
				log.Info("face library loaded", "templates", g.Len(), "people", g.People(), "model", g.Model(), "revision", rev)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("face library reload failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

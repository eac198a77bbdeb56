package access

import (
	"context"
	"time"

	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// The loop's face library: one enrol.LiveGallery, the only copy in the
// daemon. The web page's duplicate check asks it through CurrentGallery.

// ReloadGallery asks the loop to reload the face library before the next
// frame (after an enrolment). The loop also notices library changes made by
// other processes through the library revision (pollLibrary, every second).
func (l *Loop) ReloadGallery() {
	select {
	case l.reload <- struct{}{}:
	default:
	}
}

// CurrentGallery is the loop's gallery, reloaded first if the library
// changed (enrol.Gallery: the web page checks duplicates against it).
func (l *Loop) CurrentGallery(ctx context.Context) (enrol.Matcher, error) {
	if _, err := l.refreshLibrary(ctx); err != nil {
		return nil, err
	}
	return l.library.Gallery(), nil
}

// pollLibrary reloads the gallery when the library revision changed.
func (l *Loop) pollLibrary(ctx context.Context) {
	if _, err := l.refreshLibrary(ctx); err != nil && ctx.Err() == nil {
		l.log.Error("access: reloading the face library failed", "err", err)
	}
}

func (l *Loop) refreshLibrary(ctx context.Context) (bool, error) {
	changed, err := l.library.Refresh(ctx)
	if changed && err == nil {
		l.logLoaded()
	}
	return changed, err
}

// loadGallery reloads the library, changed or not.
func (l *Loop) loadGallery(ctx context.Context) error {
	if err := l.library.Reload(ctx); err != nil {
		return err
	}
	l.logLoaded()
	return nil
}

func (l *Loop) logLoaded() {
	g := l.library.Gallery()
	l.log.Info("access: face library loaded", "people", g.People(), "templates", g.Len(), "model", g.Model())
}

// active tells whether the matched person may enter at t.
func (l *Loop) active(mt vision.Match, t time.Time) (bool, string) {
	p, ok := l.library.Person(mt.PersonID)
	if !ok {
		if mt.Enabled {
			return true, ""
		}
		return false, facedb.DenyDisabled
	}
	return p.MayEnter(t)
}

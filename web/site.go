package web

import (
	"fmt"
	"net/http"
)

// siteManaged answers the people-changing endpoints of a site door: its
// library is the site's (package site replicates it), so it is read-only
// here and changed with `facegate site` where the site key is kept.
func (s *Server) siteManaged(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Site.Name == "" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusConflict, fmt.Sprintf(
			"this door belongs to site %q: its people are managed with 'facegate site' on the machine that holds the site key, not on the door",
			s.cfg.Site.Name))
	}
}

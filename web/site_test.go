package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

// TestSiteDoorLibraryIsReadOnly: a door of a site lists the site's people,
// says where they are managed, and refuses to change them.
func TestSiteDoorLibraryIsReadOnly(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Site.Name = "hq" })
	p, err := e.db.AddPerson(context.Background(), "Grace Hopper", []facedb.Template{{Model: "fr512", Embedding: []float32{1}}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.login()
	_, page := e.do(c, "GET", "/", nil, "")
	for _, want := range []string{"Grace Hopper", `id="site-notice"`, "<strong>hq</strong>", "facegate site"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("people page of a site door lacks %q", want)
		}
	}
	for _, unwanted := range []string{`id="add-form"`, `data-action="delete"`} {
		if strings.Contains(string(page), unwanted) {
			t.Errorf("people page of a site door offers %q", unwanted)
		}
	}
	code, res := e.upload(c, "/api/people", map[string]string{"name": "Ada"}, fileFrom(t, "df01", "img1.jpg"))
	if code != http.StatusConflict || !strings.Contains(res.Error, "facegate site") {
		t.Errorf("enrol on a site door: %d %+v, want 409 naming facegate site", code, res)
	}
	resp, body := e.do(c, "DELETE", "/api/people/"+itoa(p.ID), nil, "")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "hq") {
		t.Errorf("delete on a site door: %d %s, want 409", resp.StatusCode, body)
	}
	if ps := e.people(); len(ps) != 1 {
		t.Errorf("%d people after refused changes, want 1", len(ps))
	}
}

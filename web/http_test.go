package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"image"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"

	"github.com/facegate/facegate/facedb"
)

func TestHealthzAndMetricsNeedNoLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	resp, body := e.do(c, "GET", "/healthz", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz status %d", resp.StatusCode)
	}
	var h struct {
		Status     string `json:"status"`
		Components map[string]struct {
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/healthz body %q: %v", body, err)
	}
	if h.Status != "degraded" || h.Components["camera"].OK || !h.Components["database"].OK || h.Components["camera"].Detail == "" {
		t.Errorf("/healthz = %+v; want degraded with camera failing", h)
	}
	e.health.Set("camera", true, "10 fps")
	_, body = e.do(c, "GET", "/healthz", nil, "")
	json.Unmarshal(body, &h)
	if h.Status != "ok" {
		t.Errorf("after camera recovered: status %q", h.Status)
	}
	e.login()
	resp, body = e.do(c, "GET", "/metrics", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "facegate_test_total 0") ||
		!strings.Contains(string(body), `facegate_web_logins_total{result="ok"} 1`) || !strings.Contains(string(body), "facegate_web_live_streams 0") {
		t.Errorf("/metrics: status %d body %q", resp.StatusCode, body)
	}
}

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	// Wrong password: 401, the page says so, no session cookie.
	resp, body := e.do(c, "POST", "/login", strings.NewReader("user=admin&password=wrong-password"), "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Wrong user name or password") {
		t.Fatalf("wrong password: status %d body %q", resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			t.Fatal("wrong password set a session cookie")
		}
	}
	// Unknown user: same answer.
	resp, _ = e.do(c, "POST", "/login", strings.NewReader("user=mallory&password="+testPass), "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user: status %d", resp.StatusCode)
	}
	// Right password: redirect to next, HttpOnly SameSite=Strict cookie.
	resp, _ = e.do(c, "POST", "/login", strings.NewReader("user=admin&password="+testPass+"&next=%2Fevents"), "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/events" {
		t.Fatalf("login: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || len(sc.Value) < 43 {
		t.Fatalf("session cookie = %+v", sc)
	}
	if resp, _ := e.do(c, "GET", "/api/people", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("/api/people with session: %d", resp.StatusCode)
	}
	// An off-site next is ignored.
	c2 := e.client()
	resp, _ = e.do(c2, "POST", "/login", strings.NewReader("user=admin&password="+testPass+"&next=%2F%2Fevil.example%2F"), "application/x-www-form-urlencoded")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("next=//evil.example redirected to %q", loc)
	}
	// Logout ends the session on the server, not just in the browser.
	resp, _ = e.do(c, "POST", "/logout", nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", e.url+"/api/people", nil)
	req.AddCookie(sc) // replay the old cookie
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old cookie after logout: status %d, want 401", resp.StatusCode)
	}
	if !e.auditHas(func(a facedb.AuditEntry) bool { return a.Action == "login" && !a.OK && a.Actor == "admin" }) {
		t.Error("failed login not audited")
	}
}

func TestLoginRateLimitedPerClient(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Handler()
	try := func(ip, pw string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {"admin"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range limitAddr.burst {
		if rec := try("192.0.2.10", "guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, rec.Code)
		}
	}
	rec := try("192.0.2.10", testPass)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many failed logins") {
		t.Fatalf("after %d failures even the right password: status %d (Retry-After %q), want 429", limitAddr.burst, rec.Code, rec.Header().Get("Retry-After"))
	}
	// Another client is not affected.
	if rec := try("192.0.2.11", testPass); rec.Code != http.StatusSeeOther {
		t.Fatalf("other client: status %d, want 303", rec.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	for _, p := range []string{"/", "/login", "/api/people", "/static/app.js", "/healthz"} {
		resp, _ := e.do(c, "GET", p, nil, "")
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q XFO %q XCTO %q", p, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	countPeople := len(e.people())
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "http://evil.example"},
	} {
		for _, path := range []string{"/api/unlock", "/api/door/exit"} {
			req, _ := http.NewRequest("POST", e.url+path, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "cross-origin") {
				t.Errorf("POST %s with %v: status %d body %q, want 403", path, hdr, resp.StatusCode, body)
			}
		}
		body, ct := multipartBody(t, map[string]string{"name": "Eve"}, fileFrom(t, "df02", "img8.jpg"))
		req, _ := http.NewRequest("POST", e.url+"/api/people", body)
		req.Header.Set("Content-Type", ct)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin enrolment: status %d", resp.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond) // the door journal writes asynchronously
	if !e.door.State().Locked || e.auditHas(isWebUnlock) {
		t.Fatal("a cross-origin POST unlocked the door")
	}
	if len(e.people()) != countPeople {
		t.Fatal("a cross-origin POST enrolled a person")
	}
	// The same request from the page itself works.
	req, _ := http.NewRequest("POST", e.url+"/api/unlock", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.url)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("same-origin unlock: status %d", resp.StatusCode)
	}
	if e.door.State().Locked {
		t.Error("door still locked after a same-origin unlock")
	}
	testenv.WaitFor(t, "the web unlock in the audit log", 10*time.Second, func() bool {
		return e.auditHas(func(a facedb.AuditEntry) bool { return isWebUnlock(a) && a.Actor == testUser && a.OK })
	})
}

func TestBadUploadsRefusedAndNothingStored(t *testing.T) {
	e := newEnv(t)
	matleak.Check(t)
	c := e.login()
	// One person exists, so adding photos to a person is covered too.
	code, res := e.upload(c, "/api/people", map[string]string{"name": "Existing"}, fileFrom(t, "df02", "img8.jpg"))
	if code != http.StatusCreated {
		t.Fatalf("setup enrolment: %d %+v", code, res)
	}
	pid := res.Person.ID
	big := make([]byte, 30<<20)
	rand.Read(big)
	copy(big, []byte{0xFF, 0xD8, 0xFF, 0xE0}) // starts like a JPEG
	bad := []struct {
		name string
		file upFile
		want string
	}{
		{"text file named .jpg", upFile{"notes.jpg", []byte("this is not a picture\n")}, "not an image"},
		{"30 MB file", upFile{"huge.jpg", big}, "too large"},
		{"no face", fileFrom(t, "_noface", "fruits.jpg"), "no face"},
		{"group photo", fileFrom(t, "_multiface", "couple.jpg"), "several faces"},
	}
	before := e.revision()
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/people", "/api/people/" + itoa(pid) + "/photos"} {
				code, res := e.upload(c, path, map[string]string{"name": "Mallory"}, tc.file)
				if code != http.StatusUnprocessableEntity {
					t.Errorf("POST %s: status %d, want 422", path, code)
				}
				if !strings.Contains(res.Error, "nothing was stored") || len(res.Photos) != 1 {
					t.Fatalf("POST %s: result %+v", path, res)
				}
				p := res.Photos[0]
				if p.OK || p.File != tc.file.name || !strings.Contains(p.Error, tc.want) {
					t.Errorf("POST %s: photo result %+v, want an error naming %q", path, p, tc.want)
				}
				t.Logf("%s -> %q", tc.file.name, p.Error)
			}
		})
	}
	_, metrics := e.do(c, "GET", "/metrics", nil, "")
	if !strings.Contains(string(metrics), `facegate_web_photos_checked_total{result="refused"} 8`) {
		t.Errorf("refused photos not counted in /metrics")
	}
	ps := e.people()
	if len(ps) != 1 || ps[0].Templates != 1 || e.revision() != before {
		t.Fatalf("bad uploads changed the database: people %+v, revision %d -> %d", ps, before, e.revision())
	}
	// Requests that are wrong as a whole.
	if code, res := e.upload(c, "/api/people", map[string]string{"name": "  "}, fileFrom(t, "df02", "img9.jpg")); code != 400 || !strings.Contains(res.Error, "name") {
		t.Errorf("blank name: %d %+v", code, res)
	}
	if code, res := e.upload(c, "/api/people", map[string]string{"name": "Nobody"}); code != 400 || !strings.Contains(res.Error, "photo") {
		t.Errorf("no photo: %d %+v", code, res)
	}
	if resp, body := e.do(c, "POST", "/api/people", strings.NewReader("name=x"), "application/x-www-form-urlencoded"); resp.StatusCode != 400 || !strings.Contains(string(body), "multipart") {
		t.Errorf("form instead of multipart: %d %q", resp.StatusCode, body)
	}
	if len(e.people()) != 1 || e.revision() != before {
		t.Fatal("malformed requests changed the database")
	}
}

func itoa(n int64) string   { return fmtInt(n) }
func fmtInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestEnrolListAndManage(t *testing.T) {
	e := newEnv(t)
	matleak.Check(t)
	c := e.login()
	// A good photo and a bad one: the person is created from the good one,
	// the bad one is reported next to its name.
	code, res := e.upload(c, "/api/people", map[string]string{"name": "Ada Lovelace"},
		fileFrom(t, "df01", "img1.jpg"), fileFrom(t, "_noface", "apple.jpg"))
	if code != http.StatusCreated || res.Person == nil {
		t.Fatalf("enrol: %d %+v", code, res)
	}
	if !res.Photos[0].OK || res.Photos[1].OK || !strings.Contains(res.Photos[1].Error, "no face") {
		t.Errorf("photo results %+v", res.Photos)
	}
	ada := res.Person.ID
	if res.Person.Templates != 1 || res.Person.Status != "active" {
		t.Errorf("person %+v", res.Person)
	}
	// Listed by the API and on the page, with a thumbnail.
	resp, body := e.do(c, "GET", "/api/people", nil, "")
	var list []personJSON
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list) != 1 || list[0].Name != "Ada Lovelace" {
		t.Fatalf("/api/people: %d %q", resp.StatusCode, body)
	}
	_, page := e.do(c, "GET", "/", nil, "")
	if !strings.Contains(string(page), "Ada Lovelace") {
		t.Error("people page does not list the person")
	}
	resp, thumb := e.do(c, "GET", list[0].Thumbnail, nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !bytes.HasPrefix(thumb, []byte{0xFF, 0xD8}) {
		t.Errorf("thumbnail: %d %s %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(thumb))
	}
	// More photos of the same person: no warning, template count grows.
	code, res = e.upload(c, "/api/people/"+itoa(ada)+"/photos", nil, fileFrom(t, "df01", "img2.jpg"))
	if code != 200 || res.Person.Templates != 2 || res.Photos[0].Warning != "" {
		t.Errorf("add photos: %d %+v", code, res)
	}
	// The same face enrolled as someone else: stored, with a warning naming Ada.
	code, res = e.upload(c, "/api/people", map[string]string{"name": "Impostor"}, fileFrom(t, "df01", "img4.jpg"))
	if code != http.StatusCreated || !strings.Contains(res.Photos[0].Warning, "Ada Lovelace") {
		t.Errorf("duplicate face: %d %+v", code, res)
	}
	imp := res.Person.ID
	// A different person: no warning.
	code, res = e.upload(c, "/api/people", map[string]string{"name": "Grace"}, fileFrom(t, "df02", "img8.jpg"))
	if code != http.StatusCreated || res.Photos[0].Warning != "" {
		t.Errorf("different face: %d %+v", code, res)
	}
	// Disable / enable.
	resp, body = e.do(c, "POST", "/api/people/"+itoa(ada)+"/enabled", strings.NewReader("enabled=false"), "application/x-www-form-urlencoded")
	if p, _ := e.db.Person(context.Background(), ada); resp.StatusCode != 200 || p.Enabled || !strings.Contains(string(body), `"disabled"`) {
		t.Errorf("disable: %d %q enabled=%v", resp.StatusCode, body, p.Enabled)
	}
	e.do(c, "POST", "/api/people/"+itoa(ada)+"/enabled", strings.NewReader("enabled=true"), "application/x-www-form-urlencoded")
	if p, _ := e.db.Person(context.Background(), ada); !p.Enabled {
		t.Error("enable did not enable")
	}
	// Validity: stored as given; reversed dates refused.
	resp, body = e.do(c, "POST", "/api/people/"+itoa(ada)+"/validity", strings.NewReader("valid_from=2030-01-01T08:00&valid_until=2030-06-30T18:00"), "application/x-www-form-urlencoded")
	p, _ := e.db.Person(context.Background(), ada)
	wantFrom := time.Date(2030, 1, 1, 8, 0, 0, 0, time.Local)
	if resp.StatusCode != 200 || !p.ValidFrom.Equal(wantFrom) || !strings.Contains(string(body), `"not_yet_valid"`) {
		t.Errorf("validity: %d %q from %v", resp.StatusCode, body, p.ValidFrom)
	}
	resp, body = e.do(c, "POST", "/api/people/"+itoa(ada)+"/validity", strings.NewReader("valid_from=2030-01-01T08:00&valid_until=2029-01-01T08:00"), "application/x-www-form-urlencoded")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "after") {
		t.Errorf("reversed validity: %d %q", resp.StatusCode, body)
	}
	// Delete: person, templates and thumbnail gone.
	resp, _ = e.do(c, "DELETE", "/api/people/"+itoa(imp), nil, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, err := e.db.Person(context.Background(), imp); err == nil {
		t.Error("deleted person still in the database")
	}
	if _, err := e.db.PersonThumbnail(context.Background(), imp); err == nil {
		t.Error("deleted person's thumbnail still in the database")
	}
	tpls, _ := e.db.Templates(context.Background(), e.srv.deps.Enrol.ModelID())
	for _, tp := range tpls {
		if tp.PersonID == imp {
			t.Error("deleted person's template still in the database")
		}
		// templates.quality means the same as from facegate enrol: the
		// detector's score of the face.
		if tp.Quality < 0.9 || tp.Quality > 1 {
			t.Errorf("uploaded template quality %v, want the detector score (0.9..1)", tp.Quality)
		}
	}
	if resp, _ := e.do(c, "GET", "/api/people/"+itoa(imp)+"/thumbnail", nil, ""); resp.StatusCode != 404 {
		t.Errorf("thumbnail of deleted person: %d", resp.StatusCode)
	}
	if resp, _ := e.do(c, "DELETE", "/api/people/"+itoa(imp), nil, ""); resp.StatusCode != 404 {
		t.Errorf("second delete: %d", resp.StatusCode)
	}
	e.mu.Lock()
	reloads := e.reload
	e.mu.Unlock()
	if reloads < 6 {
		t.Errorf("OnLibraryChange called %d times for 8 library changes", reloads)
	}
}

func TestEntryLogFiltersCSVAndSnapshots(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	ctx := context.Background()
	snap := filepath.Join(e.cfg.SnapshotDir(), "2026", "snap1.jpg")
	os.MkdirAll(filepath.Dir(snap), 0o755)
	jpg := []byte{0xFF, 0xD8, 0xFF, 0xD9}
	os.WriteFile(snap, jpg, 0o644)
	os.WriteFile(filepath.Join(e.cfg.DataDir, "secret.txt"), []byte("TOPSECRET-CONTENT"), 0o644)
	day1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.Local)
	day2 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.Local)
	recs := []facedb.Record{
		{Kind: "event", TS: day1, Type: "access_granted", PersonID: 7, Name: "Ada", Score: 0.71, Source: "face", Snapshot: snap},
		{Kind: "alarm", TS: day1.Add(time.Hour), Type: "door_forced_open", Source: "door"},
		{Kind: "event", TS: day2, Type: "access_granted", PersonID: 8, Name: "=HYPERLINK(\"x\")", Score: 0.66, Source: "face"},
		{Kind: "event", TS: day2.Add(time.Minute), Type: "unknown_face", Source: "face"},
	}
	for _, r := range recs {
		if _, err := e.db.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) []eventJSON {
		t.Helper()
		resp, body := e.do(c, "GET", "/api/events"+q, nil, "")
		var out []eventJSON
		if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/api/events%s: %d %q", q, resp.StatusCode, body)
		}
		return out
	}
	all := get("")
	if len(all) != 4 || all[0].Type != "unknown_face" || all[3].Type != "access_granted" || all[3].Name != "Ada" {
		t.Fatalf("newest first: %+v", all)
	}
	if n := len(get("?limit=2")); n != 2 {
		t.Errorf("limit=2 gave %d", n)
	}
	if got := get("?person=7"); len(got) != 1 || got[0].Name != "Ada" {
		t.Errorf("person filter: %+v", got)
	}
	if got := get("?kind=alarm"); len(got) != 1 || got[0].Type != "door_forced_open" {
		t.Errorf("kind filter: %+v", got)
	}
	if got := get("?type=access_granted"); len(got) != 2 {
		t.Errorf("type filter: %+v", got)
	}
	if got := get("?from=2026-03-02&to=2026-03-02"); len(got) != 2 || got[1].Type != "access_granted" {
		t.Errorf("date filter: %+v", got)
	}
	if resp, _ := e.do(c, "GET", "/api/events?from=yesterday", nil, ""); resp.StatusCode != 400 {
		t.Errorf("bad date: %d", resp.StatusCode)
	}
	// The snapshot is served from the snapshot folder, nothing outside it.
	if all[3].Snapshot != "/api/snapshots/2026/snap1.jpg" {
		t.Fatalf("snapshot URL %q", all[3].Snapshot)
	}
	resp, body := e.do(c, "GET", all[3].Snapshot, nil, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, jpg) {
		t.Errorf("snapshot: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"/api/snapshots/../secret.txt", "/api/snapshots/..%2fsecret.txt", "/api/snapshots/2026/..%2f..%2fsecret.txt"} {
		resp, body := e.do(c, "GET", p, nil, "")
		if resp.StatusCode == 200 || strings.Contains(string(body), "TOPSECRET") {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, body)
		}
	}
	// The page highlights alarms and offers a CSV link with the same filter.
	resp, body = e.do(c, "GET", "/events?kind=alarm", nil, "")
	if resp.StatusCode != 200 || !regexp.MustCompile(`<tr class="alarm[^"]*"`).Match(body) || !strings.Contains(string(body), "/api/events.csv?kind=alarm") {
		t.Errorf("events page: %d\n%s", resp.StatusCode, body)
	}
	if _, body := e.do(c, "GET", "/events?limit=2", nil, ""); !strings.Contains(string(body), "Showing the newest 2 entries") {
		t.Error("a truncated entry log does not say so")
	}
	// CSV export.
	resp, body = e.do(c, "GET", "/api/events.csv?type=access_granted", nil, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv parse: %v\n%s", err, body)
	}
	if len(rows) != 3 || rows[0][0] != "ts" || rows[0][4] != "name" || rows[2][4] != "Ada" || rows[2][5] != "0.710" {
		t.Fatalf("csv rows %q", rows)
	}
	if rows[1][4] != `'=HYPERLINK("x")` {
		t.Errorf("formula not neutralised in CSV: %q", rows[1][4])
	}
}

func TestStreamSendsFramesAndStopsOnShutdown(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	resp, err := c.Get(e.url + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i := range 3 {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		b, _ := io.ReadAll(part)
		if part.Header.Get("Content-Type") != "image/jpeg" || !bytes.HasPrefix(b, []byte{0xFF, 0xD8}) {
			t.Fatalf("frame %d: %q, %d bytes", i, part.Header.Get("Content-Type"), len(b))
		}
	}
	// Server shutdown ends the stream (and Serve returns; checked in cleanup).
	e.cancel()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := mr.NextPart(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still running 10 s after shutdown")
	}
}

func TestStreamStopsWhenClientLeaves(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	for range 3 { // more than once: a leaked stream would hold its slot
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/stream", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		io.ReadFull(resp.Body, buf)
		cancel()
		resp.Body.Close()
	}
	testenv.WaitFor(t, "streams to end after the clients left", 10*time.Second, func() bool { return len(e.srv.streams) == 0 })
}

func TestEnsureAdminCreatesOnce(t *testing.T) {
	ctx := context.Background()
	db, err := facedb.Open(ctx, filepath.Join(t.TempDir(), "f.db"), "door-1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := EnsureAdmin(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`user=admin password=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("password not logged: %s", logs.String())
	}
	e := &Server{deps: Deps{DB: db}}
	if ok, err := e.checkPassword(ctx, "admin", m[1]); !ok || err != nil {
		t.Fatalf("logged password does not log in: %v %v", ok, err)
	}
	logs.Reset()
	if err := EnsureAdmin(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("second start logged again: %s", logs.String())
	}
	if n, _ := db.UserCount(ctx); n != 1 {
		t.Errorf("%d users", n)
	}
}

// degraded returns a JPEG of a shared face image after f changes it.
func degraded(t *testing.T, folder, file string, f func(src gocv.Mat, dst *gocv.Mat)) []byte {
	t.Helper()
	src := gocv.IMRead(testenv.Face(t, folder, file), gocv.IMReadColor)
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	f(src, &dst)
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

func TestBlurryAndSmallFacesRefused(t *testing.T) {
	e := newEnv(t)
	matleak.Check(t)
	c := e.login()
	blurry := degraded(t, "df01", "img1.jpg", func(src gocv.Mat, dst *gocv.Mat) {
		gocv.GaussianBlur(src, dst, image.Pt(0, 0), 9, 9, gocv.BorderDefault)
	})
	small := degraded(t, "df01", "img1.jpg", func(src gocv.Mat, dst *gocv.Mat) {
		// The whole photo shrunk into a corner of a large grey canvas: a tiny face.
		tiny := gocv.NewMat()
		defer tiny.Close()
		gocv.Resize(src, &tiny, image.Pt(src.Cols()/12, src.Rows()/12), 0, 0, gocv.InterpolationArea)
		canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
		defer canvas.Close()
		roi := canvas.Region(image.Rect(10, 10, 10+tiny.Cols(), 10+tiny.Rows()))
		tiny.CopyTo(&roi)
		roi.Close()
		canvas.CopyTo(dst)
	})
	before := e.revision()
	for _, f := range []upFile{{"blurry.jpg", blurry}, {"small.jpg", small}} {
		code, res := e.upload(c, "/api/people", map[string]string{"name": "Blur"}, f)
		if code != http.StatusUnprocessableEntity || len(res.Photos) != 1 || res.Photos[0].OK {
			t.Fatalf("%s: %d %+v", f.name, code, res)
		}
		msg := res.Photos[0].Error
		if !strings.Contains(msg, "face not usable") {
			t.Errorf("%s: %q does not say the face is unusable", f.name, msg)
		}
		t.Logf("%s -> %q", f.name, msg)
	}
	if len(e.people()) != 0 || e.revision() != before {
		t.Fatal("refused photos changed the database")
	}
}

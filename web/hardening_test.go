package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loginVia posts a login through the handler as if from addr, with the
// given cookies; it returns the recorder.
func loginVia(h http.Handler, addr, user, pw string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {user}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = addr + ":40000"
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestLoginParallelGuessesAreCharged: 60 guesses sent at once from one
// address were all checked when the limit was only charged after a failure.
func TestLoginParallelGuessesAreCharged(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Handler()
	var checked, limited atomic.Int32
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			switch rec := loginVia(h, "192.0.2.50", "admin", "guess-guess"); rec.Code {
			case http.StatusUnauthorized:
				checked.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			default:
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if int(checked.Load()) > limitAddr.burst || checked.Load()+limited.Load() != 60 {
		t.Fatalf("of 60 parallel guesses %d were checked and %d refused; at most %d may be checked", checked.Load(), limited.Load(), limitAddr.burst)
	}
}

// TestLoginLimitedPerUserAndGlobally: guesses spread over many addresses are
// limited per user name, and many user names over many addresses by the
// global limit.
func TestLoginLimitedPerUserAndGlobally(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Handler()
	for i := range limitUser.burst {
		if rec := loginVia(h, fmt.Sprintf("198.51.100.%d", i+1), "admin", "guess-guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d from its own address: status %d, want 401", i+1, rec.Code)
		}
	}
	if rec := loginVia(h, "198.51.100.200", "admin", "guess-guess"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("guess %d on admin from a fresh address: status %d, want 429 (per-user limit)", limitUser.burst+1, rec.Code)
	}
	if rec := loginVia(h, "198.51.100.201", "bob", "guess-guess"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("another user name from a fresh address: status %d, want 401 (checked)", rec.Code)
	}
	// Global: distinct addresses, distinct names.
	refused := 0
	for i := range limitGlobal.burst + 5 {
		if rec := loginVia(h, fmt.Sprintf("203.0.113.%d", i+1), fmt.Sprintf("user%d", i), "guess-guess"); rec.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("%d guesses for distinct users from distinct addresses were all checked", limitGlobal.burst+5)
	}
}

// TestAdminNotLockedOutFromSharedAddress: an attacker behind the same
// address as the admin (NAT, a reverse proxy) floods wrong passwords; the
// admin's browser, which logged in before, still gets in.
func TestAdminNotLockedOutFromSharedAddress(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Handler()
	const shared = "192.0.2.77"
	first := loginVia(h, shared, "admin", testPass)
	known := cookieNamed(first, knownCookie)
	if first.Code != http.StatusSeeOther || known == nil {
		t.Fatalf("first login: status %d, known-browser cookie %v", first.Code, known)
	}
	for range 50 {
		loginVia(h, shared, "admin", "guess-guess")
	}
	if rec := loginVia(h, shared, "admin", testPass); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a new browser after the flood: status %d, want 429", rec.Code)
	}
	if rec := loginVia(h, shared, "admin", testPass, known); rec.Code != http.StatusSeeOther {
		t.Fatalf("the admin's known browser after the flood: status %d, want 303", rec.Code)
	}
	// The cookie is tied to its user and cannot be forged.
	if rec := loginVia(h, shared, "bob", "guess-guess", known); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("admin's known-browser cookie used for bob: status %d, want 429", rec.Code)
	}
	forged := &http.Cookie{Name: knownCookie, Value: known.Value[:len(known.Value)-4] + "0000"}
	if rec := loginVia(h, shared, "admin", testPass, forged); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("forged known-browser cookie: status %d, want 429", rec.Code)
	}
}

// TestSafeNext: only same-site paths are followed after login.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/events":                   "/events",
		"/events?type=x#top":        "/events?type=x#top",
		"/\t/evil.example":          "/",
		"/\n/evil.example":          "/",
		"/\r\n/evil.example":        "/",
		"/ /evil.example":           "/",
		"//evil.example":            "/",
		"/\\evil.example":           "/",
		"/%5Cevil.example":          "/%5Cevil.example", // stays a path on this site
		"https://evil.example/":     "/",
		"javascript:alert(1)":       "/",
		"evil.example":              "/",
		"/api/unlock":               "/",
		"/login?next=//x":           "/",
		"":                          "/",
		"/caf\u00e9":                "/",
		"/\u2215\u2215evil.example": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSessionExpiresAndEndsOnPasswordChange: sessions are checked against
// the database on every request.
func TestSessionExpiresAndEndsOnPasswordChange(t *testing.T) {
	e := newEnv(t)
	var skew atomic.Int64
	e.srv.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	a, b := e.login(), e.login()
	if resp, _ := e.do(a, "GET", "/api/people", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("fresh session: %d", resp.StatusCode)
	}
	hash, err := HashPassword("a-new-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetUserPassword(context.Background(), testUser, hash); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Client{a, b} {
		if resp, _ := e.do(c, "GET", "/api/people", nil, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("session after a password change: %d, want 401", resp.StatusCode)
		}
	}
	hash, _ = HashPassword(testPass)
	if err := e.db.SetUserPassword(context.Background(), testUser, hash); err != nil {
		t.Fatal(err)
	}
	c := e.login()
	skew.Store(int64(time.Duration(e.cfg.Web.SessionHours*float64(time.Hour)) + time.Second))
	if resp, _ := e.do(c, "GET", "/api/people", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session after web.session_hours: %d, want 401", resp.StatusCode)
	}
}

// openStream starts the MJPEG stream and reads one frame.
func openStream(t *testing.T, base string, c *http.Client) *multipart.Reader {
	t.Helper()
	resp, err := c.Get(base + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	if _, err := mr.NextPart(); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	return mr
}

// streamEnds reads frames until the stream ends; it fails the test when
// frames still come 30 s later.
func streamEnds(t *testing.T, mr *multipart.Reader, why string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for {
			p, err := mr.NextPart()
			if err != nil {
				done <- err
				return
			}
			io.Copy(io.Discard, p)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the live stream still sends frames 30 s after %s", why)
	}
}

func TestStreamEndsAtLogoutAndExpiry(t *testing.T) {
	e := newEnv(t)
	var skew atomic.Int64
	e.srv.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	c := e.login()
	mr := openStream(t, e.url, c)
	if resp, _ := e.do(c, "POST", "/logout", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	streamEnds(t, mr, "logout")

	c = e.login()
	mr = openStream(t, e.url, c)
	skew.Store(int64(time.Duration(e.cfg.Web.SessionHours*float64(time.Hour)) + time.Second))
	streamEnds(t, mr, "the session expired")
}

// TestUploadFormBounded: a form with a flood of tiny fields, or a huge
// field, is refused before it is held in memory, and nothing is stored.
func TestUploadFormBounded(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "Flood")
	for i := range 20000 {
		mw.WriteField(fmt.Sprintf("f%d", i), "x")
	}
	w, _ := mw.CreateFormFile("image", "a.jpg")
	w.Write(fileFrom(t, "df02", "img8.jpg").data)
	mw.Close()
	resp, body := e.do(c, "POST", "/api/people", &buf, mw.FormDataContentType())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "form fields") {
		t.Fatalf("20000 fields: status %d body %q, want 400 naming the form fields", resp.StatusCode, body)
	}
	code, res := e.upload(c, "/api/people", map[string]string{"name": strings.Repeat("n", 5000)}, fileFrom(t, "df02", "img8.jpg"))
	if code != http.StatusBadRequest || !strings.Contains(res.Error, "longer than") {
		t.Fatalf("5000-byte field: status %d %+v, want 400", code, res)
	}
	if len(e.people()) != 0 {
		t.Fatalf("refused forms stored people: %+v", e.people())
	}
}

// TestLoginLimiterMemoryBounded: made-up user names and addresses do not
// grow the limiter without bound.
func TestLoginLimiterMemoryBounded(t *testing.T) {
	l := newLoginLimiter(time.Now)
	for i := range maxBuckets + 2000 {
		l.take(fmt.Sprintf("2001:db8::%x", i), fmt.Sprintf("user%d", i), "")
	}
	if len(l.user) > maxBuckets+1 || len(l.addr) > maxBuckets+1 {
		t.Fatalf("%d user and %d address buckets kept, limit %d", len(l.user), len(l.addr), maxBuckets)
	}
}

// TestUploadRefusesBombsAndTruncatedPhotos: through the web page, a WebP
// declaring 16383x16383 pixels and a truncated JPEG are refused with a
// message, nothing is stored; names with invisible or bidirectional
// characters are refused; a look-alike name is stored with a warning.
func TestUploadRefusesBombsAndTruncatedPhotos(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	full := fileFrom(t, "df01", "img1.jpg")
	webp := []byte("RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xfe\x3f\x00\xfe\x3f\x00")
	for _, tc := range []struct {
		file upFile
		want string
	}{
		{upFile{"bomb.webp", webp}, "WebP"},
		{upFile{"cut.jpg", full.data[:len(full.data)/2]}, "incomplete"},
	} {
		code, res := e.upload(c, "/api/people", map[string]string{"name": "Mallory"}, tc.file)
		if code != http.StatusUnprocessableEntity || len(res.Photos) != 1 || !strings.Contains(res.Photos[0].Error, tc.want) {
			t.Errorf("%s: status %d %+v, want 422 saying %q", tc.file.name, code, res, tc.want)
		}
	}
	for _, name := range []string{"Ada\u202eecalevoL", "A\u200bda"} {
		if code, res := e.upload(c, "/api/people", map[string]string{"name": name}, full); code != http.StatusBadRequest || res.Error == "" {
			t.Errorf("name %q: status %d %+v, want 400", name, code, res)
		}
	}
	if len(e.people()) != 0 {
		t.Fatalf("refused uploads stored people: %+v", e.people())
	}
	if code, res := e.upload(c, "/api/people", map[string]string{"name": "Ada Lovelace"}, full); code != http.StatusCreated || res.Warning != "" {
		t.Fatalf("first Ada: %d %+v", code, res)
	}
	code, res := e.upload(c, "/api/people", map[string]string{"name": "ada  lovelace"}, fileFrom(t, "df02", "img8.jpg"))
	if code != http.StatusCreated || !strings.Contains(res.Warning, `"Ada Lovelace"`) {
		t.Fatalf("look-alike name: %d %+v, want 201 with a warning naming Ada Lovelace", code, res)
	}
}

// TestRecentAddressKeepsAReserve: a flood against the admin from other
// addresses empties the per-user bucket; an address the admin logged in
// from recently still gets in, even without the known-browser cookie.
func TestRecentAddressKeepsAReserve(t *testing.T) {
	e := newEnv(t)
	h := e.srv.Handler()
	const home = "192.0.2.90"
	if rec := loginVia(h, home, "admin", testPass); rec.Code != http.StatusSeeOther {
		t.Fatalf("first login: %d", rec.Code)
	}
	for i := range 3 * limitUser.burst {
		loginVia(h, fmt.Sprintf("198.51.100.%d", i+1), "admin", "guess-guess")
	}
	if rec := loginVia(h, "192.0.2.91", "admin", testPass); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("an address without history after the flood: status %d, want 429", rec.Code)
	}
	if rec := loginVia(h, home, "admin", testPass); rec.Code != http.StatusSeeOther {
		t.Fatalf("the admin's recent address after the flood: status %d, want 303", rec.Code)
	}
	// The reserve is small: guesses from that address are still limited.
	limited := false
	for range limitRecent.burst + limitAddr.burst + 1 {
		if loginVia(h, home, "admin", "guess-guess").Code == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Fatal("guesses from the recent address were never limited")
	}
}

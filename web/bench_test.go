package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
)

// BenchmarkPhotoCheck measures the server-side check of one uploaded photo
// (1024 px JPEG): size guard, decode, detection, quality gates, embedding
// and the duplicate check against a library of 20 people.
func BenchmarkPhotoCheck(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	svc := e.srv.deps.Enrol
	good := fileFrom(b, "df01", "img1.jpg")
	// A small library so the duplicate check has work to do.
	for _, f := range []string{"img8.jpg", "img9.jpg", "img47.jpg"} {
		for i := range 7 {
			if _, err := svc.EnrolPerson(ctx, f+strings.Repeat("x", i), []enrol.Photo{{Name: f, Data: fileFrom(b, "df02", f).data}}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v := svc.NewBatch(0).Add(ctx, enrol.Photo{Name: good.name, Data: good.data}); !v.OK() {
			b.Fatal(v.Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/photo")
}

// BenchmarkEntryLogPage measures rendering the entry log with 200 rows.
func BenchmarkEntryLogPage(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	for i := range 200 {
		r := facedb.Record{Kind: "event", Type: "access_granted", PersonID: int64(i%7 + 1), Name: "Person", Score: 0.7, Source: "face"}
		if i%10 == 0 {
			r = facedb.Record{Kind: "alarm", Type: "door_held_open", Source: "door"}
		}
		if _, err := e.db.Record(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	cookie := loginCookie(b, e)
	h := e.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/events", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
}

// BenchmarkLogin measures one successful login (bcrypt cost 10 dominates:
// this is also what a password guess costs the appliance).
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b)
	h := e.srv.Handler()
	body := url.Values{"user": {testUser}, "password": {testPass}}.Encode()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
}

func loginCookie(tb testing.TB, e *env) *http.Cookie {
	tb.Helper()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {testUser}, "password": {testPass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	tb.Fatal("no session cookie")
	return nil
}

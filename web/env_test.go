package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

const (
	testUser = "admin"
	testPass = "correct-horse-battery"
)

// One pipeline for the whole test binary: loading the models is the slow
// part and the pipeline is safe for concurrent use.
var (
	pipeOnce sync.Once
	pipe     *vision.Pipeline
	pipeErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pipe != nil {
		pipe.Close()
	}
	os.Exit(code)
}

func testPipeline(t testing.TB, cfg config.Config) *vision.Pipeline {
	t.Helper()
	pipeOnce.Do(func() { pipe, pipeErr = vision.Open(visionconfig.Options(cfg.Recognition, cfg.ModelsDir)) })
	if pipeErr != nil {
		t.Fatalf("vision.Open: %v", pipeErr)
	}
	return pipe
}

// imageFrames plays a fixed image as the camera: a new timestamp on every
// call, like a live camera.
type imageFrames struct {
	mu  sync.Mutex
	jpg []byte
	n   int
}

func (f *imageFrames) LatestJPEG() ([]byte, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.jpg, time.Now()
}

// env is one running web server on a real database, the real vision
// pipeline and a simulated door.
type env struct {
	t      testing.TB
	cfg    config.Config
	db     *facedb.DB
	door   *door.Controller
	health *health.Tracker
	srv    *Server
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *testenv.SyncBuffer
	reload int // OnLibraryChange calls
	mu     sync.Mutex
}

// newEnv starts the server; opts adjust the configuration first.
func newEnv(t testing.TB, opts ...func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ModelsDir = testenv.ModelsDir(t)
	cfg.Demo = true
	cfg.Door.GPIO = "sim"
	cfg.Door.ContactPin = "GPIO27"
	cfg.Door.ExitPin = "GPIO22"
	cfg.Door.UnlockSeconds = 3
	cfg.Web.Listen = "127.0.0.1:0"
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(cfg.SnapshotDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db, err := facedb.Open(ctx, cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := door.Open(cfg.Door, db, log)
	if err != nil {
		t.Fatal(err)
	}
	doorDone := make(chan error, 1)
	go func() { doorDone <- d.Run(ctx) }()
	h := health.New()
	h.Set("database", true, "")
	h.Set("camera", false, "no frames for 6s")
	jpg, err := os.ReadFile(testenv.Face(t, "df01", "img1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "facegate_test_total", Help: "test"}))
	e := &env{t: t, cfg: cfg, db: db, door: d, health: h, cancel: cancel, done: make(chan error, 1), logs: logs}
	hash, err := HashPassword(testPass)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserPassword(ctx, testUser, hash); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Deps{
		DB: db, Enrol: enrol.New(testPipeline(t, cfg), db, enrol.Options{DuplicateThreshold: cfg.Recognition.Threshold}), Door: d, Frames: &imageFrames{jpg: jpg}, Health: h,
		Gatherer: reg, Registerer: reg, Log: log,
		OnLibraryChange: func() { e.mu.Lock(); e.reload++; e.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	if srv.Cert() != nil {
		e.url = "https://" + ln.Addr().String()
	}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
		<-doorDone
		d.Close()
		db.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// client returns an HTTP client that does not follow redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cert := e.srv.Cert(); cert != nil { // trust the page's own certificate, nothing else
		pem, err := os.ReadFile(cert.CertFile)
		if err != nil {
			e.t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	return c
}

// login returns a client with a session.
func (e *env) login() *http.Client {
	e.t.Helper()
	c := e.client()
	resp, err := c.PostForm(e.url+"/login", map[string][]string{"user": {testUser}, "password": {testPass}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: status %d", resp.StatusCode)
	}
	return c
}

func (e *env) do(c *http.Client, method, path string, body io.Reader, ctype string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

type upFile struct {
	name string
	data []byte
}

func fileFrom(t testing.TB, folder, name string) upFile {
	t.Helper()
	b, err := os.ReadFile(testenv.Face(t, folder, name))
	if err != nil {
		t.Fatal(err)
	}
	return upFile{name: name, data: b}
}

func multipartBody(t testing.TB, fields map[string]string, files ...upFile) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for _, f := range files {
		w, err := mw.CreateFormFile("image", f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func (e *env) upload(c *http.Client, path string, fields map[string]string, files ...upFile) (int, uploadResult) {
	e.t.Helper()
	body, ct := multipartBody(e.t, fields, files...)
	resp, b := e.do(c, http.MethodPost, path, body, ct)
	var res uploadResult
	if err := json.Unmarshal(b, &res); err != nil {
		e.t.Fatalf("POST %s: status %d, body %q: %v", path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, res
}

func (e *env) people() []facedb.Person {
	e.t.Helper()
	ps, err := e.db.People(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ps
}

func (e *env) revision() int64 {
	e.t.Helper()
	r, err := e.db.LibraryRevision(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) auditHas(pred func(facedb.AuditEntry) bool) bool {
	log, err := e.db.AuditLog(context.Background(), 200)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range log {
		if pred(a) {
			return true
		}
	}
	return false
}

func isWebUnlock(a facedb.AuditEntry) bool {
	return a.Action == "unlock" && strings.Contains(a.Detail, "source=web")
}

var _ = errors.Is

package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Frames gives the newest annotated camera frame (JPEG) and when it was taken;
// nil bytes when there is none yet. *access.Loop satisfies it.
type Frames interface {
	LatestJPEG() ([]byte, time.Time)
}

// rawFrames is optionally implemented by a Frames: the newest frame without
// annotations, preferred for "capture from camera" enrolment.
type rawFrames interface {
	LatestRawJPEG(ctx context.Context) ([]byte, time.Time)
}

// Deps are the parts of the appliance the web page uses. DB is required;
// without Enrol uploads are refused, without Door the live view has no door
// controls, without Frames there is no stream.
type Deps struct {
	DB              *facedb.DB
	Enrol           *enrol.Service // checks and stores uploaded photos
	Door            Door
	Frames          Frames
	Health          *health.Tracker
	Gatherer        prometheus.Gatherer   // served on /metrics
	Registerer      prometheus.Registerer // optional: where the web page registers its own metrics
	Log             *slog.Logger
	OnLibraryChange func() // called after people or templates changed (e.g. access.Loop.ReloadGallery)
	// Liveness, when set, judges camera frames captured for enrolment:
	// a face judged a presentation attack is refused (uploads are not judged).
	Liveness LivenessJudge
}

// LivenessJudge judges the face in a JPEG (vision.ImageJudge).
type LivenessJudge interface {
	JudgeJPEG(b []byte) (score float64, live bool, err error)
}

// Server is the web page of one appliance.
type Server struct {
	cfg      config.Config
	deps     Deps
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessionStore
	limiter  *loginLimiter
	knownKey []byte           // signs known-browser cookies (ratelimit.go)
	cert     *Cert            // nil: plain HTTP
	now      func() time.Time // the clock of sessions and login limits (tests move it)
	handler  http.Handler
	started  time.Time

	streams chan struct{} // concurrent MJPEG streams allowed
	metrics metrics
}

type metrics struct {
	logins       *prometheus.CounterVec
	photos       *prometheus.CounterVec
	photoSeconds prometheus.Histogram
	streams      prometheus.GaugeFunc
}

func newMetrics(s *Server) metrics {
	return metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_web_logins_total", Help: "Web login attempts by result (ok, wrong, limited).",
		}, []string{"result"}),
		photos: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_web_photos_checked_total", Help: "Uploaded enrolment photos by outcome.",
		}, []string{"result"}),
		photoSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "facegate_web_photo_check_seconds", Help: "Time to decode and check one uploaded photo.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		streams: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facegate_web_live_streams", Help: "Live view streams being sent.",
		}, func() float64 { return float64(len(s.streams)) }),
	}
}

func (m metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.logins, m.photos, m.photoSeconds, m.streams} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("web: registering metrics: %w", err)
		}
	}
	return nil
}

// ErrConfig is returned by New for unusable dependencies.
var ErrConfig = errors.New("web: bad configuration")

// New builds the server; Run serves it.
func New(cfg config.Config, deps Deps) (*Server, error) {
	if deps.DB == nil {
		return nil, fmt.Errorf("%w: no database", ErrConfig)
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.NewRegistry()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Log.With("component", "web"),
		pages:   pages,
		started: time.Now(),
		streams: make(chan struct{}, 8),
		now:     time.Now,
	}
	now := func() time.Time { return s.now() }
	s.sessions = newSessionStore(deps.DB, time.Duration(cfg.Web.SessionHours*float64(time.Hour)), now)
	s.limiter = newLoginLimiter(now)
	if s.knownKey, err = deps.DB.Secret(context.Background(), "web_known_browser", 32); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.metrics = newMetrics(s)
	if deps.Registerer != nil {
		if err := s.metrics.register(deps.Registerer); err != nil {
			return nil, err
		}
	}
	if cfg.Web.Listen != "" && UsesTLS(cfg.Web) {
		if s.cert, err = LoadCert(cfg); err != nil {
			return nil, err
		}
		if s.cert.Generated {
			s.log.Warn("generated a self-signed certificate for the web page; check its fingerprint when the browser asks",
				"certificate", s.cert.CertFile, "sha256", s.cert.Fingerprint, "names", s.cert.DNSNames, "addresses", s.cert.IPs)
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Cert is the certificate the page is served with, nil for plain HTTP.
func (s *Server) Cert() *Cert { return s.cert }

// Handler is the whole web page with its middleware (for tests and for
// embedding in another server).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on web.listen and serves until ctx is cancelled; then it stops
// accepting, ends live streams and waits up to 5 s for requests in flight.
// An empty web.listen disables the page: Run just waits for ctx.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Web.Listen == "" {
		s.log.Info("web page disabled (web.listen is empty)")
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Web.Listen)
	if err != nil {
		return fmt.Errorf("web: listen on %s (web.listen): %w", s.cfg.Web.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // uploads from a phone on poor Wi-Fi
		WriteTimeout:      2 * time.Minute, // the MJPEG stream extends its own deadline
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx }, // ends streams on shutdown
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	if s.deps.Health != nil {
		s.deps.Health.Set("web", true, "listening on "+ln.Addr().String())
	}
	if s.cert != nil {
		srv.TLSConfig = s.cert.tlsConfig()
		s.log.Info("web page listening", "url", "https://"+ln.Addr().String()+"/",
			"certificate", s.cert.CertFile, "sha256", s.cert.Fingerprint)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		s.log.Info("web page listening", "url", "http://"+ln.Addr().String()+"/")
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		s.log.Warn("web shutdown was not clean", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static), time.Hour)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requirePage(h)) }
	page("GET /{$}", s.peoplePage)
	page("GET /events", s.eventsPage)
	page("GET /live", s.livePage)

	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireAPI(h)) }
	api("GET /api/people", s.apiPeople)
	api("POST /api/people", s.siteManaged(s.apiAddPerson))
	api("GET /api/people/{id}", s.apiPerson)
	api("DELETE /api/people/{id}", s.siteManaged(s.apiDeletePerson))
	api("POST /api/people/{id}/photos", s.siteManaged(s.apiAddPhotos))
	api("POST /api/people/{id}/enabled", s.siteManaged(s.apiSetEnabled))
	api("POST /api/people/{id}/validity", s.siteManaged(s.apiSetValidity))
	api("GET /api/people/{id}/thumbnail", s.apiThumbnail)
	api("GET /api/events", s.apiEvents)
	api("GET /api/events.csv", s.apiEventsCSV)
	api("GET /api/snapshots/{name...}", s.apiSnapshot)
	api("GET /api/capture", s.apiCapture)
	api("GET /api/stream", s.apiStream)
	api("GET /api/door", s.apiDoor)
	api("POST /api/unlock", s.apiUnlock)
	api("POST /api/door/contact", s.apiSimContact)
	api("POST /api/door/exit", s.apiSimExit)
	api("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "client", clientIP(r))
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// blob: and data: images: previews of photos chosen or captured before upload.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheFor(h http.Handler, d time.Duration) http.Handler {
	v := fmt.Sprintf("private, max-age=%d", int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.deps.Health == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "components": map[string]any{}})
		return
	}
	writeJSON(w, http.StatusOK, s.deps.Health.Report())
}

// writeJSON encodes v into a buffer first, so an encoding error still gives
// a clean 500.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "web: encoding response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// render executes a page template into a buffer, then writes it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data map[string]any) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Page"] = name
	data["Demo"] = s.cfg.Demo
	data["DeviceID"] = s.cfg.DeviceID
	data["Site"] = s.cfg.Site.Name
	if s.cert != nil {
		data["CertFingerprint"] = s.cert.Fingerprint
	}
	if u, ok := userFrom(r.Context()); ok {
		data["User"] = u
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("rendering page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

var pageFuncs = template.FuncMap{
	// words shows a status code (not_yet_valid) as words (not yet valid).
	"words": func(code string) string { return strings.ReplaceAll(code, "_", " ") },
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02")
	},
	"score": func(f float64) string {
		if f == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", f)
	},
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "people", "events", "live"} {
		t, err := template.New(name).Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parsing template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

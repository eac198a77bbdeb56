package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/facegate/facegate/facedb"
)

const (
	sessionCookie = "facegate_session"
	// MinPasswordLen is the shortest password HashPassword accepts.
	MinPasswordLen = 8
	bcryptCost     = bcrypt.DefaultCost // 10: ~50-70 ms on a PC, a few times that on a Pi 4
)

var (
	// ErrWeakPassword is returned by HashPassword for a password that is too short.
	ErrWeakPassword = errors.New("web: password too short")
	// dummyHash is compared against when the user does not exist, so a
	// wrong user name takes as long as a wrong password.
	dummyHash, _ = bcrypt.GenerateFromPassword([]byte("facegate-no-such-user"), bcryptCost)
)

// HashPassword returns the bcrypt hash to store with facedb.SetUserPassword.
func HashPassword(pw string) (string, error) {
	if len([]rune(pw)) < MinPasswordLen {
		return "", fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordLen)
	}
	if len(pw) > 72 {
		return "", fmt.Errorf("%w: bcrypt uses at most 72 bytes; use a shorter password", ErrWeakPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("web: hashing password: %w", err)
	}
	return string(h), nil
}

// EnsureAdmin creates the user "admin" with a random password when the
// database has no web user yet, and logs the password once. It does nothing
// when a user exists.
func EnsureAdmin(ctx context.Context, db *facedb.DB, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	n, err := db.UserCount(ctx)
	if err != nil {
		return fmt.Errorf("web: counting users: %w", err)
	}
	if n > 0 {
		return nil
	}
	b := make([]byte, 12)
	rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b)
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	if err := db.SetUserPassword(ctx, "admin", h); err != nil {
		return fmt.Errorf("web: creating admin user: %w", err)
	}
	if err := db.Audit(ctx, facedb.AuditEntry{Actor: "system", Action: "user_create", Target: "admin", Detail: "first start, random password", OK: true}); err != nil {
		log.Warn("audit failed", "err", err)
	}
	log.Warn("created web user admin with a random password; it is shown only this once, change it with 'facegate passwd'",
		"user", "admin", "password", pw)
	return nil
}

// ---- sessions ----

type session struct {
	user    string
	expires time.Time
}

// sessionStore keeps sessions in memory, keyed by the SHA-256 of the cookie
// token (a memory dump does not give usable cookies). A restart logs
// everyone out, which is acceptable for a door appliance.
type sessionStore struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[[32]byte]session
}

func newSessionStore(ttl time.Duration) *sessionStore {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &sessionStore{ttl: ttl, m: map[[32]byte]session{}}
}

func (st *sessionStore) create(user string) (token string, expires time.Time) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	now := time.Now()
	expires = now.Add(st.ttl)
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.m {
		if now.After(s.expires) {
			delete(st.m, k)
		}
	}
	st.m[sha256.Sum256([]byte(token))] = session{user: user, expires: expires}
	return token, expires
}

func (st *sessionStore) lookup(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	k := sha256.Sum256([]byte(token))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[k]
	if !ok {
		return "", false
	}
	if time.Now().After(s.expires) {
		delete(st.m, k)
		return "", false
	}
	return s.user, true
}

func (st *sessionStore) delete(token string) {
	st.mu.Lock()
	delete(st.m, sha256.Sum256([]byte(token)))
	st.mu.Unlock()
}

// ---- login rate limit ----

// loginLimiter allows each client IP a burst of 5 failed logins, then one
// more every 12 s. Successful logins cost nothing.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const (
	loginBurst = 5
	loginEvery = 12 * time.Second
)

func newLoginLimiter() *loginLimiter { return &loginLimiter{m: map[string]*limiterEntry{}} }

func (l *loginLimiter) get(ip string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.m) > 1000 { // forget clients whose bucket has long refilled
		for k, e := range l.m {
			if now.Sub(e.seen) > loginBurst*loginEvery {
				delete(l.m, k)
			}
		}
	}
	e, ok := l.m[ip]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(rate.Every(loginEvery), loginBurst)}
		l.m[ip] = e
	}
	e.seen = now
	return e.lim
}

// wait reports how long the client must wait before trying again (0 = now).
func (l *loginLimiter) wait(ip string) time.Duration {
	lim := l.get(ip)
	if t := lim.Tokens(); t < 1 {
		return time.Duration(math.Ceil((1-t)*loginEvery.Seconds())) * time.Second
	}
	return 0
}

func (l *loginLimiter) failed(ip string) { l.get(ip).Allow() }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ---- handlers and middleware ----

type userKey struct{}

func userFrom(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKey{}).(string)
	return u, ok
}

func (s *Server) sessionUser(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	return s.sessions.lookup(c.Value)
}

// requirePage sends visitors without a session to the login page.
func (s *Server) requirePage(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.sessionUser(r)
		if !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// requireAPI answers 401 without a session.
func (s *Server) requireAPI(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.sessionUser(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "login required")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.sessionUser(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ip := clientIP(r)
	user := strings.TrimSpace(r.PostFormValue("user"))
	next := safeNext(r.PostFormValue("next"))
	data := map[string]any{"Next": next, "LoginUser": user}
	if d := s.limiter.wait(ip); d > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(d.Seconds())))
		s.metrics.logins.WithLabelValues("limited").Inc()
		data["Error"] = fmt.Sprintf("Too many failed logins from your address. Try again in %d seconds.", int(d.Seconds()))
		s.render(w, r, http.StatusTooManyRequests, "login", data)
		return
	}
	ok, err := s.checkPassword(r.Context(), user, r.PostFormValue("password"))
	if err != nil {
		s.log.Error("login check failed", "err", err)
		data["Error"] = "The user database is not available; see the appliance log."
		s.render(w, r, http.StatusInternalServerError, "login", data)
		return
	}
	s.audit(r.Context(), user, "login", "web", "from "+ip, ok)
	if !ok {
		s.metrics.logins.WithLabelValues("wrong").Inc()
		s.limiter.failed(ip)
		s.log.Warn("web login failed", "user", user, "client", ip)
		data["Error"] = "Wrong user name or password."
		s.render(w, r, http.StatusUnauthorized, "login", data)
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	token, exp := s.sessions.create(user)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.Web.SecureCookies,
	})
	s.log.Info("web login", "user", user, "client", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) checkPassword(ctx context.Context, user, pw string) (bool, error) {
	h, err := s.deps.DB.UserHash(ctx, user)
	switch {
	case errors.Is(err, facedb.ErrNotFound) || user == "":
		bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false, nil
	case err != nil:
		return false, err
	}
	// bcrypt compares in constant time.
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) == nil, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.Web.SecureCookies,
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps redirects after login on this site.
func safeNext(n string) string {
	if n == "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") ||
		strings.HasPrefix(n, "/login") || strings.HasPrefix(n, "/api/") {
		return "/"
	}
	return n
}

func (s *Server) audit(ctx context.Context, actor, action, target, detail string, ok bool) {
	if err := s.deps.DB.Audit(ctx, facedb.AuditEntry{Actor: actor, Action: action, Target: target, Detail: detail, OK: ok}); err != nil {
		s.log.Warn("audit failed", "action", action, "err", err)
	}
}

package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

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

// sessionStore keeps sessions in the database (facedb sessions), keyed by
// the SHA-256 of the cookie token: a copy of the database gives no usable
// cookie, a restart logs nobody out, and a password change made by any
// process (facegate passwd) ends the user's sessions at once.
type sessionStore struct {
	db  *facedb.DB
	ttl time.Duration
	now func() time.Time
}

func newSessionStore(db *facedb.DB, ttl time.Duration, now func() time.Time) *sessionStore {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &sessionStore{db: db, ttl: ttl, now: now}
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func (st *sessionStore) create(ctx context.Context, user string) (token string, expires time.Time, err error) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	now := st.now()
	expires = now.Add(st.ttl)
	if err := st.db.CreateSession(ctx, tokenHash(token), user, now, expires); err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// lookup returns the user of a live session; false for an unknown, ended
// or expired one, and when the database cannot answer.
func (st *sessionStore) lookup(ctx context.Context, token string) (string, bool) {
	if token == "" {
		return "", false
	}
	s, err := st.db.SessionByHash(ctx, tokenHash(token), st.now())
	if err != nil {
		return "", false
	}
	return s.User, true
}

func (st *sessionStore) delete(ctx context.Context, token string) error {
	return st.db.DeleteSession(ctx, tokenHash(token))
}

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
	return s.sessions.lookup(r.Context(), c.Value)
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
	// Charged before the password is checked; a success is refunded.
	wait, done := s.limiter.take(ip, user, knownID(s.knownKey, r, user, s.now()))
	if wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())))
		s.metrics.logins.WithLabelValues("limited").Inc()
		s.log.Warn("web login refused: too many attempts", "user", user, "client", ip, "retry_after", wait)
		data["Error"] = fmt.Sprintf("Too many failed logins. Try again in %d seconds.", int(wait.Seconds()))
		s.render(w, r, http.StatusTooManyRequests, "login", data)
		return
	}
	ok, err := s.checkPassword(r.Context(), user, r.PostFormValue("password"))
	done(ok && err == nil)
	if err != nil {
		s.log.Error("login check failed", "err", err)
		data["Error"] = "The user database is not available; see the appliance log."
		s.render(w, r, http.StatusInternalServerError, "login", data)
		return
	}
	s.audit(r.Context(), user, "login", "web", "from "+ip, ok)
	if !ok {
		s.metrics.logins.WithLabelValues("wrong").Inc()
		s.log.Warn("web login failed", "user", user, "client", ip)
		data["Error"] = "Wrong user name or password."
		s.render(w, r, http.StatusUnauthorized, "login", data)
		return
	}
	token, exp, err := s.sessions.create(r.Context(), user)
	if err != nil {
		s.log.Error("storing the session failed", "err", err)
		data["Error"] = "The session could not be stored; see the appliance log."
		s.render(w, r, http.StatusInternalServerError, "login", data)
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	secure := s.secureCookies(r)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	})
	http.SetCookie(w, &http.Cookie{
		Name: knownCookie, Value: knownValue(s.knownKey, user, s.now()), Path: "/login", MaxAge: knownBrowserDays * 86400,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	})
	s.log.Info("web login", "user", user, "client", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// secureCookies reports whether cookies get the Secure flag: always over
// TLS, and when web.secure_cookies says a TLS proxy is in front.
func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || s.cfg.Web.SecureCookies
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
		if err := s.sessions.delete(r.Context(), c.Value); err != nil {
			s.log.Error("ending the session failed", "err", err)
			writeError(w, http.StatusInternalServerError, "logout failed: the session could not be ended; see the appliance log")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookies(r),
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps redirects after login on this site: only a path of this
// site, with no scheme or host and nothing a browser would strip or
// reinterpret (tabs and newlines are removed by browsers, so "/\t/evil"
// would become "//evil"; a backslash is read as a slash).
func safeNext(n string) string {
	for _, c := range n {
		if c <= ' ' || c == 0x7f || c == '\\' || c > unicode.MaxASCII {
			return "/"
		}
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") ||
		strings.HasPrefix(u.Path, "/login") || strings.HasPrefix(u.Path, "/api/") {
		return "/"
	}
	return n
}

func (s *Server) audit(ctx context.Context, actor, action, target, detail string, ok bool) {
	if err := s.deps.DB.Audit(ctx, facedb.AuditEntry{Actor: actor, Action: action, Target: target, Detail: detail, OK: ok}); err != nil {
		s.log.Warn("audit failed", "action", action, "err", err)
	}
}

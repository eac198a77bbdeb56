package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login rate limits. Every attempt is charged to its buckets before the
// password is checked (so parallel guesses cannot all be checked), and a
// successful login gets its charge back. An attempt needs a token from its
// client address, its user name and the global bucket, so neither many
// addresses against one user nor many user names from one address go
// unbounded. A browser that has logged in as the user before (a
// known-browser cookie, signed by the appliance) is charged to its own
// bucket instead: an attacker flooding wrong passwords, even from the same
// address (NAT, a reverse proxy), cannot keep that user out. And an
// address with a recent successful login as the user keeps a small reserve
// for that user when the other buckets are empty, so a flood from
// elsewhere does not lock out a browser that lost its cookie.
type limit struct {
	burst int
	every time.Duration
}

var (
	limitAddr   = limit{5, 12 * time.Second}
	limitUser   = limit{10, 30 * time.Second}
	limitGlobal = limit{30, 4 * time.Second}
	limitKnown  = limit{5, 12 * time.Second}
	limitRecent = limit{3, time.Minute}
)

// recentLoginDays is how long a successful login from an address keeps
// that address's reserve for the user.
const recentLoginDays = 30

// knownBrowserDays is how long a known-browser cookie is honoured.
const knownBrowserDays = 180

type loginLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	addr   map[string]*bucket
	user   map[string]*bucket
	known  map[string]*bucket
	global *rate.Limiter
	// recent: when an address last logged in as a user ("addr\x00user");
	// reserve: the buckets those pairs fall back on.
	recent  map[string]time.Time
	reserve map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{
		now: now, addr: map[string]*bucket{}, user: map[string]*bucket{}, known: map[string]*bucket{},
		global:  rate.NewLimiter(rate.Every(limitGlobal.every), limitGlobal.burst),
		recent:  map[string]time.Time{},
		reserve: map[string]*bucket{},
	}
}

// maxBuckets bounds each map of buckets: past it, new keys share one
// overflow bucket, so a flood of made-up user names (or IPv6 addresses)
// cannot grow memory without bound.
const maxBuckets = 10000

func (l *loginLimiter) get(m map[string]*bucket, key string, lm limit, now time.Time) *rate.Limiter {
	if len(m) > 1000 { // forget keys whose bucket has long refilled
		full := time.Duration(lm.burst) * lm.every
		for k, b := range m {
			if now.Sub(b.seen) > full {
				delete(m, k)
			}
		}
	}
	b, ok := m[key]
	if !ok && len(m) >= maxBuckets {
		key = "\x00overflow"
		b, ok = m[key]
	}
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Every(lm.every), lm.burst)}
		m[key] = b
	}
	b.seen = now
	return b.lim
}

// take charges one login attempt for user from addr (knownID: the id of a
// valid known-browser cookie for user, or ""). It returns how long to wait
// when the attempt is refused; otherwise done, to be called with the
// outcome (a success gets the charge back).
func (l *loginLimiter) take(addr, user, knownID string) (wait time.Duration, done func(ok bool)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	pair := addr + "\x00" + strings.ToLower(user)
	var rs []*rate.Reservation
	if knownID != "" {
		rs, wait = reserve(now, l.get(l.known, knownID, limitKnown, now))
	} else {
		rs, wait = reserve(now, l.get(l.addr, addr, limitAddr, now), l.get(l.user, strings.ToLower(user), limitUser, now), l.global)
		if t, ok := l.recent[pair]; wait > 0 && ok && now.Sub(t) < recentLoginDays*24*time.Hour {
			rs, wait = reserve(now, l.get(l.reserve, pair, limitRecent, now))
		}
	}
	if wait > 0 {
		return time.Duration(math.Ceil(wait.Seconds())) * time.Second, nil
	}
	return 0, func(ok bool) {
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range rs {
			r.CancelAt(l.now())
		}
		if _, seen := l.recent[pair]; seen || len(l.recent) < maxBuckets {
			l.recent[pair] = l.now()
		} else {
			for k, t := range l.recent { // full: forget the oldest
				if l.now().Sub(t) > recentLoginDays*24*time.Hour {
					delete(l.recent, k)
				}
			}
		}
	}
}

// reserve takes one token from every limiter, or from none: it returns the
// reservations and 0, or nil and how long to wait.
func reserve(now time.Time, lims ...*rate.Limiter) ([]*rate.Reservation, time.Duration) {
	var wait time.Duration
	rs := make([]*rate.Reservation, 0, len(lims))
	for _, lim := range lims {
		r := lim.ReserveN(now, 1)
		rs = append(rs, r)
		if d := r.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		for _, r := range rs {
			r.CancelAt(now)
		}
		return nil, wait
	}
	return rs, 0
}

// ---- known-browser cookie ----

const knownCookie = "facegate_known"

// knownValue is the cookie a browser gets after logging in as user:
// "<user base64>.<unix issued>.<hex HMAC-SHA256>".
func knownValue(key []byte, user string, issued time.Time) string {
	u := base64.RawURLEncoding.EncodeToString([]byte(user))
	ts := strconv.FormatInt(issued.Unix(), 10)
	return u + "." + ts + "." + knownMAC(key, u+"."+ts)
}

func knownMAC(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("facegate known browser\n" + msg))
	return hex.EncodeToString(m.Sum(nil))
}

// knownID returns an id for the known-browser cookie of r when it is valid
// for user at now, or "".
func knownID(key []byte, r *http.Request, user string, now time.Time) string {
	c, err := r.Cookie(knownCookie)
	if err != nil || len(key) == 0 {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return ""
	}
	u, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || string(u) != user {
		return ""
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Sub(time.Unix(issued, 0)) > knownBrowserDays*24*time.Hour || time.Unix(issued, 0).After(now.Add(time.Minute)) {
		return ""
	}
	if !hmac.Equal([]byte(parts[2]), []byte(knownMAC(key, parts[0]+"."+parts[1]))) {
		return ""
	}
	return fmt.Sprintf("%s.%s", parts[0], parts[2][:16])
}

// Package web serves the appliance's local web page: login with bcrypt
// password hashes and server-side sessions, the people page (enrol faces from
// uploads or the live camera, enable/disable, validity, delete), the entry log
// with filters and CSV export, the live view (MJPEG stream, door state, unlock,
// demo door controls), /healthz and /metrics.
//
// Every HTML page and every /api/* endpoint needs a logged-in session; pages
// redirect to /login and the API answers 401 without one. State-changing
// requests from another origin are refused (http.CrossOriginProtection), every
// response carries a strict Content-Security-Policy, X-Frame-Options: DENY and
// X-Content-Type-Options: nosniff, and templates are rendered into a buffer
// before anything is written. Assets are embedded; there is no build step.
//
// The daemon creates a Server with New and runs it with Run; EnsureAdmin
// creates the first user on a fresh database and logs its random password
// once; HashPassword is what `facegate passwd` stores. Sessions are stored
// in the database by the SHA-256 of their token (a restart logs nobody out;
// a password change ends them). Login attempts are charged before the
// password check, per client address, per user name and globally; a browser
// that logged in as the user before has its own budget, and an address with
// a recent successful login a small reserve (ratelimit.go), so a flood
// cannot lock the admin out. Beyond loopback the page is served over
// HTTPS with web.cert_file or a self-signed certificate generated under
// data_dir (cert.go); its fingerprint is logged and shown in the footer.
// Uploaded photos are checked one at a time as they stream in, by the
// enrolment service (package enrol: size, pixel count, decode, exactly one
// face, quality gates, duplicate warning). The MJPEG live view ends when the client leaves, Run's context
// is cancelled, or its session ends (logout, expiry, password change).
package web

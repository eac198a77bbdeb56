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
// once; HashPassword is what `facegate passwd` stores. Sessions live in
// memory (a restart logs everyone out); failed logins are limited per client
// IP (5, then one per 12 s). Uploaded photos are checked one at a time as
// they stream in (size, pixel count, decode, exactly one face, quality
// gates) and a face that already matches someone else is stored with a
// warning. The MJPEG live view ends when the client leaves or Run's context
// is cancelled.
package web

package site

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// Format is the record format this build reads and writes.
const Format = 1

// signContext is prepended to the body before signing, so a site signature
// can never be mistaken for a signature over anything else.
const signContext = "facegate site person record v1\n"

// Refusal reasons (counted, audited, and published in the door status).
const (
	ReasonUnsigned     = "unsigned"
	ReasonBadSignature = "bad_signature"
	ReasonMalformed    = "malformed"
	ReasonStale        = "stale" // older than (or losing the tie-break to) the applied record
)

// ErrRefused is wrapped by every refusal; Refusal carries the reason.
var ErrRefused = errors.New("site: record refused")

// Refusal says why a record was refused.
type Refusal struct {
	Reason string
	Err    error
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("site: record refused (%s): %v", r.Reason, r.Err)
}
func (r *Refusal) Unwrap() []error { return []error{ErrRefused, r.Err} }

func refuse(reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the refusal reason of err ("" if err is no refusal).
func ReasonOf(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// Template is one face embedding of a record, with the id of the model that
// computed it. A door keeps the templates of every model and matches only
// those of the model it runs.
type Template struct {
	Model     string  `json:"model"`
	Embedding []byte  `json:"embedding"` // little-endian float32, L2-normalised (base64 in JSON)
	Quality   float64 `json:"quality,omitempty"`
}

// Record is one person of a site: the signed body of a retained message.
// Its JSON encoding (Go's encoding/json of this struct: fixed field order,
// no maps) is the canonical form that is signed; a door verifies the exact
// bytes it received and never re-encodes them.
type Record struct {
	Format     int        `json:"format"`
	Site       string     `json:"site"`
	UUID       string     `json:"uuid"`
	Version    int64      `json:"version"`
	Deleted    bool       `json:"deleted,omitempty"` // a tombstone: no name, no templates
	Name       string     `json:"name,omitempty"`
	Enabled    bool       `json:"enabled"`
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Templates  []Template `json:"templates,omitempty"`
	Thumbnail  []byte     `json:"thumbnail,omitempty"` // optional small JPEG face crop; never the enrolment photo
	UpdatedAt  time.Time  `json:"updated_at"`
}

// envelope is the retained message: the body as text and its signature.
type envelope struct {
	Body string `json:"body"`
	Sig  []byte `json:"sig"` // Ed25519 over signContext + body (base64 in JSON)
}

// Signed is a verified (or freshly signed) record with what a door stores.
type Signed struct {
	Record
	Digest  []byte // SHA-256 of the body: the tie-break between equal versions
	Message []byte // the retained message as published
}

// Embedding encodes an L2-normalised float32 vector for a Template.
func Embedding(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func floats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// NextVersion returns the version for a change to a record now at cur:
// the wall clock in milliseconds, but always above cur, so versions from
// different managing machines stay ordered by time and a clock step back
// never produces an older version.
func NextVersion(cur int64, now time.Time) int64 {
	return max(cur+1, now.UnixMilli())
}

// Sign validates r and signs it with the site's private key.
func Sign(key ed25519.PrivateKey, r Record) (Signed, error) {
	r.Format = Format
	if err := r.validate(); err != nil {
		return Signed{}, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return Signed{}, fmt.Errorf("site: encode record: %w", err)
	}
	msg, err := json.Marshal(envelope{Body: string(body), Sig: ed25519.Sign(key, append([]byte(signContext), body...))})
	if err != nil {
		return Signed{}, fmt.Errorf("site: encode record: %w", err)
	}
	d := sha256.Sum256(body)
	return Signed{Record: r, Digest: d[:], Message: msg}, nil
}

// Open verifies a retained message received on the topic of (site, id)
// with the site's public key and decodes it. Every failure is a *Refusal.
func Open(pub ed25519.PublicKey, site, id string, msg []byte) (Signed, error) {
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return Signed{}, refuse(ReasonMalformed, "not a signed record: %v", err)
	}
	if len(env.Sig) == 0 {
		return Signed{}, refuse(ReasonUnsigned, "no signature")
	}
	body := []byte(env.Body)
	if !ed25519.Verify(pub, append([]byte(signContext), body...), env.Sig) {
		return Signed{}, refuse(ReasonBadSignature, "signature does not verify with the site key")
	}
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Signed{}, refuse(ReasonMalformed, "body: %v", err)
	}
	if err := r.validate(); err != nil {
		return Signed{}, err
	}
	if r.Site != site || r.UUID != id {
		return Signed{}, refuse(ReasonMalformed, "record of site %q person %s published under site %q person %s", r.Site, r.UUID, site, id)
	}
	d := sha256.Sum256(body)
	return Signed{Record: r, Digest: d[:], Message: msg}, nil
}

// ValidName reports whether s can be a site name (one MQTT topic level).
func ValidName(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsAny(s, "/#+ \x00")
}

func (r Record) validate() error {
	switch {
	case r.Format != Format:
		return refuse(ReasonMalformed, "format %d, this facegate reads %d", r.Format, Format)
	case !ValidName(r.Site):
		return refuse(ReasonMalformed, "site %q is not a valid site name", r.Site)
	case r.Version <= 0:
		return refuse(ReasonMalformed, "version %d is not positive", r.Version)
	}
	if u, err := uuid.Parse(r.UUID); err != nil || u.String() != r.UUID {
		return refuse(ReasonMalformed, "uuid %q is not a lower-case RFC 4122 uuid", r.UUID)
	}
	if r.Deleted {
		if r.Name != "" || len(r.Templates) > 0 || len(r.Thumbnail) > 0 {
			return refuse(ReasonMalformed, "a tombstone carries a name, templates or a thumbnail")
		}
		return nil
	}
	if n := strings.TrimSpace(r.Name); n == "" || len(n) > 200 {
		return refuse(ReasonMalformed, "name must have 1..200 characters")
	}
	if r.ValidFrom != nil && r.ValidUntil != nil && !r.ValidUntil.After(*r.ValidFrom) {
		return refuse(ReasonMalformed, "valid_until %s is not after valid_from %s", r.ValidUntil.Format(time.RFC3339), r.ValidFrom.Format(time.RFC3339))
	}
	if len(r.Templates) == 0 {
		return refuse(ReasonMalformed, "no templates")
	}
	for i, t := range r.Templates {
		if t.Model == "" || len(t.Embedding) == 0 || len(t.Embedding)%4 != 0 {
			return refuse(ReasonMalformed, "template %d has no model or an embedding of %d bytes", i, len(t.Embedding))
		}
		// A model this build knows must have its length (a gallery takes
		// its row length from the templates); unknown models are kept for
		// the doors that run them.
		if p, err := vision.LookupProfile(t.Model); err == nil && len(t.Embedding)/4 != p.Dims {
			return refuse(ReasonMalformed, "template %d of model %s has %d values, the model gives %d", i, t.Model, len(t.Embedding)/4, p.Dims)
		}
		var norm float64
		for _, f := range floats(t.Embedding) {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return refuse(ReasonMalformed, "template %d holds a non-finite value", i)
			}
			norm += float64(f) * float64(f)
		}
		if math.Abs(norm-1) > 0.01 {
			return refuse(ReasonMalformed, "template %d is not L2-normalised (|v|^2 = %.3f)", i, norm)
		}
	}
	return nil
}

// sitePerson converts a verified record into what facedb stores.
func (s Signed) sitePerson() facedb.SitePerson {
	p := facedb.SitePerson{
		SiteState: facedb.SiteState{UUID: s.UUID, Version: s.Version, Digest: s.Digest, Deleted: s.Deleted},
		Name:      s.Name, Enabled: s.Enabled, Record: s.Message,
	}
	if s.ValidFrom != nil {
		p.ValidFrom = *s.ValidFrom
	}
	if s.ValidUntil != nil {
		p.ValidUntil = *s.ValidUntil
	}
	for i, t := range s.Templates {
		ft := facedb.Template{Model: t.Model, Embedding: floats(t.Embedding), Quality: t.Quality}
		if i == 0 {
			ft.Thumbnail = s.Thumbnail
		}
		p.Templates = append(p.Templates, ft)
	}
	return p
}

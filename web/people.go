package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig: size check before OpenCV decodes
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

const (
	maxPhotosPerUpload = 20
	maxImagePixels     = 40_000_000 // decoded size guard: 40 MP is 120 MB of BGR
	maxNameLen         = 100
)

// personJSON is a person as /api/people shows it.
type personJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Enabled    bool       `json:"enabled"`
	Status     string     `json:"status"` // active, disabled, not yet valid, expired, no photos
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	Templates  int        `json:"templates"`
	Thumbnail  string     `json:"thumbnail,omitempty"`
}

func toPersonJSON(p facedb.Person, now time.Time) personJSON {
	j := personJSON{ID: p.ID, Name: p.Name, Enabled: p.Enabled, CreatedAt: p.CreatedAt, Templates: p.Templates, Status: personStatus(p, now)}
	if !p.ValidFrom.IsZero() {
		t := p.ValidFrom
		j.ValidFrom = &t
	}
	if !p.ValidUntil.IsZero() {
		t := p.ValidUntil
		j.ValidUntil = &t
	}
	if p.Templates > 0 {
		j.Thumbnail = fmt.Sprintf("/api/people/%d/thumbnail", p.ID)
	}
	return j
}

func personStatus(p facedb.Person, now time.Time) string {
	switch {
	case !p.Enabled:
		return "disabled"
	case !p.ValidFrom.IsZero() && now.Before(p.ValidFrom):
		return "not yet valid"
	case !p.ValidUntil.IsZero() && !now.Before(p.ValidUntil):
		return "expired"
	case p.Templates == 0:
		return "no photos"
	}
	return "active"
}

// photoResult is the verdict on one uploaded photo.
type photoResult struct {
	File    string `json:"file"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"`
}

type uploadResult struct {
	Person *personJSON   `json:"person,omitempty"`
	Error  string        `json:"error,omitempty"`
	Photos []photoResult `json:"photos"`
}

type photo struct {
	file     string
	data     []byte
	tooLarge bool
}

func (s *Server) maxPhotoBytes() int64 {
	return int64(s.cfg.Web.MaxUploadMB * (1 << 20))
}

// Bounds of the form fields of an upload (besides the photos).
const (
	maxUploadFields = 16
	maxFieldBytes   = 4 << 10
)

// errUpload is a client error in the request as a whole.
var errUpload = errors.New("web: bad upload")

// readUpload streams a multipart body: form fields (small) and "image"
// parts, each read up to the per-photo limit and handed to check at once,
// so only one photo is in memory at a time. A photo over the limit is
// passed with tooLarge set, so its error is reported next to it.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, check func(photo)) (map[string]string, error) {
	maxPhoto := s.maxPhotoBytes()
	// Photos are checked one at a time, so the total only bounds how long
	// one request can keep the pipeline busy.
	r.Body = http.MaxBytesReader(w, r.Body, maxPhoto*(maxPhotosPerUpload+1)+(1<<20))
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: expected a multipart/form-data upload", errUpload)
	}
	fields := map[string]string{}
	n, others := 0, 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, fmt.Errorf("%w: the upload is larger than %d MB in total; send fewer photos at once", errUpload, mbe.Limit>>20)
			}
			return nil, fmt.Errorf("%w: reading upload: %v", errUpload, err)
		}
		name := part.FormName()
		if name != "image" {
			// Bounded, so a form of a million tiny fields is refused at
			// once instead of being held in memory.
			if others++; others > maxUploadFields {
				return nil, fmt.Errorf("%w: more than %d form fields besides the photos", errUpload, maxUploadFields)
			}
			if part.FileName() != "" {
				continue
			}
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, fmt.Errorf("%w: reading field %s: %v", errUpload, name, err)
			}
			if len(b) > maxFieldBytes {
				return nil, fmt.Errorf("%w: field %q is longer than %d bytes", errUpload, name, maxFieldBytes)
			}
			fields[name] = string(b)
			continue
		}
		if n >= maxPhotosPerUpload {
			return nil, fmt.Errorf("%w: at most %d photos per upload", errUpload, maxPhotosPerUpload)
		}
		fn := part.FileName()
		if fn == "" {
			fn = fmt.Sprintf("photo %d", n+1)
		}
		b, err := io.ReadAll(io.LimitReader(part, maxPhoto+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, fmt.Errorf("%w: the upload is larger than %d MB in total; send fewer photos at once", errUpload, mbe.Limit>>20)
			}
			return nil, fmt.Errorf("%w: reading %s: %v", errUpload, fn, err)
		}
		p := photo{file: fn, data: b}
		if int64(len(b)) > maxPhoto {
			p = photo{file: fn, tooLarge: true}
		}
		n++
		check(p)
	}
	return fields, nil
}

// photoChecker collects the verdicts on the photos of one upload. forPerson
// is the person the photos are for (0 = a new person), so a match with that
// same person is not a warning.
type photoChecker struct {
	s         *Server
	ctx       context.Context
	forPerson int64
	ts        []facedb.Template
	res       []photoResult
}

func (c *photoChecker) check(p photo) {
	t, pr := c.s.checkPhoto(c.ctx, p, c.forPerson)
	if pr.OK {
		c.ts = append(c.ts, t)
	}
	c.res = append(c.res, pr)
}

func (s *Server) checkPhoto(ctx context.Context, p photo, forPerson int64) (t facedb.Template, res photoResult) {
	defer func(start time.Time) {
		s.metrics.photoSeconds.Observe(time.Since(start).Seconds())
		s.metrics.photos.WithLabelValues(photoOutcome(res)).Inc()
	}(time.Now())
	res = photoResult{File: p.file}
	if p.tooLarge {
		res.Error = fmt.Sprintf("too large: the limit is %g MB per photo", s.cfg.Web.MaxUploadMB)
		return facedb.Template{}, res
	}
	if len(p.data) == 0 {
		res.Error = "empty file"
		return facedb.Template{}, res
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(p.data)); err == nil && cfg.Width*cfg.Height > maxImagePixels {
		res.Error = fmt.Sprintf("too large: %dx%d pixels; use a photo under %d megapixels", cfg.Width, cfg.Height, maxImagePixels/1_000_000)
		return facedb.Template{}, res
	}
	img, err := vision.DecodeImage(p.data)
	if err != nil {
		res.Error = describeEnrolError(err)
		return facedb.Template{}, res
	}
	defer img.Close()
	a, thumb, err := s.deps.Vision.Enrol(img)
	if err != nil {
		res.Error = describeEnrolError(err)
		return facedb.Template{}, res
	}
	res.OK = true
	if w := s.duplicateWarning(ctx, a.Embedding, forPerson); w != "" {
		res.Warning = w
	}
	return facedb.Template{
		Model:     s.deps.Vision.ModelID(),
		Embedding: a.Embedding,
		Quality:   a.Quality.Sharpness,
		Thumbnail: thumb,
	}, res
}

// photoOutcome is the metrics label of a verdict.
func photoOutcome(r photoResult) string {
	switch {
	case r.OK && r.Warning != "":
		return "stored_duplicate_warning"
	case r.OK:
		return "stored"
	}
	return "refused"
}

// describeEnrolError turns a vision error into the message shown next to
// the photo.
func describeEnrolError(err error) string {
	detail := func(sentinel error) string {
		return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
	}
	switch {
	case errors.Is(err, vision.ErrDecode):
		return "not an image, or a damaged one (JPEG or PNG expected)"
	case errors.Is(err, vision.ErrTooSmall):
		return "image too small: " + detail(vision.ErrTooSmall)
	case errors.Is(err, vision.ErrNoFace):
		return "no face found in this photo"
	case errors.Is(err, vision.ErrSeveralFaces):
		return "several faces in this photo (" + detail(vision.ErrSeveralFaces) + "): use a photo of this person alone"
	case errors.Is(err, vision.ErrLowQuality):
		return "face not usable: " + detail(vision.ErrLowQuality)
	}
	return "could not check this photo: " + strings.TrimPrefix(err.Error(), "vision: ")
}

// duplicateWarning names another person this face already matches.
func (s *Server) duplicateWarning(ctx context.Context, emb []float32, forPerson int64) string {
	if !s.cfg.Recognition.DuplicateWarn || len(emb) == 0 {
		return ""
	}
	g, err := s.currentGallery(ctx)
	if err != nil {
		s.log.Warn("duplicate check skipped", "err", err)
		return ""
	}
	m := g.MatchAny(emb)
	if m.PersonID == 0 || float64(m.Score) < s.cfg.Recognition.Threshold {
		return ""
	}
	if m.PersonID == forPerson {
		if m.SecondPersonID == 0 || float64(m.SecondScore) < s.cfg.Recognition.Threshold {
			return ""
		}
		return fmt.Sprintf("this face also matches %s (person %d, score %.2f)", s.personName(ctx, m.SecondPersonID), m.SecondPersonID, m.SecondScore)
	}
	return fmt.Sprintf("this face already matches %s (person %d, score %.2f)", m.Name, m.PersonID, m.Score)
}

func (s *Server) personName(ctx context.Context, id int64) string {
	p, err := s.deps.DB.Person(ctx, id)
	if err != nil {
		return "another person"
	}
	return p.Name
}

// currentGallery reloads the server's copy of the face library when the
// database says it changed.
func (s *Server) currentGallery(ctx context.Context) (*vision.Gallery, error) {
	s.galleryMu.Lock()
	defer s.galleryMu.Unlock()
	rev, err := s.deps.DB.LibraryRevision(ctx)
	if err != nil {
		return nil, err
	}
	if s.gallery != nil && rev == s.galleryRev {
		return s.gallery, nil
	}
	g := vision.NewGallery(s.deps.Vision.ModelID())
	if err := vision.LoadGallery(ctx, s.deps.DB, g); err != nil {
		return nil, err
	}
	s.gallery, s.galleryRev = g, rev
	return g, nil
}

func (s *Server) libraryChanged() {
	if s.deps.OnLibraryChange != nil {
		s.deps.OnLibraryChange()
	}
}

func validName(n string) (string, error) {
	n = strings.TrimSpace(n)
	if n == "" {
		return "", errors.New("a name is required")
	}
	if len([]rune(n)) > maxNameLen {
		return "", fmt.Errorf("the name is longer than %d characters", maxNameLen)
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", errors.New("the name contains control characters")
		}
	}
	return n, nil
}

// ---- handlers ----

func (s *Server) peoplePage(w http.ResponseWriter, r *http.Request) {
	people, err := s.deps.DB.People(r.Context())
	if err != nil {
		s.log.Error("listing people failed", "err", err)
		http.Error(w, "the face library is not available", http.StatusInternalServerError)
		return
	}
	now := time.Now()
	list := make([]personJSON, len(people))
	for i, p := range people {
		list[i] = toPersonJSON(p, now)
	}
	s.render(w, r, http.StatusOK, "people", map[string]any{
		"People":    list,
		"MaxMB":     s.cfg.Web.MaxUploadMB,
		"HasCamera": s.deps.Frames != nil,
		"HasVision": s.deps.Vision != nil,
	})
}

func (s *Server) apiPeople(w http.ResponseWriter, r *http.Request) {
	people, err := s.deps.DB.People(r.Context())
	if err != nil {
		s.log.Error("listing people failed", "err", err)
		writeError(w, http.StatusInternalServerError, "the face library is not available")
		return
	}
	now := time.Now()
	out := make([]personJSON, len(people))
	for i, p := range people {
		out[i] = toPersonJSON(p, now)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pathPerson(w http.ResponseWriter, r *http.Request) (facedb.Person, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "bad person id")
		return facedb.Person{}, false
	}
	p, err := s.deps.DB.Person(r.Context(), id)
	if errors.Is(err, facedb.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no person %d", id))
		return facedb.Person{}, false
	}
	if err != nil {
		s.log.Error("reading person failed", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "the face library is not available")
		return facedb.Person{}, false
	}
	return p, true
}

func (s *Server) apiPerson(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.pathPerson(w, r); ok {
		writeJSON(w, http.StatusOK, toPersonJSON(p, time.Now()))
	}
}

func (s *Server) apiAddPerson(w http.ResponseWriter, r *http.Request) {
	if s.deps.Vision == nil {
		writeError(w, http.StatusServiceUnavailable, "face recognition is not running; photos cannot be checked")
		return
	}
	pc := &photoChecker{s: s, ctx: r.Context()}
	fields, err := s.readUpload(w, r, pc.check)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errUpload.Error()+": "))
		return
	}
	name, err := validName(fields["name"])
	if err != nil {
		writeJSON(w, http.StatusBadRequest, uploadResult{Error: err.Error(), Photos: []photoResult{}})
		return
	}
	if pc.refuseEmpty(w) {
		return
	}
	ts, res := pc.ts, pc.res
	p, err := s.deps.DB.AddPerson(r.Context(), name, ts)
	if err != nil {
		s.log.Error("adding person failed", "name", name, "err", err)
		writeJSON(w, http.StatusInternalServerError, uploadResult{Error: "storing the person failed; nothing was stored", Photos: res})
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_add", fmt.Sprintf("person %d", p.ID), fmt.Sprintf("%s, %d photos", name, len(ts)), true)
	s.log.Info("person enrolled", "id", p.ID, "name", name, "photos", len(ts), "refused", len(res)-len(ts), "user", user)
	s.libraryChanged()
	pj := toPersonJSON(p, time.Now())
	writeJSON(w, http.StatusCreated, uploadResult{Person: &pj, Photos: res})
}

// refuseEmpty answers and returns true when the upload held no photo, or
// none that could be used (each photo's own message is in the answer).
func (pc *photoChecker) refuseEmpty(w http.ResponseWriter) bool {
	switch {
	case len(pc.res) == 0:
		writeJSON(w, http.StatusBadRequest, uploadResult{Error: "add at least one photo", Photos: []photoResult{}})
	case len(pc.ts) == 0:
		writeJSON(w, http.StatusUnprocessableEntity, uploadResult{Error: "no usable photo; nothing was stored", Photos: pc.res})
	default:
		return false
	}
	return true
}

func (s *Server) apiAddPhotos(w http.ResponseWriter, r *http.Request) {
	if s.deps.Vision == nil {
		writeError(w, http.StatusServiceUnavailable, "face recognition is not running; photos cannot be checked")
		return
	}
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	pc := &photoChecker{s: s, ctx: r.Context(), forPerson: p.ID}
	_, err := s.readUpload(w, r, pc.check)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errUpload.Error()+": "))
		return
	}
	if pc.refuseEmpty(w) {
		return
	}
	ts, res := pc.ts, pc.res
	if err := s.deps.DB.AddTemplates(r.Context(), p.ID, ts); err != nil {
		s.log.Error("adding photos failed", "id", p.ID, "err", err)
		writeJSON(w, http.StatusInternalServerError, uploadResult{Error: "storing the photos failed; nothing was stored", Photos: res})
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_photos", fmt.Sprintf("person %d", p.ID), fmt.Sprintf("%d photos added", len(ts)), true)
	s.libraryChanged()
	if np, err := s.deps.DB.Person(r.Context(), p.ID); err == nil {
		p = np
	}
	pj := toPersonJSON(p, time.Now())
	writeJSON(w, http.StatusOK, uploadResult{Person: &pj, Photos: res})
}

func (s *Server) apiDeletePerson(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	if err := s.deps.DB.DeletePerson(r.Context(), p.ID); err != nil {
		s.log.Error("deleting person failed", "id", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "deleting failed")
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_delete", fmt.Sprintf("person %d", p.ID), p.Name, true)
	s.log.Info("person deleted", "id", p.ID, "name", p.Name, "user", user)
	s.libraryChanged()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiSetEnabled(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	on, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "enabled must be true or false")
		return
	}
	if err := s.deps.DB.SetEnabled(r.Context(), p.ID, on); err != nil {
		s.log.Error("enable/disable failed", "id", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "saving failed")
		return
	}
	user, _ := userFrom(r.Context())
	action := "person_disable"
	if on {
		action = "person_enable"
	}
	s.audit(r.Context(), user, action, fmt.Sprintf("person %d", p.ID), p.Name, true)
	s.libraryChanged()
	p.Enabled = on
	writeJSON(w, http.StatusOK, toPersonJSON(p, time.Now()))
}

// parseWhen reads a datetime-local ("2006-01-02T15:04") or date value in
// local time; empty means unbounded.
func parseWhen(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (YYYY-MM-DDTHH:MM)", v)
}

func (s *Server) apiSetValidity(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	from, err := parseWhen(r.PostFormValue("valid_from"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "valid from: "+err.Error())
		return
	}
	until, err := parseWhen(r.PostFormValue("valid_until"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "valid until: "+err.Error())
		return
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		writeError(w, http.StatusBadRequest, "valid until must be after valid from")
		return
	}
	if err := s.deps.DB.SetValidity(r.Context(), p.ID, from, until); err != nil {
		s.log.Error("setting validity failed", "id", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "saving failed")
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_validity", fmt.Sprintf("person %d", p.ID),
		fmt.Sprintf("from %s until %s", fmtWhen(from), fmtWhen(until)), true)
	s.libraryChanged()
	p.ValidFrom, p.ValidUntil = from, until
	writeJSON(w, http.StatusOK, toPersonJSON(p, time.Now()))
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func (s *Server) apiThumbnail(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	b, err := s.deps.DB.PersonThumbnail(r.Context(), p.ID)
	if errors.Is(err, facedb.ErrNotFound) || (err == nil && len(b) == 0) {
		writeError(w, http.StatusNotFound, "no photo")
		return
	}
	if err != nil {
		s.log.Error("reading thumbnail failed", "id", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the photo failed")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Write(b)
}

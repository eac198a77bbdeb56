package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
)

const maxPhotosPerUpload = 20

// personJSON is a person as /api/people shows it.
type personJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Enabled    bool       `json:"enabled"`
	Status     string     `json:"status"` // facedb.Person.Status: active, disabled, not_yet_valid, expired, no_photos
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	Templates  int        `json:"templates"`
	Thumbnail  string     `json:"thumbnail,omitempty"`
}

func toPersonJSON(p facedb.Person, now time.Time) personJSON {
	j := personJSON{ID: p.ID, Name: p.Name, Enabled: p.Enabled, CreatedAt: p.CreatedAt, Templates: p.Templates, Status: p.Status(now)}
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

// photoResult is the verdict on one uploaded photo.
type photoResult struct {
	File    string `json:"file"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"`
}

type uploadResult struct {
	Person  *personJSON   `json:"person,omitempty"`
	Error   string        `json:"error,omitempty"`
	Warning string        `json:"warning,omitempty"` // about the person as a whole (a look-alike name)
	Photos  []photoResult `json:"photos"`
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

// photoChecker checks the photos of one upload as they stream in, through
// the enrolment service (one batch per upload).
type photoChecker struct {
	s     *Server
	ctx   context.Context
	batch *enrol.Batch
	res   []photoResult
}

func (s *Server) newPhotoChecker(ctx context.Context, forPerson int64) *photoChecker {
	return &photoChecker{s: s, ctx: ctx, batch: s.deps.Enrol.NewBatch(forPerson)}
}

func (c *photoChecker) check(p photo) {
	start := time.Now()
	var v enrol.Verdict
	if p.tooLarge {
		v = c.batch.Refuse(p.file, fmt.Errorf("%w: the limit is %g MB per photo", enrol.ErrTooLarge, c.s.cfg.Web.MaxUploadMB))
	} else {
		v = c.batch.Add(c.ctx, enrol.Photo{Name: p.file, Data: p.data})
	}
	res := photoResult{File: v.Photo, OK: v.OK()}
	if !v.OK() {
		res.Error = enrol.Explain(v.Err)
	} else if v.Duplicate != nil {
		res.Warning = "this face " + v.Duplicate.String()
	}
	c.s.metrics.photoSeconds.Observe(time.Since(start).Seconds())
	c.s.metrics.photos.WithLabelValues(photoOutcome(res)).Inc()
	c.res = append(c.res, res)
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

func (s *Server) libraryChanged() {
	if s.deps.OnLibraryChange != nil {
		s.deps.OnLibraryChange()
	}
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
		"HasVision": s.deps.Enrol != nil,
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
	if s.deps.Enrol == nil {
		writeError(w, http.StatusServiceUnavailable, "face recognition is not running; photos cannot be checked")
		return
	}
	pc := s.newPhotoChecker(r.Context(), 0)
	fields, err := s.readUpload(w, r, pc.check)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errUpload.Error()+": "))
		return
	}
	name, err := enrol.CleanName(fields["name"])
	if err != nil {
		writeJSON(w, http.StatusBadRequest, uploadResult{Error: enrol.Explain(err), Photos: []photoResult{}})
		return
	}
	if pc.refuseEmpty(w) {
		return
	}
	res, stored := pc.res, pc.batch.Accepted()
	warning := s.deps.Enrol.NameWarning(r.Context(), name)
	p, err := pc.batch.CreatePerson(r.Context(), name)
	if err != nil {
		s.log.Error("adding person failed", "name", name, "err", err)
		writeJSON(w, http.StatusInternalServerError, uploadResult{Error: "storing the person failed; nothing was stored", Photos: res})
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_add", fmt.Sprintf("person %d", p.ID), fmt.Sprintf("%s, %d photos", name, stored), true)
	s.log.Info("person enrolled", "id", p.ID, "name", name, "photos", stored, "refused", len(res)-stored, "user", user)
	s.libraryChanged()
	pj := toPersonJSON(p, time.Now())
	writeJSON(w, http.StatusCreated, uploadResult{Person: &pj, Warning: warning, Photos: res})
}

// refuseEmpty answers and returns true when the upload held no photo, or
// none that could be used (each photo's own message is in the answer).
func (pc *photoChecker) refuseEmpty(w http.ResponseWriter) bool {
	switch {
	case len(pc.res) == 0:
		writeJSON(w, http.StatusBadRequest, uploadResult{Error: "add at least one photo", Photos: []photoResult{}})
	case pc.batch.Accepted() == 0:
		writeJSON(w, http.StatusUnprocessableEntity, uploadResult{Error: "no usable photo; nothing was stored", Photos: pc.res})
	default:
		return false
	}
	return true
}

func (s *Server) apiAddPhotos(w http.ResponseWriter, r *http.Request) {
	if s.deps.Enrol == nil {
		writeError(w, http.StatusServiceUnavailable, "face recognition is not running; photos cannot be checked")
		return
	}
	p, ok := s.pathPerson(w, r)
	if !ok {
		return
	}
	pc := s.newPhotoChecker(r.Context(), p.ID)
	_, err := s.readUpload(w, r, pc.check)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errUpload.Error()+": "))
		return
	}
	if pc.refuseEmpty(w) {
		return
	}
	res, stored := pc.res, pc.batch.Accepted()
	if err := pc.batch.AddToPerson(r.Context()); err != nil {
		s.log.Error("adding photos failed", "id", p.ID, "err", err)
		writeJSON(w, http.StatusInternalServerError, uploadResult{Error: "storing the photos failed; nothing was stored", Photos: res})
		return
	}
	user, _ := userFrom(r.Context())
	s.audit(r.Context(), user, "person_photos", fmt.Sprintf("person %d", p.ID), fmt.Sprintf("%d photos added", stored), true)
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

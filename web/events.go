package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

const (
	defaultEventLimit = 200
	maxEventLimit     = 5000
	maxCSVRows        = 1_000_000
)

// eventJSON is one entry of /api/events: the MQTT payload fields plus kind
// and a snapshot URL.
type eventJSON struct {
	ID       string         `json:"id"`
	Seq      int64          `json:"seq"`
	TS       time.Time      `json:"ts"`
	Kind     string         `json:"kind"`
	Type     string         `json:"type"`
	PersonID int64          `json:"person_id,omitempty"`
	Name     string         `json:"name,omitempty"`
	Score    float64        `json:"score,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Source   string         `json:"source,omitempty"`
	Detail   map[string]any `json:"detail,omitempty"`
	Snapshot string         `json:"snapshot,omitempty"` // URL under /api/snapshots/
}

// eventQuery is the entry log filter as the page and the API read it from
// the query string: limit, person, type, kind, from, to (YYYY-MM-DD,
// inclusive, local time).
type eventQuery struct {
	Limit    int
	PersonID int64
	Type     string
	Kind     string
	From, To string
}

func parseEventQuery(q url.Values, defLimit, maxLimit int) (eventQuery, facedb.EventFilter, error) {
	eq := eventQuery{Limit: defLimit, Type: q.Get("type"), Kind: q.Get("kind"), From: q.Get("from"), To: q.Get("to")}
	f := facedb.EventFilter{Limit: defLimit, Type: eq.Type, Kind: eq.Kind}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return eq, f, fmt.Errorf("limit must be a positive number")
		}
		eq.Limit = min(n, maxLimit)
		f.Limit = eq.Limit
	}
	if v := q.Get("person"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 0 {
			return eq, f, fmt.Errorf("person must be a person id")
		}
		eq.PersonID, f.PersonID = id, id
	}
	if eq.Kind != "" && eq.Kind != event.KindEvent && eq.Kind != event.KindAlarm {
		return eq, f, fmt.Errorf("kind must be event or alarm")
	}
	if eq.From != "" {
		t, err := time.ParseInLocation("2006-01-02", eq.From, time.Local)
		if err != nil {
			return eq, f, fmt.Errorf("from must be a date (YYYY-MM-DD)")
		}
		f.Since = t
	}
	if eq.To != "" {
		t, err := time.ParseInLocation("2006-01-02", eq.To, time.Local)
		if err != nil {
			return eq, f, fmt.Errorf("to must be a date (YYYY-MM-DD)")
		}
		f.Until = t.AddDate(0, 0, 1) // the whole day
	}
	return eq, f, nil
}

func (s *Server) toEventJSON(r facedb.Record) eventJSON {
	return eventJSON{ID: r.ID, Seq: r.Seq, TS: r.TS, Kind: r.Kind, Type: r.Type, PersonID: r.PersonID, Name: r.Name,
		Score: r.Score, Reason: r.Reason, Source: r.Source, Detail: r.Detail, Snapshot: s.snapshotURL(r.Snapshot)}
}

// snapshotURL maps a snapshot file path to its URL, or "" when the file is
// not inside the snapshot folder.
func (s *Server) snapshotURL(path string) string {
	if path == "" {
		return ""
	}
	rel, ok := s.snapshotRel(path)
	if !ok {
		return ""
	}
	return "/api/snapshots/" + (&url.URL{Path: filepath.ToSlash(rel)}).EscapedPath()
}

func (s *Server) snapshotRel(path string) (string, bool) {
	dir, err1 := filepath.Abs(s.cfg.SnapshotDir())
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." {
		return "", false
	}
	return rel, true
}

type eventRow struct {
	eventJSON
	Alarm bool
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request) {
	eq, f, err := parseEventQuery(r.URL.Query(), defaultEventLimit, maxEventLimit)
	data := map[string]any{"Q": eq, "EventTypes": event.Types(event.KindEvent), "AlarmTypes": event.Types(event.KindAlarm)}
	if err != nil {
		data["Error"] = err.Error()
		f = facedb.EventFilter{Limit: defaultEventLimit}
	}
	recs, err := s.deps.DB.Events(r.Context(), f)
	if err != nil {
		s.log.Error("reading events failed", "err", err)
		http.Error(w, "the entry log is not available", http.StatusInternalServerError)
		return
	}
	people, err := s.deps.DB.People(r.Context())
	if err != nil {
		s.log.Error("listing people failed", "err", err)
	}
	rows := make([]eventRow, len(recs))
	for i, rec := range recs {
		rows[i] = eventRow{eventJSON: s.toEventJSON(rec), Alarm: rec.Kind == event.KindAlarm}
	}
	csvURL := "/api/events.csv"
	if q := r.URL.Query(); len(q) > 0 {
		q.Del("limit")
		csvURL += "?" + q.Encode()
	}
	data["Events"] = rows
	data["People"] = people
	data["CSVURL"] = csvURL
	s.render(w, r, http.StatusOK, "events", data)
}

// queryEvents reads the events the request's filter selects; on a bad
// filter or a database error it has answered and returns false.
func (s *Server) queryEvents(w http.ResponseWriter, r *http.Request, def, max int) ([]facedb.Record, bool) {
	_, f, err := parseEventQuery(r.URL.Query(), def, max)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	recs, err := s.deps.DB.Events(r.Context(), f)
	if err != nil {
		s.log.Error("reading events failed", "err", err)
		writeError(w, http.StatusInternalServerError, "the entry log is not available")
		return nil, false
	}
	return recs, true
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	recs, ok := s.queryEvents(w, r, defaultEventLimit, maxEventLimit)
	if !ok {
		return
	}
	out := make([]eventJSON, len(recs))
	for i, rec := range recs {
		out[i] = s.toEventJSON(rec)
	}
	writeJSON(w, http.StatusOK, out)
}

// csvSafe stops spreadsheet programs from running a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) apiEventsCSV(w http.ResponseWriter, r *http.Request) {
	recs, ok := s.queryEvents(w, r, maxCSVRows, maxCSVRows)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="facegate-%s-events-%s.csv"`,
		s.cfg.DeviceID, time.Now().Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"ts", "kind", "type", "person_id", "name", "score", "reason", "source", "seq", "id", "snapshot"})
	for _, rec := range recs {
		pid, score := "", ""
		if rec.PersonID != 0 {
			pid = strconv.FormatInt(rec.PersonID, 10)
		}
		if rec.Score != 0 {
			score = strconv.FormatFloat(rec.Score, 'f', 3, 64)
		}
		cw.Write([]string{event.Stamp(rec.TS), rec.Kind, csvSafe(rec.Type), pid, csvSafe(rec.Name), score,
			csvSafe(rec.Reason), csvSafe(rec.Source), strconv.FormatInt(rec.Seq, 10), rec.ID, csvSafe(rec.Snapshot)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Debug("csv export interrupted", "err", err)
	}
}

// apiSnapshot serves a snapshot JPEG from the snapshot folder only
// (os.Root refuses paths that escape it).
func (s *Server) apiSnapshot(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	root, err := os.OpenRoot(s.cfg.SnapshotDir())
	if err != nil {
		writeError(w, http.StatusNotFound, "no snapshots")
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such snapshot")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		writeError(w, http.StatusNotFound, "no such snapshot")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

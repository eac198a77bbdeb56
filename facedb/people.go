package facedb

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Person is one enrolled identity.
type Person struct {
	ID         int64
	Name       string
	Enabled    bool
	ValidFrom  time.Time // zero = unbounded
	ValidUntil time.Time // zero = unbounded
	CreatedAt  time.Time
	Templates  int // number of face templates
}

// Why a known person may not enter: the reason of an access_denied event,
// and the status the web page and facegate people show.
const (
	DenyDisabled    = "disabled"
	DenyNotYetValid = "not_yet_valid"
	DenyExpired     = "expired"
)

// MayEnter is the one validity rule: whether the person may enter at t
// (enabled, and t inside [ValidFrom, ValidUntil)), and when not, why
// (DenyDisabled, DenyNotYetValid or DenyExpired).
func (p Person) MayEnter(t time.Time) (ok bool, why string) {
	switch {
	case !p.Enabled:
		return false, DenyDisabled
	case !p.ValidFrom.IsZero() && t.Before(p.ValidFrom):
		return false, DenyNotYetValid
	case !p.ValidUntil.IsZero() && !t.Before(p.ValidUntil):
		return false, DenyExpired
	}
	return true, ""
}

// Status is how the person stands at t: "active", the reason MayEnter gives,
// or "no_photos" for someone who may enter but has no face template.
func (p Person) Status(t time.Time) string {
	if ok, why := p.MayEnter(t); !ok {
		return why
	}
	if p.Templates == 0 {
		return "no_photos"
	}
	return "active"
}

// Template is one face embedding of a person.
type Template struct {
	ID        int64
	PersonID  int64
	Model     string
	Embedding []float32
	Quality   float64
	Thumbnail []byte // JPEG; input of AddPerson/AddTemplates, not returned by Templates
	CreatedAt time.Time
}

func encodeEmbedding(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeEmbedding(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("facedb: embedding blob of %d bytes", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// AddPerson creates a person with its templates in one transaction: either
// all are stored or nothing is.
func (db *DB) AddPerson(ctx context.Context, name string, ts []Template) (Person, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Person{}, errors.New("facedb: a person needs a name")
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return Person{}, fmt.Errorf("facedb: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	now := time.Now().UTC()
	res, err := tx.ExecContext(ctx, "INSERT INTO people (name, enabled, created_at) VALUES (?, 1, ?)", name, ms(now))
	if err != nil {
		return Person{}, fmt.Errorf("facedb: add person %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	if err := insertTemplates(ctx, tx, id, ts, now); err != nil {
		return Person{}, err
	}
	if err := tx.Commit(); err != nil {
		return Person{}, fmt.Errorf("facedb: add person %q: %w", name, err)
	}
	return Person{ID: id, Name: name, Enabled: true, CreatedAt: fromMS(ms(now)), Templates: len(ts)}, nil
}

// AddTemplates adds face templates to an existing person in one transaction.
func (db *DB) AddTemplates(ctx context.Context, personID int64, ts []Template) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("facedb: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT 1 FROM people WHERE id = ?", personID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: person %d", ErrNotFound, personID)
		}
		return fmt.Errorf("facedb: %w", err)
	}
	if err := insertTemplates(ctx, tx, personID, ts, time.Now().UTC()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("facedb: add templates: %w", err)
	}
	return nil
}

func insertTemplates(ctx context.Context, tx *sql.Tx, personID int64, ts []Template, now time.Time) error {
	for i, t := range ts {
		if t.Model == "" || len(t.Embedding) == 0 {
			return fmt.Errorf("facedb: template %d has no model or embedding", i)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO templates (person_id, model, embedding, quality, thumbnail, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			personID, t.Model, encodeEmbedding(t.Embedding), t.Quality, t.Thumbnail, ms(now)); err != nil {
			return fmt.Errorf("facedb: add template: %w", err)
		}
	}
	return nil
}

const personCols = `p.id, p.name, p.enabled, p.valid_from, p.valid_until, p.created_at,
	(SELECT count(*) FROM templates t WHERE t.person_id = p.id)`

func scanPerson(sc interface{ Scan(...any) error }) (Person, error) {
	var p Person
	var from, until sql.NullInt64
	var created int64
	if err := sc.Scan(&p.ID, &p.Name, &p.Enabled, &from, &until, &created, &p.Templates); err != nil {
		return p, err
	}
	p.ValidFrom, p.ValidUntil, p.CreatedAt = fromNullMS(from), fromNullMS(until), fromMS(created)
	return p, nil
}

// Person returns one person.
func (db *DB) Person(ctx context.Context, id int64) (Person, error) {
	p, err := scanPerson(db.sql.QueryRowContext(ctx, "SELECT "+personCols+" FROM people p WHERE p.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: person %d", ErrNotFound, id)
	}
	if err != nil {
		return p, fmt.Errorf("facedb: person %d: %w", id, err)
	}
	return p, nil
}

// People returns everyone, ordered by name.
func (db *DB) People(ctx context.Context) ([]Person, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+personCols+" FROM people p ORDER BY p.name COLLATE NOCASE, p.id")
	if err != nil {
		return nil, fmt.Errorf("facedb: people: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, fmt.Errorf("facedb: people: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (db *DB) updatePerson(ctx context.Context, id int64, query string, args ...any) error {
	res, err := db.sql.ExecContext(ctx, query, append(args, id)...)
	if err != nil {
		return fmt.Errorf("facedb: update person %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: person %d", ErrNotFound, id)
	}
	return nil
}

// SetEnabled enables or disables a person.
func (db *DB) SetEnabled(ctx context.Context, id int64, on bool) error {
	return db.updatePerson(ctx, id, "UPDATE people SET enabled = ? WHERE id = ?", on)
}

// SetValidity sets the period in which a person may enter (zero = unbounded).
func (db *DB) SetValidity(ctx context.Context, id int64, from, until time.Time) error {
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return fmt.Errorf("facedb: valid until %s is not after valid from %s", until.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return db.updatePerson(ctx, id, "UPDATE people SET valid_from = ?, valid_until = ? WHERE id = ?", nullMS(from), nullMS(until))
}

// DeletePerson removes a person with all templates and thumbnails.
func (db *DB) DeletePerson(ctx context.Context, id int64) error {
	return db.updatePerson(ctx, id, "DELETE FROM people WHERE id = ?")
}

// Templates returns every template of model (people enabled or not),
// without thumbnails.
func (db *DB) Templates(ctx context.Context, model string) ([]Template, error) {
	rows, err := db.sql.QueryContext(ctx,
		"SELECT id, person_id, model, embedding, quality, created_at FROM templates WHERE model = ? ORDER BY id", model)
	if err != nil {
		return nil, fmt.Errorf("facedb: templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		var t Template
		var blob []byte
		var created int64
		if err := rows.Scan(&t.ID, &t.PersonID, &t.Model, &blob, &t.Quality, &created); err != nil {
			return nil, fmt.Errorf("facedb: templates: %w", err)
		}
		if t.Embedding, err = decodeEmbedding(blob); err != nil {
			return nil, err
		}
		t.CreatedAt = fromMS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// PersonThumbnail returns the JPEG thumbnail of the person's newest template.
func (db *DB) PersonThumbnail(ctx context.Context, personID int64) ([]byte, error) {
	var b []byte
	err := db.sql.QueryRowContext(ctx,
		"SELECT thumbnail FROM templates WHERE person_id = ? AND thumbnail IS NOT NULL ORDER BY id DESC LIMIT 1", personID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: thumbnail of person %d", ErrNotFound, personID)
	}
	if err != nil {
		return nil, fmt.Errorf("facedb: thumbnail: %w", err)
	}
	return b, nil
}

// LibraryRevision changes whenever people or templates change, from any
// process using the file.
func (db *DB) LibraryRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := db.sql.QueryRowContext(ctx, "SELECT rev FROM library_rev WHERE id = 1").Scan(&rev); err != nil {
		return 0, fmt.Errorf("facedb: library revision: %w", err)
	}
	return rev, nil
}

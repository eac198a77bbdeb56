package facedb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SiteState is what the door last applied for one site person (package
// site decides with it whether an incoming record is newer).
type SiteState struct {
	UUID     string
	Version  int64
	Digest   []byte
	Deleted  bool
	PersonID int64 // 0 for a tombstone or a person deleted locally
}

// Newer reports whether a record with version v and digest d wins over s:
// the higher version wins, and between equal versions the higher digest
// (a deterministic tie-break every door computes alike).
func (s SiteState) Newer(v int64, d []byte) bool {
	if v != s.Version {
		return v > s.Version
	}
	return bytes.Compare(d, s.Digest) > 0
}

// SitePerson is one verified site record to apply.
type SitePerson struct {
	SiteState
	Name       string
	Enabled    bool
	ValidFrom  time.Time
	ValidUntil time.Time
	Templates  []Template // every model's; only the door's model is matched
	Record     []byte     // the signed message, kept as received
}

// SiteStates returns the applied state of every site person, by uuid.
func (db *DB) SiteStates(ctx context.Context) (map[string]SiteState, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT uuid, version, digest, deleted, person_id FROM site_people")
	if err != nil {
		return nil, fmt.Errorf("facedb: site states: %w", err)
	}
	defer rows.Close()
	out := map[string]SiteState{}
	for rows.Next() {
		var s SiteState
		var pid sql.NullInt64
		if err := rows.Scan(&s.UUID, &s.Version, &s.Digest, &s.Deleted, &pid); err != nil {
			return nil, fmt.Errorf("facedb: site states: %w", err)
		}
		s.PersonID = pid.Int64
		out[s.UUID] = s
	}
	return out, rows.Err()
}

// ApplySitePeople applies site records in ONE transaction, so a burst of
// records changes the library revision once and the camera loop reloads its
// gallery once. A record that is not newer than the stored one is skipped
// (package site has already refused it; this is the guard). It returns the
// states now stored for the applied records.
func (db *DB) ApplySitePeople(ctx context.Context, ps []SitePerson) ([]SiteState, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("facedb: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	now := time.Now().UTC()
	var out []SiteState
	for _, p := range ps {
		s, err := applySitePerson(ctx, tx, p, now)
		if err != nil {
			return nil, fmt.Errorf("facedb: apply site person %s: %w", p.UUID, err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("facedb: apply site people: %w", err)
	}
	return out, nil
}

func applySitePerson(ctx context.Context, tx *sql.Tx, p SitePerson, now time.Time) (*SiteState, error) {
	var cur SiteState
	var pid sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT version, digest, person_id FROM site_people WHERE uuid = ?", p.UUID).
		Scan(&cur.Version, &cur.Digest, &pid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case !cur.Newer(p.Version, p.Digest):
		return nil, nil
	}
	personID := pid.Int64
	name := strings.TrimSpace(p.Name)
	switch {
	case p.Deleted:
		if personID != 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM people WHERE id = ?", personID); err != nil {
				return nil, err
			}
		}
		personID = 0
	case personID != 0:
		if _, err := tx.ExecContext(ctx, "UPDATE people SET name = ?, enabled = ?, valid_from = ?, valid_until = ? WHERE id = ?",
			name, p.Enabled, nullMS(p.ValidFrom), nullMS(p.ValidUntil), personID); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM templates WHERE person_id = ?", personID); err != nil {
			return nil, err
		}
	default:
		res, err := tx.ExecContext(ctx, "INSERT INTO people (name, enabled, valid_from, valid_until, created_at) VALUES (?, ?, ?, ?, ?)",
			name, p.Enabled, nullMS(p.ValidFrom), nullMS(p.ValidUntil), ms(now))
		if err != nil {
			return nil, err
		}
		personID, _ = res.LastInsertId()
	}
	if personID != 0 {
		if err := insertTemplates(ctx, tx, personID, p.Templates, now); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO site_people (uuid, version, digest, deleted, person_id, record, applied_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (uuid) DO UPDATE SET version = excluded.version, digest = excluded.digest, deleted = excluded.deleted,
			person_id = excluded.person_id, record = excluded.record, applied_at = excluded.applied_at`,
		p.UUID, p.Version, p.Digest, p.Deleted, sql.NullInt64{Int64: personID, Valid: personID != 0}, p.Record, ms(now)); err != nil {
		return nil, err
	}
	s := p.SiteState
	s.PersonID = personID
	return &s, nil
}

// SiteUUID returns the site uuid of a local person ("" for a person
// enrolled at this door only).
func (db *DB) SiteUUID(ctx context.Context, personID int64) (string, error) {
	var u string
	err := db.sql.QueryRowContext(ctx, "SELECT uuid FROM site_people WHERE person_id = ?", personID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("facedb: site uuid of person %d: %w", personID, err)
	}
	return u, nil
}

// SiteRecord returns the signed message of the applied record of uuid.
func (db *DB) SiteRecord(ctx context.Context, uuid string) ([]byte, error) {
	var b []byte
	err := db.sql.QueryRowContext(ctx, "SELECT record FROM site_people WHERE uuid = ?", uuid).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: site person %s", ErrNotFound, uuid)
	}
	if err != nil {
		return nil, fmt.Errorf("facedb: site record %s: %w", uuid, err)
	}
	return b, nil
}

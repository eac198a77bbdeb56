package facedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetUserPassword creates or updates a web user with a password hash. A
// changed password ends all of the user's web sessions (a trigger of the
// schema, so it holds whichever process changes it).
func (db *DB) SetUserPassword(ctx context.Context, user, hash string) error {
	if user == "" || hash == "" {
		return errors.New("facedb: user and hash must not be empty")
	}
	now := ms(time.Now())
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO users (name, hash, created_at, updated_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`, user, hash, now, now)
	if err != nil {
		return fmt.Errorf("facedb: set password of %q: %w", user, err)
	}
	return nil
}

// UserHash returns the stored password hash of a web user.
func (db *DB) UserHash(ctx context.Context, user string) (string, error) {
	var h string
	err := db.sql.QueryRowContext(ctx, "SELECT hash FROM users WHERE name = ?", user).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: user %q", ErrNotFound, user)
	}
	if err != nil {
		return "", fmt.Errorf("facedb: user %q: %w", user, err)
	}
	return h, nil
}

// UserCount returns the number of web users.
func (db *DB) UserCount(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("facedb: users: %w", err)
	}
	return n, nil
}

// UseNonce records a command nonce. fresh is false when the nonce was already
// used within window before now (a replay). Nonces older than window are
// forgotten: a command that old is refused as expired anyway.
func (db *DB) UseNonce(ctx context.Context, nonce string, now time.Time, window time.Duration) (fresh bool, err error) {
	if nonce == "" {
		return false, errors.New("facedb: empty nonce")
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("facedb: nonce: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, "DELETE FROM nonces WHERE ts < ?", ms(now.Add(-2*window))); err != nil {
		return false, fmt.Errorf("facedb: nonce: %w", err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO nonces (nonce, ts) VALUES (?, ?) ON CONFLICT(nonce) DO NOTHING", nonce, ms(now))
	if err != nil {
		return false, fmt.Errorf("facedb: nonce: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("facedb: nonce: %w", err)
	}
	return n == 1, nil
}

// AuditEntry is one line of the audit log: who did what to what.
type AuditEntry struct {
	ID     int64
	TS     time.Time
	Actor  string
	Action string
	Target string
	Detail string
	OK     bool
}

// Audit appends to the audit log.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	if e.TS.IsZero() {
		e.TS = time.Now()
	}
	if e.Actor == "" {
		e.Actor = "system"
	}
	return db.write(pendingWrite{audit: &e})
}

func (db *DB) insertAudit(e *AuditEntry) error {
	if _, err := db.sql.ExecContext(context.Background(),
		"INSERT INTO audit (ts, actor, action, target, detail, ok) VALUES (?, ?, ?, ?, ?, ?)",
		ms(e.TS), e.Actor, e.Action, e.Target, e.Detail, e.OK); err != nil {
		return fmt.Errorf("facedb: audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog returns the newest audit entries first.
func (db *DB) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT id, ts, actor, action, target, detail, ok FROM audit ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("facedb: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.OK); err != nil {
			return nil, fmt.Errorf("facedb: audit log: %w", err)
		}
		e.TS = fromMS(ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

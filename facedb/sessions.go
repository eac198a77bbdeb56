package facedb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is one web login, found by the SHA-256 of its cookie token.
type Session struct {
	User    string
	Created time.Time
	Expires time.Time
}

// CreateSession stores a session under the hash of its token and forgets
// sessions that expired before now.
func (db *DB) CreateSession(ctx context.Context, tokenHash []byte, user string, now, expires time.Time) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("facedb: create session: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", ms(now)); err != nil {
		return fmt.Errorf("facedb: create session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO sessions (token_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)",
		tokenHash, user, ms(now), ms(expires)); err != nil {
		return fmt.Errorf("facedb: create session of %q: %w", user, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("facedb: create session: %w", err)
	}
	return nil
}

// SessionByHash returns the session whose token hashes to tokenHash. A
// session that has expired at now is deleted and reported as ErrNotFound,
// as is one that does not exist (or was ended by a password change).
func (db *DB) SessionByHash(ctx context.Context, tokenHash []byte, now time.Time) (Session, error) {
	var s Session
	var created, expires int64
	err := db.sql.QueryRowContext(ctx, "SELECT user, created_at, expires_at FROM sessions WHERE token_hash = ?", tokenHash).
		Scan(&s.User, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("%w: session", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("facedb: session: %w", err)
	}
	s.Created, s.Expires = fromMS(created), fromMS(expires)
	if !now.Before(s.Expires) {
		if err := db.DeleteSession(ctx, tokenHash); err != nil {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("%w: session expired", ErrNotFound)
	}
	return s, nil
}

// DeleteSession ends one session (logout).
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := db.sql.ExecContext(context.WithoutCancel(ctx), "DELETE FROM sessions WHERE token_hash = ?", tokenHash); err != nil {
		return fmt.Errorf("facedb: delete session: %w", err)
	}
	return nil
}

// Secret returns the random value stored under name, creating one of size
// bytes on first use.
func (db *DB) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	b := make([]byte, size)
	rand.Read(b)
	if _, err := db.sql.ExecContext(ctx, "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
		name, b, ms(time.Now())); err != nil {
		return nil, fmt.Errorf("facedb: secret %s: %w", name, err)
	}
	var v []byte
	if err := db.sql.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("facedb: secret %s: %w", name, err)
	}
	return v, nil
}

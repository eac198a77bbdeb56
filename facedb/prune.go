package facedb

import (
	"context"
	"fmt"
	"time"
)

// PruneAudit deletes audit log entries older than before; it returns how
// many it removed.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, "DELETE FROM audit WHERE ts < ?", ms(before))
	if err != nil {
		return 0, fmt.Errorf("facedb: prune audit: %w", err)
	}
	return res.RowsAffected()
}

// PruneNonces deletes command nonces used before before (a nonce only has to
// be remembered while a command carrying it could still be accepted).
func (db *DB) PruneNonces(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, "DELETE FROM nonces WHERE ts < ?", ms(before))
	if err != nil {
		return 0, fmt.Errorf("facedb: prune nonces: %w", err)
	}
	return res.RowsAffected()
}

package facedb

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MarkAcked records the PUBACK of published messages: they wait for their
// echo (MarkDelivered) and are not published again on this connection. A
// parked row that is acknowledged is no longer parked.
func (db *DB) MarkAcked(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	now := ms(time.Now())
	return db.inTx(ctx, "mark acknowledged", func(tx *sql.Tx) error {
		for _, seq := range seqs {
			if _, err := tx.ExecContext(ctx,
				"UPDATE outbox SET acked_at = ?, parked_at = NULL, retry_at = NULL WHERE seq = ? AND sent_at IS NULL", now, seq); err != nil {
				return err
			}
		}
		return nil
	})
}

// Echo is one of the device's own messages seen back from the broker.
type Echo struct {
	Seq     int64
	Payload []byte
}

// MarkDelivered marks the outbox rows whose exact payload came back as
// delivered, and returns how many matched (an echo of a row already
// delivered, or of a payload the device did not publish, matches none).
func (db *DB) MarkDelivered(ctx context.Context, echoes []Echo) (int, error) {
	now := ms(time.Now())
	n := 0
	err := db.inTx(ctx, "mark delivered", func(tx *sql.Tx) error {
		for _, e := range echoes {
			res, err := tx.ExecContext(ctx,
				`UPDATE outbox SET sent_at = ?, acked_at = COALESCE(acked_at, ?), unconfirmed_at = NULL, parked_at = NULL, retry_at = NULL
				 WHERE seq = ? AND payload = ? AND sent_at IS NULL`, now, now, e.Seq, e.Payload)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// NoteFailure counts one failed publish of seq (it was the first message the
// broker did not acknowledge) and returns its failures so far.
func (db *DB) NoteFailure(ctx context.Context, seq int64) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ? RETURNING attempts", seq).Scan(&n); err != nil {
		return 0, fmt.Errorf("facedb: note failure of %d: %w", seq, err)
	}
	return n, nil
}

// Park sets a repeatedly refused row aside until retryAt: the rows behind it
// are published meanwhile. It reports whether the row was not parked before.
func (db *DB) Park(ctx context.Context, seq int64, retryAt time.Time) (bool, error) {
	var was sql.NullInt64
	err := db.inTx(ctx, fmt.Sprintf("park %d", seq), func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT parked_at FROM outbox WHERE seq = ?", seq).Scan(&was); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE outbox SET parked_at = COALESCE(parked_at, ?), retry_at = ? WHERE seq = ? AND sent_at IS NULL",
			ms(time.Now()), ms(retryAt), seq)
		return err
	})
	return err == nil && !was.Valid, err
}

// FlagUnconfirmed flags rows acknowledged before ackedBefore and still not
// delivered, and returns the seqs it newly flagged.
func (db *DB) FlagUnconfirmed(ctx context.Context, ackedBefore time.Time) ([]int64, error) {
	rows, err := db.sql.QueryContext(ctx,
		`UPDATE outbox SET unconfirmed_at = ? WHERE sent_at IS NULL AND unconfirmed_at IS NULL AND acked_at IS NOT NULL AND acked_at < ?
		 RETURNING seq`, ms(time.Now()), ms(ackedBefore))
	if err != nil {
		return nil, fmt.Errorf("facedb: flag unconfirmed: %w", err)
	}
	defer rows.Close()
	var seqs []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("facedb: flag unconfirmed: %w", err)
		}
		seqs = append(seqs, s)
	}
	return seqs, rows.Err()
}

// RequeueAcked makes acknowledged but undelivered rows pending again, so they
// are published once more (after a reconnect: their echo may have been lost
// with the old connection). They keep their unconfirmed flag.
func (db *DB) RequeueAcked(ctx context.Context) (int64, error) {
	res, err := db.sql.ExecContext(ctx, "UPDATE outbox SET acked_at = NULL WHERE sent_at IS NULL AND acked_at IS NOT NULL")
	if err != nil {
		return 0, fmt.Errorf("facedb: requeue acknowledged: %w", err)
	}
	return res.RowsAffected()
}

// DeliveryStats counts the undelivered rows by state.
type DeliveryStats struct {
	Acked       int     // acknowledged, waiting for the echo
	Unconfirmed int     // flagged: acknowledged but never seen back
	Parked      int     // set aside after repeated refusals
	ParkedSeqs  []int64 // the lowest parked seqs (at most 20)
}

// DeliveryStats returns the delivery state counts of the outbox.
func (db *DB) DeliveryStats(ctx context.Context) (DeliveryStats, error) {
	var s DeliveryStats
	if err := db.sql.QueryRowContext(ctx,
		`SELECT count(acked_at), count(unconfirmed_at), count(parked_at) FROM outbox WHERE sent_at IS NULL`).
		Scan(&s.Acked, &s.Unconfirmed, &s.Parked); err != nil {
		return s, fmt.Errorf("facedb: delivery stats: %w", err)
	}
	if s.Parked == 0 {
		return s, nil
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT seq FROM outbox WHERE sent_at IS NULL AND parked_at IS NOT NULL ORDER BY seq LIMIT 20")
	if err != nil {
		return s, fmt.Errorf("facedb: delivery stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return s, fmt.Errorf("facedb: delivery stats: %w", err)
		}
		s.ParkedSeqs = append(s.ParkedSeqs, seq)
	}
	return s, rows.Err()
}

// inTx runs f in one write transaction that the caller's cancellation does
// not abort half-way (what it records already happened).
func (db *DB) inTx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("facedb: %s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck
	if err := f(tx); err != nil {
		return fmt.Errorf("facedb: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("facedb: %s: commit: %w", what, err)
	}
	return nil
}

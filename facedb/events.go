package facedb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/facegate/facegate/event"
)

// Record is one access event or alarm.
type Record struct {
	Kind     string // event.KindEvent or event.KindAlarm
	ID       string // ULID, set by Record
	Seq      int64  // per-device counter, set by Record
	TS       time.Time
	Type     string // one of the event catalogue (package event)
	PersonID int64
	Name     string
	Score    float64
	Reason   string
	Source   string         // what caused it: one of the event.Source* names
	Detail   map[string]any // extra JSON fields
	Snapshot string         // snapshot JPEG path or ""
}

// Fields returns the payload fields of the record: the MQTT JSON object.
func (r Record) Fields() map[string]any {
	m := make(map[string]any, 8+len(r.Detail))
	for k, v := range r.Detail {
		m[k] = v
	}
	m["id"] = r.ID
	m["seq"] = r.Seq
	m["ts"] = event.Stamp(r.TS)
	m["type"] = r.Type
	if r.PersonID != 0 {
		m["person_id"] = r.PersonID
	}
	if r.Name != "" {
		m["name"] = r.Name
	}
	if r.Score != 0 || r.Type == event.AccessGranted {
		m["score"] = float64(int64(r.Score*10000+0.5)) / 10000
	}
	if r.Reason != "" {
		m["reason"] = r.Reason
	}
	if r.Source != "" {
		m["source"] = r.Source
	}
	return m
}

// Payload is the JSON published on P/events or P/alarms.
func (r Record) Payload() []byte {
	b, err := json.Marshal(r.Fields())
	if err != nil { // only unsupported Detail values can fail
		b, _ = json.Marshal(map[string]any{"id": r.ID, "seq": r.Seq, "ts": event.Stamp(r.TS), "type": r.Type})
	}
	return b
}

// Record stores an event or alarm and queues its payload in the outbox, in
// one durable transaction, assigning its id, seq and (if zero) timestamp.
func (db *DB) Record(ctx context.Context, r Record) (Record, error) {
	if r.Kind != event.KindEvent && r.Kind != event.KindAlarm {
		return r, fmt.Errorf("facedb: record kind %q is not event or alarm", r.Kind)
	}
	if r.Type == "" {
		return r, errors.New("facedb: record has no type")
	}
	if r.TS.IsZero() {
		r.TS = time.Now()
	}
	r.TS = r.TS.UTC().Truncate(time.Millisecond)
	r.ID = ulid.Make().String()
	detail := ""
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return r, fmt.Errorf("facedb: record detail: %w", err)
		}
		detail = string(b)
	}
	err := db.write(pendingWrite{rec: &r, detail: detail})
	return r, err
}

// insertRecord writes r (assigning its seq) with its outbox row in one
// transaction. A decision that was made is committed even when the caller's
// context is already cancelled (the daemon stopping): the wait for the write
// lock is bounded by the busy timeout, not by a context.
func (db *DB) insertRecord(r *Record, detail string) error {
	bg := context.Background()
	tx, err := db.sql.BeginTx(bg, nil)
	if err != nil {
		return fmt.Errorf("facedb: record %s: %w", r.Type, err)
	}
	defer tx.Rollback() //nolint:errcheck
	if err := tx.QueryRowContext(bg, "UPDATE device_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&r.Seq); err != nil {
		return fmt.Errorf("facedb: record %s: seq: %w", r.Type, err)
	}
	var person sql.NullInt64
	if r.PersonID != 0 {
		person = sql.NullInt64{Int64: r.PersonID, Valid: true}
	}
	var score sql.NullFloat64
	if r.Score != 0 {
		score = sql.NullFloat64{Float64: r.Score, Valid: true}
	}
	if _, err := tx.ExecContext(bg,
		`INSERT INTO events (seq, id, kind, ts, type, person_id, name, score, reason, source, detail, snapshot)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.ID, r.Kind, ms(r.TS), r.Type, person, r.Name, score, r.Reason, r.Source, detail, r.Snapshot); err != nil {
		return fmt.Errorf("facedb: record %s: %w", r.Type, err)
	}
	if _, err := tx.ExecContext(bg, "INSERT INTO outbox (seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
		r.Seq, r.Kind, r.Payload(), ms(r.TS)); err != nil {
		return fmt.Errorf("facedb: record %s: outbox: %w", r.Type, err)
	}
	if err := tx.Commit(); err != nil {
		r.Seq = 0
		return fmt.Errorf("facedb: record %s: commit: %w", r.Type, err)
	}
	select {
	case db.recorded <- struct{}{}:
	default:
	}
	return nil
}

// Recorded is signalled (without blocking, capacity one) after each Record
// commit made through this DB; records written by other processes are only
// seen by polling.
func (db *DB) Recorded() <-chan struct{} { return db.recorded }

// EventFilter selects events; zero fields select everything.
type EventFilter struct {
	Limit    int // default 100
	Kind     string
	Type     string
	PersonID int64
	Since    time.Time
	Until    time.Time
}

// Events returns the newest matching events and alarms first.
func (db *DB) Events(ctx context.Context, f EventFilter) ([]Record, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.PersonID != 0 {
		where, args = append(where, "person_id = ?"), append(args, f.PersonID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "ts < ?"), append(args, ms(f.Until))
	}
	q := "SELECT seq, id, kind, ts, type, person_id, name, score, reason, source, detail, snapshot FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit)
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("facedb: events: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var ts int64
		var person sql.NullInt64
		var score sql.NullFloat64
		var detail string
		if err := rows.Scan(&r.Seq, &r.ID, &r.Kind, &ts, &r.Type, &person, &r.Name, &score, &r.Reason, &r.Source, &detail, &r.Snapshot); err != nil {
			return nil, fmt.Errorf("facedb: events: %w", err)
		}
		r.TS, r.PersonID, r.Score = fromMS(ts), person.Int64, score.Float64
		if detail != "" {
			if err := json.Unmarshal([]byte(detail), &r.Detail); err != nil {
				return nil, fmt.Errorf("facedb: event %s detail: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OutboxMsg is one queued MQTT message.
type OutboxMsg struct {
	Seq       int64
	Kind      string // event.KindEvent or event.KindAlarm
	Payload   []byte
	CreatedAt time.Time
	Attempts  int
}

// PendingOutbox returns up to limit messages to publish, lowest seq first:
// neither delivered nor acknowledged, and not parked until later.
func (db *DB) PendingOutbox(ctx context.Context, limit int) ([]OutboxMsg, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT seq, kind, payload, created_at, attempts FROM outbox
		 WHERE sent_at IS NULL AND acked_at IS NULL AND (retry_at IS NULL OR retry_at <= ?)
		 ORDER BY seq LIMIT ?`, ms(time.Now()), limit)
	if err != nil {
		return nil, fmt.Errorf("facedb: outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMsg
	for rows.Next() {
		var m OutboxMsg
		var created int64
		if err := rows.Scan(&m.Seq, &m.Kind, &m.Payload, &created, &m.Attempts); err != nil {
			return nil, fmt.Errorf("facedb: outbox: %w", err)
		}
		m.CreatedAt = fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// MarkSent marks a message acknowledged by the broker.
func (db *DB) MarkSent(ctx context.Context, seq int64) error {
	if _, err := db.sql.ExecContext(ctx, "UPDATE outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL", ms(time.Now()), seq); err != nil {
		return fmt.Errorf("facedb: mark sent %d: %w", seq, err)
	}
	return nil
}

// NoteAttempt counts one failed publish attempt.
func (db *DB) NoteAttempt(ctx context.Context, seq int64) error {
	if _, err := db.sql.ExecContext(ctx, "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", seq); err != nil {
		return fmt.Errorf("facedb: note attempt %d: %w", seq, err)
	}
	return nil
}

// OutboxStats describes the unsent part of the outbox.
type OutboxStats struct {
	Depth  int
	Oldest time.Time // zero when empty
}

// OutboxStats returns the number of unsent messages and the oldest one's time.
func (db *DB) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	var oldest sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, "SELECT count(*), min(created_at) FROM outbox WHERE sent_at IS NULL").Scan(&s.Depth, &oldest); err != nil {
		return s, fmt.Errorf("facedb: outbox stats: %w", err)
	}
	s.Oldest = fromNullMS(oldest)
	return s, nil
}

// PruneSent deletes outbox rows acknowledged more than keep ago (the events
// themselves stay in the entry log).
func (db *DB) PruneSent(ctx context.Context, keep time.Duration) (int64, error) {
	res, err := db.sql.ExecContext(ctx, "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", ms(time.Now().Add(-keep)))
	if err != nil {
		return 0, fmt.Errorf("facedb: prune outbox: %w", err)
	}
	return res.RowsAffected()
}

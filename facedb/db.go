package facedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/facegate/facegate/migrations"
)

// driverName is go-sqlite3 with facegate's per-connection settings: the WAL
// is checkpointed every 128 pages (512 KiB, SQLite's default is 4 MiB) and
// truncated to 1 MiB after a checkpoint, so on a small data_dir the
// write-ahead log cannot grow into the room kept for the entry log
// (access.SnapshotHeadroom, the reserve file).
const driverName = "sqlite3_facegate"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint = 128; PRAGMA journal_size_limit = 1048576", nil)
		return err
	}})
}

// ApplicationID marks a SQLite file as facegate's (PRAGMA application_id, "FGAT").
const ApplicationID = 0x46474154

var (
	// ErrNotFound is returned when a person, user or row does not exist.
	ErrNotFound = errors.New("facedb: not found")
	// ErrNewerSchema is returned for a database written by a newer facegate.
	ErrNewerSchema = errors.New("facedb: database schema is newer than this facegate")
	// ErrForeign is returned for a SQLite file that is not facegate's.
	ErrForeign = errors.New("facedb: not a facegate database")
)

// DB is an open facegate database. It is safe for concurrent use.
type DB struct {
	sql      *sql.DB
	path     string
	deviceID string
	recorded chan struct{}
	w        writer
	// Backup is the path of the copy made before migrating, if one was made.
	Backup string
}

// Open opens (creating if needed) the database at path and migrates it to
// the newest schema.
func Open(ctx context.Context, path, deviceID string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("facedb: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sdb, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("facedb: open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(4)
	sdb.SetConnMaxIdleTime(time.Minute)
	db := &DB{sql: sdb, path: path, deviceID: deviceID, recorded: make(chan struct{}, 1)}
	all, err := migrations.All()
	if err != nil {
		sdb.Close()
		return nil, err
	}
	if err := db.migrate(ctx, all); err != nil {
		sdb.Close()
		return nil, err
	}
	db.w.stop, db.w.done = make(chan struct{}), make(chan struct{})
	db.ensureReserveLocked() // no other goroutine yet
	go db.retryLoop()
	return db, nil
}

// Close writes what is queued if it can, and closes the database. Entries
// still queued are lost; Close then says how many.
func (db *DB) Close() error {
	db.w.mu.Lock()
	stopped := db.w.stop == nil
	if !stopped {
		select {
		case <-db.w.stop:
			stopped = true
		default:
			close(db.w.stop)
		}
	}
	db.w.mu.Unlock()
	if !stopped {
		<-db.w.done
	}
	n, lastErr := db.WriteBacklog()
	err := db.sql.Close()
	if n > 0 {
		return errors.Join(fmt.Errorf("facedb: %d records and audit entries could not be written to %s: %w", n, db.path, lastErr), err)
	}
	return err
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Ping checks that the database answers (for the health tracker).
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.sql.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("facedb: ping: %w", err)
	}
	return nil
}

// SchemaVersion returns PRAGMA user_version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

func (db *DB) migrate(ctx context.Context, all []migrations.Migration) error {
	return migrateTo(ctx, db, all, len(all))
}

func migrateTo(ctx context.Context, db *DB, all []migrations.Migration, target int) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("facedb: %w", err)
	}
	defer conn.Close()
	var appID, version, objects int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("facedb: read %s: %w", db.path, err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("facedb: read %s: %w", db.path, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&objects); err != nil {
		return fmt.Errorf("facedb: read %s: %w", db.path, err)
	}
	switch {
	case appID != 0 && appID != ApplicationID:
		return fmt.Errorf("%w: %s has application_id %#x", ErrForeign, db.path, appID)
	case appID == 0 && objects > 0:
		return fmt.Errorf("%w: %s already holds %d tables or indexes of another application", ErrForeign, db.path, objects)
	case version > len(all):
		return fmt.Errorf("%w: %s is at schema %d, this build knows up to %d; upgrade facegate", ErrNewerSchema, db.path, version, len(all))
	}
	if version >= target {
		return nil
	}
	if version > 0 {
		backup := fmt.Sprintf("%s.v%d-%s.bak", db.path, version, time.Now().UTC().Format("20060102T150405"))
		if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", backup); err != nil {
			return fmt.Errorf("facedb: back up %s before migrating: %w", db.path, err)
		}
		db.Backup = backup
	}
	for _, m := range all[version:target] {
		if err := applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("facedb: migration %s on %s: %w", m.Name, db.path, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, m migrations.Migration) error {
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

package facedb

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// ReserveBytes is the size of the reserve file kept beside the database
// (<db>.reserve): when the file system fills up, it is deleted so the entry
// log can still be written, and recreated once space allows.
const ReserveBytes = 1 << 20

// Limits of the in-memory queue of records and audit entries that could not
// be written (full or failing storage).
const (
	maxQueued  = 10000
	retryEvery = time.Second
	flushBatch = 50 // queued entries written per lock hold: new writes never wait long behind a big queue
)

var (
	// ErrQueued is wrapped by the error of a Record or Audit that could not
	// be written now (full or failing storage): it is kept in memory, in
	// order, and written as soon as the storage allows.
	ErrQueued = errors.New("facedb: not written yet, queued for retry")
	// ErrQueueFull is wrapped when the retry queue is full: the write is lost.
	ErrQueueFull = errors.New("facedb: retry queue full, write lost")
)

// pendingWrite is a record or an audit entry to write.
type pendingWrite struct {
	rec    *Record
	detail string // rec's Detail as JSON
	audit  *AuditEntry
}

// writer serialises the entry log's writes so that queued ones keep their
// order ahead of new ones, and retries them.
type writer struct {
	mu       sync.Mutex
	queue    []pendingWrite
	lastErr  error
	hook     func(ok bool, detail string)
	reserved bool      // the reserve file exists
	tried    time.Time // last attempt to put the reserve back
	stop     chan struct{}
	done     chan struct{}
}

// SetWriteStateHook sets the function told whenever writing the entry log
// starts or stops failing (ok false: writes are queued in memory; the
// health tracker's storage component). It is called at once with the
// current state.
func (db *DB) SetWriteStateHook(f func(ok bool, detail string)) {
	db.w.mu.Lock()
	defer db.w.mu.Unlock()
	db.w.hook = f
	db.reportLocked()
}

// WriteBacklog returns how many records and audit entries wait in memory to
// be written, and the last write error.
func (db *DB) WriteBacklog() (int, error) {
	db.w.mu.Lock()
	defer db.w.mu.Unlock()
	return len(db.w.queue), db.w.lastErr
}

func (db *DB) reportLocked() {
	if db.w.hook == nil {
		return
	}
	if len(db.w.queue) == 0 {
		db.w.hook(true, "")
		return
	}
	db.w.hook(false, fmt.Sprintf("%d records waiting to be written to %s (retried every %s): %v",
		len(db.w.queue), db.path, retryEvery, db.w.lastErr))
}

func (db *DB) apply(w pendingWrite) error {
	if w.rec != nil {
		return db.insertRecord(w.rec, w.detail)
	}
	return db.insertAudit(w.audit)
}

// write writes w after anything queued before it. A write that fails for
// lack of space is tried once more after the reserve file is released; if
// it still fails it is queued for the retry loop and ErrQueued is returned.
func (db *DB) write(w pendingWrite) error {
	db.w.mu.Lock()
	defer db.w.mu.Unlock()
	db.flushLocked(flushBatch)
	var err error
	if len(db.w.queue) == 0 {
		if err = db.apply(w); err == nil {
			return nil
		}
		if !storageError(err) {
			return err
		}
		if db.releaseReserveLocked() {
			if err = db.apply(w); err == nil {
				return nil
			}
		}
	} else {
		err = db.w.lastErr
	}
	if len(db.w.queue) >= maxQueued {
		return fmt.Errorf("%w (%d waiting): %w", ErrQueueFull, len(db.w.queue), err)
	}
	db.w.queue = append(db.w.queue, w)
	was := db.w.lastErr
	db.w.lastErr = err
	if was == nil || len(db.w.queue) == 1 {
		db.reportLocked()
	}
	return fmt.Errorf("%w: %w", ErrQueued, err)
}

// flushLocked writes up to limit queued entries in order, stopping at the
// first that fails.
func (db *DB) flushLocked(limit int) {
	if len(db.w.queue) == 0 {
		return
	}
	for n := 0; len(db.w.queue) > 0 && n < limit; n++ {
		if err := db.apply(db.w.queue[0]); err != nil {
			if storageError(err) && db.releaseReserveLocked() {
				continue
			}
			db.w.lastErr = err
			return
		}
		db.w.queue[0] = pendingWrite{}
		db.w.queue = db.w.queue[1:]
	}
	if len(db.w.queue) == 0 {
		db.w.lastErr = nil
		db.reportLocked()
	}
}

// flushAll writes the whole queue in batches, releasing the lock between
// them; it stops at the first failure.
func (db *DB) flushAll() {
	for {
		db.w.mu.Lock()
		before := len(db.w.queue)
		db.flushLocked(flushBatch)
		after := len(db.w.queue)
		db.w.mu.Unlock()
		if after == 0 || before-after < flushBatch { // done, or stopped at a failure
			return
		}
	}
}

// retryLoop writes the queue as soon as the storage allows and keeps the
// reserve file in place.
func (db *DB) retryLoop() {
	defer close(db.w.done)
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-db.w.stop:
			db.flushAll()
			return
		case <-t.C:
		}
		db.flushAll()
		db.w.mu.Lock()
		if len(db.w.queue) == 0 && !db.w.reserved && time.Since(db.w.tried) >= 5*retryEvery {
			db.w.tried = time.Now()
			// After a full-disk episode: move the WAL into the database
			// and truncate it (it only shrinks this way), then put the
			// reserve back.
			_, _ = db.sql.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			db.ensureReserveLocked()
		}
		db.w.mu.Unlock()
	}
}

func (db *DB) reservePath() string { return db.path + ".reserve" }

// ensureReserveLocked creates the reserve file when the file system has
// room for it and a quarter more.
func (db *DB) ensureReserveLocked() {
	if fi, err := os.Stat(db.reservePath()); err == nil && fi.Size() >= ReserveBytes {
		db.w.reserved = true
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(db.path), &st); err != nil {
		return
	}
	if st.Bavail*uint64(st.Bsize) < ReserveBytes+ReserveBytes/4 {
		return
	}
	f, err := os.OpenFile(db.reservePath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, err = io.CopyN(f, zeros{}, ReserveBytes)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(db.reservePath())
		return
	}
	db.w.reserved = true
}

// releaseReserveLocked deletes the reserve file; it reports whether there
// was one to give back.
func (db *DB) releaseReserveLocked() bool {
	err := os.Remove(db.reservePath())
	db.w.reserved = false
	return err == nil
}

// storageError reports errors of a full or failing file system, after which
// a write is worth retrying.
func storageError(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrIoErr || se.Code == sqlite3.ErrCantOpen) {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EDQUOT)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

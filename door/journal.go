package door

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/facegate/facegate/facedb"
)

// Journal stores door events, alarms and relay audit entries. *facedb.DB
// satisfies it.
type Journal interface {
	Record(ctx context.Context, r facedb.Record) (facedb.Record, error)
	Audit(ctx context.Context, e facedb.AuditEntry) error
}

// journalTimeout bounds one write, so a stuck database cannot pile up work
// forever behind it.
const journalTimeout = 10 * time.Second

// recorder writes to the Journal on its own goroutine, in order, so the door
// never waits for the database. A failed write is logged and dropped.
type recorder struct {
	j   Journal
	log *slog.Logger

	mu      sync.Mutex
	q       []any // facedb.Record or facedb.AuditEntry
	busy    bool
	stopped bool
	idle    *sync.Cond

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newRecorder(j Journal, log *slog.Logger) *recorder {
	r := &recorder{
		j: j, log: log,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	r.idle = sync.NewCond(&r.mu)
	go r.loop()
	return r
}

func (r *recorder) add(item any) {
	if r.j == nil {
		return
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		r.log.Warn("door: journal closed, entry not recorded", "entry", item)
		return
	}
	r.q = append(r.q, item)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) loop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		for len(r.q) > 0 {
			item := r.q[0]
			r.q[0] = nil
			r.q = r.q[1:]
			r.busy = true
			r.mu.Unlock()
			r.write(item)
			r.mu.Lock()
			r.busy = false
		}
		r.idle.Broadcast()
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-r.quit:
			r.mu.Lock()
			empty := len(r.q) == 0
			r.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (r *recorder) write(item any) {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	switch e := item.(type) {
	case facedb.Record:
		if _, err := r.j.Record(ctx, e); err != nil {
			r.log.Error("door: recording failed", "kind", e.Kind, "type", e.Type, "source", e.Source, "err", err)
		}
	case facedb.AuditEntry:
		if err := r.j.Audit(ctx, e); err != nil {
			r.log.Error("door: audit failed", "actor", e.Actor, "action", e.Action, "detail", e.Detail, "ok", e.OK, "err", err)
		}
	}
}

// wait blocks until every queued entry has been written (or dropped).
func (r *recorder) wait() {
	r.mu.Lock()
	for len(r.q) > 0 || r.busy {
		r.idle.Wait()
	}
	r.mu.Unlock()
}

// close stops accepting entries and waits up to timeout for the queue to be
// written. It reports how many entries were left unwritten.
func (r *recorder) close(timeout time.Duration) int {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return 0
	}
	r.stopped = true
	r.mu.Unlock()
	close(r.quit)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return 0
	case <-t.C:
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.q)
	}
}

package access

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

func TestPruneRemovesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s := Snapshots{Dir: dir, MaxAge: 30 * 24 * time.Hour} // no cap while saving (Save enforces it)
	now := time.Now()
	var paths []string
	// 6 snapshots of 1000 bytes, one per day going back 0..4 days, plus one 40 days old
	ages := []time.Duration{40 * 24 * time.Hour, 4 * 24 * time.Hour, 3 * 24 * time.Hour, 2 * 24 * time.Hour, 24 * time.Hour, 0}
	for _, age := range ages {
		at := now.Add(-age)
		p, err := s.Save(make([]byte, 1000), at)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	s.MaxBytes = 3000
	res, err := s.Prune(now)
	if err != nil {
		t.Fatal(err)
	}
	// the 40-day one goes for age, then the two oldest for size
	if res.Removed != 3 || res.Files != 3 || res.Bytes != 3000 {
		t.Fatalf("prune %+v: want 3 removed, 3 kept (3000 bytes)", res)
	}
	for i, p := range paths {
		_, err := os.Stat(p)
		if gone := os.IsNotExist(err); gone != (i < 3) {
			t.Errorf("snapshot %d (age %v): removed=%v", i, ages[i], gone)
		}
	}
	// the empty day folders went with them
	days, _ := os.ReadDir(dir)
	if len(days) != 3 {
		t.Errorf("%d day folders left, want 3", len(days))
	}
	if res, err := (Snapshots{Dir: filepath.Join(dir, "missing")}).Prune(now); err != nil || res.Files != 0 {
		t.Errorf("pruning a missing folder: %+v, %v", res, err)
	}
}

func TestStorageLowAlarmOncePerEpisode(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Access.StorageLowMB = 1 << 20 }, nil) // 1 TB: always low here
	ctx := context.Background()
	f.loop.housekeep(ctx, time.Now())
	f.loop.housekeep(ctx, time.Now())
	rs, err := f.db.Events(ctx, facedb.EventFilter{Type: "storage_low"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Kind != "alarm" {
		t.Fatalf("storage_low records %+v, want one alarm", rs)
	}
	if free, err := FreeBytes(filepath.Join(f.cfg.SnapshotDir(), "not", "yet")); err != nil || free == 0 {
		t.Fatalf("free space of a folder not created yet: %d, %v", free, err)
	}
}

// TestSnapshotsLeaveRoomForEvents writes decisions the way the loop does
// (snapshot first, then the event row) onto a real 3 MB file system: the
// snapshots must give way (oldest removed, or skipped) so that every event
// row is written.
func TestSnapshotsLeaveRoomForEvents(t *testing.T) {
	ctx := context.Background()
	dir := testenv.SmallFS(t, 3<<20)
	db, err := facedb.Open(ctx, filepath.Join(dir, "facegate.db"), "door-1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := Snapshots{Dir: filepath.Join(dir, "snapshots"), MaxBytes: 1 << 30, Headroom: 1 << 20}
	jpeg := make([]byte, 60<<10)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(jpeg) // incompressible, like a JPEG
	var saved, skipped int
	for i := 0; i < 120; i++ {
		r := facedb.Record{Kind: "event", Type: "access_granted", Name: "Ada", Detail: map[string]any{}}
		if path, err := s.Save(jpeg, time.Now()); err != nil {
			if !errors.Is(err, ErrNoRoom) {
				t.Fatalf("decision %d: snapshot: %v", i, err)
			}
			skipped++
			r.Detail["snapshot_error"] = err.Error()
		} else {
			saved++
			r.Snapshot = path
		}
		if _, err := db.Record(ctx, r); err != nil {
			t.Fatalf("decision %d: the event row was not written: %v", i, err)
		}
	}
	evs, err := db.Events(ctx, facedb.EventFilter{Limit: 1000})
	if err != nil || len(evs) != 120 {
		t.Fatalf("events = %d (%v), want 120", len(evs), err)
	}
	if _, err := os.Stat(evs[0].Snapshot); evs[0].Snapshot != "" && err != nil {
		t.Fatalf("the newest event's snapshot is gone: %v", err)
	}
	free, _ := FreeBytes(dir)
	t.Logf("%d snapshots saved (older ones removed to make room), %d skipped, %d KB free at the end", saved, skipped, free>>10)
	if saved < 10 {
		t.Fatalf("only %d snapshots saved: making room should remove old ones, not skip new ones", saved)
	}
	if free < 1<<20 {
		t.Fatalf("%d bytes free: the snapshots ate the entry log's headroom", free)
	}
}

// TestSnapshotCapEnforcedOnEveryWrite: snapshot_max_mb holds after every
// Save, not only after the periodic prune.
func TestSnapshotCapEnforcedOnEveryWrite(t *testing.T) {
	s := Snapshots{Dir: t.TempDir(), MaxBytes: 200 << 10}
	for i := 0; i < 20; i++ {
		if _, err := s.Save(make([]byte, 30<<10), time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, total, _ := s.list(); total > s.MaxBytes {
			t.Fatalf("after save %d the snapshots hold %d bytes, cap %d", i, total, s.MaxBytes)
		}
	}
	if _, err := s.Save(make([]byte, 300<<10), time.Now()); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("a snapshot bigger than the cap: %v, want ErrNoRoom", err)
	}
}

package access

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

func TestPruneRemovesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s := Snapshots{Dir: dir, MaxAge: 30 * 24 * time.Hour, MaxBytes: 3000}
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

package access

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sys/unix"
)

// Snapshots stores decision snapshots as dir/YYYY-MM-DD/<ulid>.jpg (UTC date)
// and prunes them by age and total size.
type Snapshots struct {
	Dir      string
	MaxAge   time.Duration
	MaxBytes int64
	// Headroom is the free space every snapshot write leaves on the file
	// system for the entry log: event rows win over snapshots.
	Headroom int64
}

// SnapshotHeadroom is the free space the access loop keeps for the
// database when it writes a snapshot (Snapshots.Headroom).
const SnapshotHeadroom = 4 << 20

// ErrNoRoom is returned by Save when the snapshot would not leave
// Headroom free even after removing every older snapshot: the event is
// recorded without it.
var ErrNoRoom = errors.New("access: no room for the snapshot")

// Save writes one JPEG atomically (temporary file, fsync, rename) and returns
// its path. First it makes room: the oldest snapshots are removed until the
// new one fits under MaxBytes and leaves Headroom free; when even that is not
// enough the snapshot is skipped (ErrNoRoom).
func (s Snapshots) Save(jpeg []byte, at time.Time) (string, error) {
	if err := s.makeRoom(int64(len(jpeg))); err != nil {
		return "", err
	}
	day := filepath.Join(s.Dir, at.UTC().Format("2006-01-02"))
	if err := os.MkdirAll(day, 0o750); err != nil {
		return "", fmt.Errorf("access: snapshot: %w", err)
	}
	id, err := ulid.New(ulid.Timestamp(at), ulid.DefaultEntropy())
	if err != nil {
		id = ulid.Make()
	}
	path := filepath.Join(day, id.String()+".jpg")
	f, err := os.CreateTemp(day, ".snap-*")
	if err != nil {
		return "", fmt.Errorf("access: snapshot: %w", err)
	}
	_, err = f.Write(jpeg)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("access: snapshot %s: %w", path, err)
	}
	return path, nil
}

// PruneResult says what Prune removed and what is left.
type PruneResult struct {
	Removed      int
	RemovedBytes int64
	Files        int
	Bytes        int64
}

type snap struct {
	path string
	mod  time.Time
	size int64
}

// list returns every snapshot, oldest first, and their total size.
func (s Snapshots) list() ([]snap, int64, error) {
	var snaps []snap
	var total int64
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".jpg") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		snaps = append(snaps, snap{path, info.ModTime(), info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("access: list snapshots: %w", err)
	}
	slices.SortFunc(snaps, func(a, b snap) int {
		return cmp.Or(a.mod.Compare(b.mod), cmp.Compare(a.path, b.path))
	})
	return snaps, total, nil
}

// makeRoom removes the oldest snapshots until one of size more fits under
// MaxBytes and leaves Headroom free.
func (s Snapshots) makeRoom(size int64) error {
	free, err := FreeBytes(s.Dir)
	if err != nil {
		return err
	}
	avail := int64(min(free, 1<<62))
	snaps, total, err := s.list()
	if err != nil {
		return err
	}
	const slack = 64 << 10 // the day folder and file system metadata
	fits := func() bool {
		return (s.MaxBytes <= 0 || total+size <= s.MaxBytes) && avail-size-slack >= s.Headroom
	}
	for _, sn := range snaps {
		if fits() {
			break
		}
		if err := os.Remove(sn.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("access: snapshot: making room: %w", err)
		}
		total -= sn.size
		avail += sn.size
	}
	if fits() {
		return nil
	}
	if s.MaxBytes > 0 && size > s.MaxBytes {
		return fmt.Errorf("%w: %d bytes exceed access.snapshot_max_mb", ErrNoRoom, size)
	}
	return fmt.Errorf("%w: %d bytes free under %s, the snapshot (%d bytes) would leave less than %d for the entry log",
		ErrNoRoom, avail, s.Dir, size, s.Headroom)
}

// Prune removes snapshots older than MaxAge, then the oldest ones until the
// total is at most MaxBytes, and empty day folders. Age is the file's
// modification time.
func (s Snapshots) Prune(now time.Time) (PruneResult, error) {
	var res PruneResult
	snaps, total, err := s.list()
	if err != nil {
		return res, fmt.Errorf("access: prune snapshots: %w", err)
	}
	res.Bytes = total
	var errs []error
	for _, sn := range snaps {
		old := s.MaxAge > 0 && now.Sub(sn.mod) > s.MaxAge
		big := s.MaxBytes > 0 && res.Bytes > s.MaxBytes
		if !old && !big {
			break // sorted oldest first: the rest are newer and fit
		}
		if err := os.Remove(sn.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		res.Removed++
		res.RemovedBytes += sn.size
		res.Bytes -= sn.size
	}
	res.Files = len(snaps) - res.Removed
	if days, err := os.ReadDir(s.Dir); err == nil {
		for _, d := range days {
			if d.IsDir() {
				os.Remove(filepath.Join(s.Dir, d.Name())) // fails unless empty
			}
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("access: prune snapshots: %w", errors.Join(errs...))
	}
	return res, nil
}

// FreeBytes returns the space available to an unprivileged user on the
// file system holding dir (or its nearest existing parent).
func FreeBytes(dir string) (uint64, error) {
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, unix.ENOENT) || parent == dir {
			return 0, fmt.Errorf("access: statfs %s: %w", dir, err)
		}
		dir = parent
	}
}

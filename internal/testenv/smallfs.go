package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a fresh directory and unmounts it
// when the test ends: a real file system that fills up. It needs root (the
// test machines and make test run as root); elsewhere the test fails with
// the reason.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: mounting a %d-byte tmpfs on %s needs root (make test runs as root): %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("testenv: umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillFS writes a file at path until the file system holding it is full and
// returns its size.
func FillFS(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("testenv: fill: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if err != nil {
			return n
		}
	}
}

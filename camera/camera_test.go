package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/internal/testenv"
)

var playlist = []struct{ folder, file string }{
	{"df01", "img1.jpg"}, {"df02", "img8.jpg"}, {"bbt_amy", "amy1.png"}, {"_noface", "apple.jpg"},
}

// linkFrames fills dir with 0001_..., 0002_... links to the playlist images.
func linkFrames(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	for i, p := range playlist {
		src := testenv.Face(t, p.folder, p.file)
		dst := filepath.Join(dir, fmt.Sprintf("%04d_%s_%s", i*2+1, p.folder, p.file))
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, src)
	}
	return paths
}

// sameImage reports whether m has the pixels of the image file at path.
func sameImage(t *testing.T, m gocv.Mat, path string) bool {
	t.Helper()
	want := gocv.IMRead(path, gocv.IMReadColor)
	defer want.Close()
	if want.Empty() || want.Rows() != m.Rows() || want.Cols() != m.Cols() {
		return false
	}
	return gocv.NormWithMats(m, want, gocv.NormL1) == 0
}

func openT(t *testing.T, o Options) Source {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDirPlaysInOrderAndLoops(t *testing.T) {
	matleak.Check(t)
	dir := t.TempDir()
	paths := linkFrames(t, dir)
	// files that are not images are ignored
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a frame"), 0o644)
	s := openT(t, Options{Source: "dir:" + dir, FPS: 100, Loop: true})
	ctx := context.Background()
	for i := 0; i < 2*len(paths)+1; i++ {
		m, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := paths[i%len(paths)]; !sameImage(t, m, want) {
			t.Errorf("frame %d is not %s", i, want)
		}
		m.Close()
	}
}

func TestDirWithoutLoopEnds(t *testing.T) {
	matleak.Check(t)
	dir := t.TempDir()
	paths := linkFrames(t, dir)
	s := openT(t, Options{Source: "dir:" + dir, FPS: 100})
	for range paths {
		m, err := s.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	if _, err := s.Read(context.Background()); !errors.Is(err, ErrEnd) {
		t.Fatalf("after the last frame: got %v, want ErrEnd", err)
	}
}

func TestDirSkipsCorruptImage(t *testing.T) {
	matleak.Check(t)
	dir := t.TempDir()
	paths := linkFrames(t, dir)
	jpg, _ := os.ReadFile(paths[0])
	// a truncated JPEG and a text file named .jpg, between frames 1 and 2
	os.WriteFile(filepath.Join(dir, "0002_truncated.jpg"), jpg[:120], 0o644)
	os.WriteFile(filepath.Join(dir, "0002_text.jpg"), []byte("hello"), 0o644)
	s := openT(t, Options{Source: "dir:" + dir, FPS: 100})
	var got []string
	for {
		m, err := s.Read(context.Background())
		if errors.Is(err, ErrEnd) {
			break
		}
		if errors.Is(err, ErrBadFrame) {
			got = append(got, "bad")
			continue
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		got = append(got, fmt.Sprintf("%dx%d", m.Cols(), m.Rows()))
		m.Close()
	}
	if len(got) != len(paths)+2 || got[1] != "bad" || got[2] != "bad" || got[3] == "bad" {
		t.Fatalf("frames = %v, want a good frame, two bad ones, then %d good", got, len(paths)-1)
	}
}

func TestDirVanishedIsAnErrorNotABadFrame(t *testing.T) {
	matleak.Check(t)
	dir := filepath.Join(t.TempDir(), "frames")
	os.Mkdir(dir, 0o755)
	linkFrames(t, dir)
	s := openT(t, Options{Source: "dir:" + dir, FPS: 100, Loop: true})
	m, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	os.RemoveAll(dir)
	_, err = s.Read(context.Background())
	if err == nil || errors.Is(err, ErrBadFrame) {
		t.Fatalf("read from a vanished folder: got %v, want a source error", err)
	}
	if _, err := Open(context.Background(), Options{Source: "dir:" + dir, FPS: 10}); err == nil {
		t.Fatal("opening a missing folder succeeded")
	}
}

func TestDirPacingHonoursContext(t *testing.T) {
	matleak.Check(t)
	dir := t.TempDir()
	linkFrames(t, dir)
	s := openT(t, Options{Source: "dir:" + dir, FPS: 0.1, Loop: true})
	m, err := s.Read(context.Background()) // the first frame comes at once
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read waiting for the next frame at 0.1 fps: got %v, want context.Canceled", err)
	}
}

// writeVideo writes n frames of 320x240 face images to an MJPG AVI file.
func writeVideo(t *testing.T, path string, n int) {
	t.Helper()
	vw, err := gocv.VideoWriterFile(path, "MJPG", 10, 320, 240, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := playlist[i%len(playlist)]
		img := gocv.IMRead(testenv.Face(t, p.folder, p.file), gocv.IMReadColor)
		small := gocv.NewMat()
		gocv.Resize(img, &small, image.Pt(320, 240), 0, 0, gocv.InterpolationArea)
		if err := vw.Write(small); err != nil {
			t.Fatal(err)
		}
		small.Close()
		img.Close()
	}
	if err := vw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFileSourcePlaysAndLoops(t *testing.T) {
	matleak.Check(t)
	path := filepath.Join(t.TempDir(), "door.avi")
	writeVideo(t, path, 6)
	s := openT(t, Options{Source: "file:" + path, FPS: 120, Loop: false})
	n := 0
	for {
		m, err := s.Read(context.Background())
		if errors.Is(err, ErrEnd) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Cols() != 320 || m.Rows() != 240 {
			t.Errorf("frame %d is %dx%d, want 320x240", n, m.Cols(), m.Rows())
		}
		m.Close()
		n++
	}
	if n != 6 {
		t.Fatalf("played %d frames, want 6", n)
	}
	looped := openT(t, Options{Source: "file:" + path, FPS: 120, Loop: true})
	for i := 0; i < 15; i++ {
		m, err := looped.Read(context.Background())
		if err != nil {
			t.Fatalf("looping frame %d: %v", i, err)
		}
		m.Close()
	}
	if _, err := Open(context.Background(), Options{Source: "file:" + filepath.Join(t.TempDir(), "none.avi"), FPS: 10}); err == nil {
		t.Fatal("opening a missing video succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.avi")
	os.WriteFile(bad, []byte("not a video at all"), 0o644)
	if s, err := Open(context.Background(), Options{Source: "file:" + bad, FPS: 10}); err == nil {
		_, rerr := s.Read(context.Background())
		s.Close()
		if rerr == nil {
			t.Fatal("a file that is not a video delivered a frame")
		}
	}
}

func TestGStreamerTestSource(t *testing.T) {
	matleak.Check(t)
	s := openT(t, Options{Source: "gst:videotestsrc num-buffers=20 ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"})
	for i := 0; i < 3; i++ {
		m, err := s.Read(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if m.Cols() != 320 || m.Rows() != 240 || m.Channels() != 3 {
			t.Errorf("frame %d: %dx%dx%d, want 320x240x3", i, m.Cols(), m.Rows(), m.Channels())
		}
		m.Close()
	}
	if _, err := Open(context.Background(), Options{Source: "gst:nosuchelement ! appsink"}); err == nil {
		t.Fatal("a pipeline with an unknown element opened")
	}
}

func encodeJPEG(t *testing.T, folder, file string) []byte {
	t.Helper()
	m := gocv.IMRead(testenv.Face(t, folder, file), gocv.IMReadColor)
	defer m.Close()
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, m)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes())
}

// withThumbnail inserts an APP15 segment holding a whole small JPEG (with its
// own FFD9) right after SOI, as cameras do with EXIF thumbnails.
func withThumbnail(main, thumb []byte) []byte {
	n := len(thumb) + 2
	seg := append([]byte{0xFF, 0xEF, byte(n >> 8), byte(n)}, thumb...)
	out := append([]byte{}, main[:2]...)
	out = append(out, seg...)
	return append(out, main[2:]...)
}

func TestJPEGSplitter(t *testing.T) {
	a := encodeJPEG(t, "df01", "img1.jpg")
	b := encodeJPEG(t, "bbt_amy", "amy1.png")
	var stream bytes.Buffer
	stream.WriteString("garbage before the first image")
	stream.Write(a)
	stream.Write(withThumbnail(b, b[:len(b)]))
	stream.Write([]byte{0xFF, 0xD8, 0x12, 0x34}) // broken header, then resync
	stream.Write(a)
	stream.Write(b[:len(b)/2]) // truncated at the end of the stream
	sp := NewJPEGSplitter(&stream)
	var got []int
	var bad int
	for {
		f, err := sp.Next()
		if errors.Is(err, ErrBadFrame) {
			bad++
			continue
		}
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("end of stream: %v, want io.ErrUnexpectedEOF for the truncated image", err)
			}
			break
		}
		got = append(got, len(f))
	}
	want := []int{len(a), len(b) + len(b) + 4, len(a)}
	if fmt.Sprint(got) != fmt.Sprint(want) || bad != 1 {
		t.Fatalf("image sizes %v with %d bad, want %v with 1 bad", got, bad, want)
	}
}

func TestCmdSourceReadsMJPEGFromChild(t *testing.T) {
	matleak.Check(t)
	dir := t.TempDir()
	a, b := encodeJPEG(t, "df01", "img1.jpg"), encodeJPEG(t, "df02", "img8.jpg")
	os.WriteFile(filepath.Join(dir, "a.jpg"), a, 0o644)
	os.WriteFile(filepath.Join(dir, "b.jpg"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "bad.jpg"), append([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 4, 1, 2}, 0xFF, 0xD9), 0o644)
	// three frames (one undecodable), then the child keeps running like a camera would
	cmd := fmt.Sprintf("cd %s && cat a.jpg; sleep 0.2; cat bad.jpg; sleep 0.2; cat b.jpg; exec sleep 60", dir)
	ctx := context.Background()
	s, err := Open(ctx, Options{Source: "cmd:" + cmd})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.(*cmdSource).Pid()
	var sizes []string
	for len(sizes) < 3 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := s.Read(rctx)
		cancel()
		if errors.Is(err, ErrBadFrame) {
			sizes = append(sizes, "bad")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fmt.Sprintf("%dx%d", m.Cols(), m.Rows()))
		m.Close()
	}
	if sizes[1] != "bad" || sizes[0] == sizes[2] {
		t.Fatalf("frames %v, want img1, bad, img8", sizes)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if live := groupMembers(pid); len(live) > 0 {
		t.Fatalf("processes %v of group %d still run after Close", live, pid)
	}
	t.Logf("closed in %v", time.Since(start))
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCmdSourceKilledWithContextAndReportsExit(t *testing.T) {
	matleak.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Open(ctx, Options{Source: "cmd:sleep 60 & sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid := s.(*cmdSource).Pid()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for len(groupMembers(pid)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d survived the cancelled context", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// a command that fails: Read says the stream ended and shows its stderr
	s2, err := Open(context.Background(), Options{Source: "cmd:echo no camera found >&2; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	_, err = s2.Read(rctx)
	if err == nil || errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "no camera found") {
		t.Fatalf("read from an exited command: %v, want a stream error quoting its stderr", err)
	}
}

func TestMJPEGOnStdin(t *testing.T) {
	matleak.Check(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = r
	t.Cleanup(func() {
		os.Stdin = saved
		stdinOnce.Lock()
		stdinOnce.src = nil // standard input is read once per process; this test fakes a new process
		stdinOnce.Unlock()
	})
	a := encodeJPEG(t, "df01", "img1.jpg")
	go func() {
		w.Write(a)
		w.Write(a)
		w.Close()
	}()
	s, err := Open(context.Background(), Options{Source: "mjpeg:-"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := s.Read(ctx)
		cancel()
		if err != nil {
			if !strings.Contains(err.Error(), "stream ended") {
				t.Fatalf("after %d frames: %v, want the end of the stream", got, err)
			}
			break
		}
		m.Close()
		got++
	}
	// the newest-frame hand-off may drop a frame the reader had not taken yet
	if got < 1 || got > 2 {
		t.Fatalf("read %d frames from stdin, want 1 or 2", got)
	}
	if _, err := Open(context.Background(), Options{Source: "mjpeg:-"}); err == nil {
		t.Fatal("reopening an ended standard input succeeded")
	}
}

// groupMembers lists the live (not zombie) processes of process group pgid.
// Zombies are left out: an orphan reparented to a PID 1 that does not reap
// (as in some containers) stays a zombie but runs nothing.
func groupMembers(pgid int) []string {
	var live []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, e.Name()+":"+s[:i+1])
		}
	}
	return live
}

package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"gocv.io/x/gocv"
)

// MaxJPEGBytes bounds one JPEG in an MJPEG stream; a longer run of bytes
// without an end-of-image marker is dropped as garbage.
const MaxJPEGBytes = 16 << 20

// errGarbage reports bytes that do not form a JPEG; the splitter resynchronises.
var errGarbage = errors.New("camera: mjpeg: malformed JPEG in stream")

// JPEGSplitter cuts a byte stream of concatenated JPEG images (MJPEG as
// written by rpicam-vid --codec mjpeg, ffmpeg -f mjpeg, or cat *.jpg) into
// single images. It follows the marker segments up to start-of-scan, so
// FFD9 inside an embedded EXIF thumbnail does not end the image early.
type JPEGSplitter struct {
	r   *bufio.Reader
	buf bytes.Buffer
}

// NewJPEGSplitter reads from r.
func NewJPEGSplitter(r io.Reader) *JPEGSplitter {
	return &JPEGSplitter{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next complete JPEG. The slice is valid until the next
// call. A malformed image is skipped and reported as an error wrapping
// ErrBadFrame; io.EOF means the stream ended.
func (s *JPEGSplitter) Next() ([]byte, error) {
	// find SOI (FF D8)
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b != 0xFF {
			continue
		}
		b2, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b2 == 0xD8 {
			break
		}
		if b2 == 0xFF {
			_ = s.r.UnreadByte()
		}
	}
	s.buf.Reset()
	s.buf.Write([]byte{0xFF, 0xD8})
	err := s.body()
	if errors.Is(err, errGarbage) {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return s.buf.Bytes(), nil
}

func (s *JPEGSplitter) byte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		if s.buf.Len() >= MaxJPEGBytes {
			return 0, errGarbage
		}
		s.buf.WriteByte(b)
	}
	return b, err
}

// body reads marker segments up to SOS, then entropy-coded data up to EOI.
func (s *JPEGSplitter) body() error {
	inScan := false
	for {
		b, err := s.byte()
		if err != nil {
			return err
		}
		if b != 0xFF {
			if !inScan {
				return errGarbage
			}
			continue
		}
		m, err := s.byte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = s.byte()
		}
		if err != nil {
			return err
		}
		switch {
		case m == 0xD9:
			return nil
		case inScan && (m == 0x00 || (m >= 0xD0 && m <= 0xD7)):
			continue // stuffed byte or restart marker
		case m == 0xD8 || m == 0x00:
			return errGarbage
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // markers without a length
		}
		hi, err := s.byte()
		if err != nil {
			return err
		}
		lo, err := s.byte()
		if err != nil {
			return err
		}
		n := int(hi)<<8 | int(lo)
		if n < 2 {
			return errGarbage
		}
		for i := 0; i < n-2; i++ {
			if _, err := s.byte(); err != nil {
				return err
			}
		}
		inScan = m == 0xDA // SOS: entropy-coded data follows (progressive JPEGs have several)
	}
}

// streamSource decodes JPEGs split from a reader by a background goroutine
// that keeps only the newest undecoded image, so a slow consumer never makes
// the producer (a camera process) back up.
type streamSource struct {
	name     string
	frames   chan []byte
	done     chan struct{} // closed when the reader goroutine ends
	mu       sync.Mutex
	err      error // why the reader ended
	closer   func() error
	closeOne sync.Once
	closeErr error
}

func newStreamSource(name string, r io.Reader, closer func() error) *streamSource {
	s := &streamSource{name: name, frames: make(chan []byte, 1), done: make(chan struct{}), closer: closer}
	go s.pump(r)
	return s
}

func (s *streamSource) pump(r io.Reader) {
	defer close(s.done)
	sp := NewJPEGSplitter(r)
	for {
		b, err := sp.Next()
		if errors.Is(err, ErrBadFrame) {
			s.offer(nil) // nil tells Read one frame was malformed
			continue
		}
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		s.offer(bytes.Clone(b))
	}
}

// offer replaces any frame the consumer has not taken yet.
func (s *streamSource) offer(b []byte) {
	for {
		select {
		case s.frames <- b:
			return
		default:
		}
		select {
		case <-s.frames:
		default:
		}
	}
}

func (s *streamSource) Read(ctx context.Context) (gocv.Mat, error) {
	select {
	case b := <-s.frames:
		return s.decode(b)
	default:
	}
	select {
	case <-ctx.Done():
		return gocv.Mat{}, ctx.Err()
	case b := <-s.frames:
		return s.decode(b)
	case <-s.done:
		select { // a last frame may have been queued just before the end
		case b := <-s.frames:
			return s.decode(b)
		default:
		}
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
			return gocv.Mat{}, fmt.Errorf("camera: %s: stream ended: %w", s.name, err)
		}
		return gocv.Mat{}, fmt.Errorf("camera: %s: %w", s.name, err)
	}
}

func (s *streamSource) decode(b []byte) (gocv.Mat, error) {
	if b == nil {
		return gocv.Mat{}, fmt.Errorf("%w: %s: malformed JPEG in stream", ErrBadFrame, s.name)
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %s: JPEG does not decode", ErrBadFrame, s.name)
	}
	return m, nil
}

func (s *streamSource) Close() error {
	s.closeOne.Do(func() {
		if s.closer != nil {
			s.closeErr = s.closer()
		}
	})
	return s.closeErr
}

// openStdin reads MJPEG from standard input. Standard input is not closed by
// Close (it cannot be reopened); the reader goroutine ends with the stream.
var stdinOnce struct {
	sync.Mutex
	src *streamSource
}

func openStdin() (Source, error) {
	stdinOnce.Lock()
	defer stdinOnce.Unlock()
	if stdinOnce.src != nil {
		select {
		case <-stdinOnce.src.done:
			return nil, fmt.Errorf("camera: mjpeg:- standard input has ended")
		default:
			return stdinOnce.src, nil
		}
	}
	stdinOnce.src = newStreamSource("mjpeg:-", os.Stdin, nil)
	return stdinOnce.src, nil
}

// cmdSource runs "sh -c COMMAND" in its own process group and reads MJPEG
// from its stdout; Close (or cancelling the ctx given to Open) kills the group.
type cmdSource struct {
	*streamSource
	cmd     *exec.Cmd
	stderr  *tailBuffer
	stop    chan struct{}
	stopped sync.Once
	waited  chan struct{}
}

func openCmd(ctx context.Context, command string) (*cmdSource, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("camera: cmd source: %w", err)
	}
	tail := &tailBuffer{max: 2048}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("camera: cmd source %q: %w", command, err)
	}
	c := &cmdSource{cmd: cmd, stderr: tail, stop: make(chan struct{}), waited: make(chan struct{})}
	c.streamSource = newStreamSource("cmd:"+command, stdout, c.kill)
	go func() {
		<-c.streamSource.done // stdout closed: the process ended or closed it
		_ = cmd.Wait()
		close(c.waited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = c.kill()
		case <-c.stop:
		case <-c.waited:
		}
	}()
	return c, nil
}

func (c *cmdSource) Read(ctx context.Context) (gocv.Mat, error) {
	m, err := c.streamSource.Read(ctx)
	if err != nil && !errors.Is(err, ErrBadFrame) && ctx.Err() == nil {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
	}
	return m, err
}

// kill sends SIGTERM to the process group, then SIGKILL after a second, and
// waits for the child to be reaped.
func (c *cmdSource) kill() error {
	c.stopped.Do(func() { close(c.stop) })
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.waited:
	case <-time.After(time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-c.waited:
		case <-time.After(2 * time.Second):
			return fmt.Errorf("camera: cmd source: process group %d did not exit", pgid)
		}
	}
	// children that kept the group alive after the shell exited
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// Pid returns the child's process id (its process group id).
func (c *cmdSource) Pid() int { return c.cmd.Process.Pid }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

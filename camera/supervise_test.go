package camera

import (
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/matleak"
)

func TestNewestFrameWins(t *testing.T) {
	matleak.Check(t)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	s := NewSupervisor(Options{Source: "dir:" + t.TempDir(), FPS: 10}, nil, nil, nil)
	for i := 1; i <= 5; i++ {
		m := gocv.NewMatWithSize(i, i, gocv.MatTypeCV8UC3)
		s.offer(m, t0.Add(time.Duration(i)*time.Second))
	}
	m, at, ok := s.Take()
	if !ok || m.Rows() != 5 || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("took a %d-row frame from %v, want the newest (5 rows)", m.Rows(), at)
	}
	m.Close()
	if _, _, ok := s.Take(); ok {
		t.Fatal("a second frame was queued")
	}
	if d := s.Stats().Dropped; d != 4 {
		t.Fatalf("dropped %d, want 4", d)
	}
}

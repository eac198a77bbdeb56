package health

import (
	"reflect"
	"testing"
	"time"
)

func TestReportDegradesAndRecovers(t *testing.T) {
	tr := New()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr.now = func() time.Time { return clock }
	ch := tr.Changed()
	tr.Set("camera", true, "10.0 fps")
	tr.Set("mqtt", true, "connected")
	if r := tr.Report(); r.Status != "ok" || len(r.Components) != 2 {
		t.Fatalf("report = %+v", r)
	}
	<-ch
	clock = clock.Add(time.Minute)
	tr.Set("camera", true, "9.0 fps") // detail only
	select {
	case <-ch:
		t.Error("detail change signalled a health change")
	default:
	}
	if r := tr.Report(); !r.Components["camera"].Since.Equal(clock.Add(-time.Minute)) || r.Components["camera"].Detail != "9.0 fps" {
		t.Errorf("camera = %+v", r.Components["camera"])
	}
	tr.Set("mqtt", false, "broker unreachable")
	r := tr.Report()
	if r.Status != "degraded" || !reflect.DeepEqual(r.Failing(), []string{"mqtt"}) {
		t.Errorf("report = %+v failing %v", r, r.Failing())
	}
	select {
	case <-ch:
	default:
		t.Error("health change not signalled")
	}
	tr.Remove("mqtt")
	if tr.Report().Status != "ok" {
		t.Error("removing the failing component did not recover")
	}
}

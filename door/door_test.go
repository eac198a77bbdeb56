package door

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// Every test runs its door timing (unlock, debounce, held-open) on its own
// fake clock. The gpiotest pins keep a real clock: their WaitForEdge timeout
// only bounds how fast the watcher notices cancellation.

func openDB(t *testing.T) *facedb.DB {
	t.Helper()
	db, err := facedb.Open(context.Background(), filepath.Join(t.TempDir(), "facegate.db"), "door-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testCfg() config.Door {
	d := config.Default().Door
	d.ContactPin = "GPIO27"
	d.ExitPin = "GPIO22"
	d.UnlockSeconds = 5
	d.HeldOpenSeconds = 30
	d.DebounceMS = 50
	return d
}

func inPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, Num: 1, Clock: clockwork.NewRealClock(), EdgesChan: make(chan gpio.Level, 32)}
}

type rig struct {
	t       *testing.T
	cfg     config.Door
	c       *Controller
	clock   *clockwork.FakeClock
	relay   *gpiotest.Pin
	contact *gpiotest.Pin
	exit    *gpiotest.Pin
	db      *facedb.DB
	logs    *testenv.SyncBuffer
	cancel  context.CancelFunc
	runErr  chan error
	seen    int // records already checked by expectEvents
}

// newRig builds a controller on gpiotest pins, a fresh fake clock and a
// real facedb. contact/exit pins exist when cfg names them.
func newRig(t *testing.T, cfg config.Door) *rig {
	t.Helper()
	r := &rig{t: t, cfg: cfg, clock: clockwork.NewFakeClock(), db: openDB(t), logs: &testenv.SyncBuffer{}, runErr: make(chan error, 1)}
	r.relay = &gpiotest.Pin{N: cfg.RelayPin, Num: 17}
	var contact, exit gpio.PinIn
	if cfg.ContactPin != "" {
		r.contact = inPin(cfg.ContactPin)
		contact = r.contact
	}
	if cfg.ExitPin != "" {
		r.exit = inPin(cfg.ExitPin)
		exit = r.exit
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg, r.relay, contact, exit, r.db, r.clock, log)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	t.Cleanup(func() {
		if r.cancel != nil {
			r.cancel()
		}
		c.Close()
	})
	return r
}

// start runs the controller and waits until it has read its inputs.
func (r *rig) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.runErr <- r.c.Run(ctx) }()
	testenv.WaitFor(r.t, "inputs read", 10*time.Second, func() bool {
		r.c.mu.Lock()
		defer r.c.mu.Unlock()
		for _, in := range []*input{r.c.contact, r.c.exit} {
			if in != nil && !in.known {
				return false
			}
		}
		return r.c.running
	})
}

// startClosed runs the controller with the door shut: the pull resistor
// makes an unwired contact read "open", so the test closes it, as the real
// reed switch would.
func (r *rig) startClosed() {
	r.t.Helper()
	r.start()
	if got := r.c.State().Contact; got != ContactOpen {
		r.t.Fatalf("contact pulled to %q at start, want open (a broken wire must read open)", got)
	}
	r.setContact(false)
	r.settle(r.c.contact)
	r.expectEvents(event.DoorClosed)
}

func (r *rig) inputFor(p *gpiotest.Pin) *input {
	if p == r.contact {
		return r.c.contact
	}
	return r.c.exit
}

// edge sends one level change and waits until the controller has seen it.
func (r *rig) edge(p *gpiotest.Pin, l gpio.Level) {
	r.t.Helper()
	in := r.inputFor(p)
	n := in.edgeCount.Load()
	p.EdgesChan <- l
	testenv.WaitFor(r.t, "edge seen on "+p.N, 10*time.Second, func() bool { return in.edgeCount.Load() > n })
}

func (r *rig) setContact(open bool) {
	l := gpio.Level(open) // contact_open_high = true
	if !r.cfg.ContactOpenHigh {
		l = !l
	}
	r.edge(r.contact, l)
}

func (r *rig) setExit(pressed bool) {
	l := gpio.Level(pressed)
	if r.cfg.ExitActiveLow {
		l = !l
	}
	r.edge(r.exit, l)
}

// settle advances past the debounce period and waits for the input to be
// evaluated.
func (r *rig) settle(in *input) {
	r.t.Helper()
	n := in.settled.Load()
	r.clock.Advance(r.debounce())
	testenv.WaitFor(r.t, "input "+in.key+" settled", 10*time.Second, func() bool { return in.settled.Load() > n })
}

func (r *rig) debounce() time.Duration { return time.Duration(r.cfg.DebounceMS) * time.Millisecond }

// records returns what the controller recorded so far, oldest first.
func (r *rig) records() []facedb.Record {
	r.t.Helper()
	r.c.rec.wait()
	recs, err := r.db.Events(context.Background(), facedb.EventFilter{Limit: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	slices.Reverse(recs)
	return recs
}

func (r *rig) types() []string {
	var out []string
	for _, rec := range r.records() {
		out = append(out, rec.Kind+":"+rec.Type)
	}
	return out
}

// expectEvents checks the records written since the last call.
func (r *rig) expectEvents(types ...string) []facedb.Record {
	r.t.Helper()
	all := r.records()
	got := all[min(r.seen, len(all)):]
	r.seen = len(all)
	var gotTypes []string
	for _, rec := range got {
		gotTypes = append(gotTypes, rec.Type)
	}
	if !slices.Equal(gotTypes, types) {
		r.t.Fatalf("recorded %v, want %v", gotTypes, types)
	}
	return got
}

func (r *rig) audit() []facedb.AuditEntry {
	r.t.Helper()
	r.c.rec.wait()
	a, err := r.db.AuditLog(context.Background(), 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	slices.Reverse(a)
	return a
}

func (r *rig) relayEnergised() bool {
	want := gpio.High
	if r.cfg.RelayActiveLow {
		want = gpio.Low
	}
	return r.relay.Read() == want
}

func TestRelayLevels(t *testing.T) {
	for _, activeLow := range []bool{true, false} {
		name := "active-high"
		if activeLow {
			name = "active-low"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testCfg()
			cfg.RelayActiveLow = activeLow
			cfg.ContactPin, cfg.ExitPin = "", ""
			energised, released := gpio.High, gpio.Low
			if activeLow {
				energised, released = gpio.Low, gpio.High
			}
			// The relay pin is left energised (e.g. by a crashed process):
			// building the controller must release it at once.
			relay := &gpiotest.Pin{N: "GPIO17", L: energised}
			c, err := New(cfg, relay, nil, nil, openDB(t), clockwork.NewFakeClock(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := relay.Read(); got != released {
				t.Fatalf("relay %s after start-up, want released %s", got, released)
			}
			if !c.State().Locked {
				t.Fatal("state unlocked after start-up")
			}
			if err := c.Unlock(context.Background(), 0, event.SourceWeb, "admin"); err != nil {
				t.Fatal(err)
			}
			if got := relay.Read(); got != energised {
				t.Fatalf("relay %s after unlock, want energised %s", got, energised)
			}
			if err := c.Lock(context.Background(), event.SourceRemote, "req-1"); err != nil {
				t.Fatal(err)
			}
			if got := relay.Read(); got != released {
				t.Fatalf("relay %s after lock, want released %s", got, released)
			}
		})
	}
}

func TestUnlockTimingAndExtension(t *testing.T) {
	cfg := testCfg()
	cfg.ContactPin, cfg.ExitPin = "", ""
	r := newRig(t, cfg)
	ctx := context.Background()
	t0 := r.clock.Now()

	if err := r.c.Unlock(ctx, 0, event.SourceFace, "Alice"); err != nil {
		t.Fatal(err)
	}
	st := r.c.State()
	if st.Locked || !r.relayEnergised() {
		t.Fatal("not unlocked after Unlock")
	}
	if want := t0.Add(5 * time.Second); !st.UnlockedUntil.Equal(want) {
		t.Fatalf("unlocked until %v, want unlock_seconds later %v", st.UnlockedUntil, want)
	}

	r.clock.Advance(3 * time.Second)
	// A second unlock extends to 3 s + 5 s.
	if err := r.c.Unlock(ctx, 0, event.SourceRemote, "req-7"); err != nil {
		t.Fatal(err)
	}
	// A shorter one does not shorten it.
	if err := r.c.Unlock(ctx, time.Second, event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(8 * time.Second); !r.c.State().UnlockedUntil.Equal(want) {
		t.Fatalf("unlocked until %v after extension, want %v", r.c.State().UnlockedUntil, want)
	}
	r.clock.Advance(4999 * time.Millisecond) // t0 + 7.999 s
	if r.c.State().Locked || !r.relayEnergised() {
		t.Fatal("relocked before the extended time")
	}
	r.clock.Advance(time.Millisecond) // t0 + 8 s
	testenv.WaitFor(t, "relock at the extended time", 10*time.Second, func() bool { return r.c.State().Locked })
	if r.relayEnergised() {
		t.Fatal("state locked but relay still energised")
	}
	if !r.c.State().UnlockedUntil.IsZero() {
		t.Fatal("UnlockedUntil not cleared when locked")
	}

	// Lock releases at once, before the time is up.
	if err := r.c.Unlock(ctx, 10*time.Second, event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Lock(ctx, event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	if !r.c.State().Locked || r.relayEnergised() {
		t.Fatal("Lock did not release the relay at once")
	}
	// The old timer must not fire later and do anything odd.
	r.clock.Advance(time.Minute)

	if err := r.c.Unlock(ctx, 61*time.Second, event.SourceRemote, "req-8"); !errors.Is(err, ErrDuration) {
		t.Fatalf("unlock for 61 s: err %v, want ErrDuration", err)
	}
	if r.relayEnergised() {
		t.Fatal("refused unlock energised the relay")
	}

	// Every relay action is audited with who and what caused it.
	var got []string
	for _, a := range r.audit() {
		if a.Target != "relay" || !a.OK {
			t.Errorf("audit %+v: want target relay, ok", a)
		}
		got = append(got, a.Actor+" "+a.Action+" "+a.Detail)
	}
	want := []string{
		"system release source=start-up",
		"Alice unlock source=face duration=5s",
		"req-7 unlock source=remote duration=5s extended",
		"admin unlock source=web duration=1s already unlocked until " + t0.Add(8*time.Second).UTC().Format(time.RFC3339Nano),
		"door lock source=timer",
		"admin unlock source=web duration=10s",
		"admin lock source=web",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReleaseOnContextCancel(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Bob"); err != nil {
		t.Fatal(err)
	}
	r.cancel()
	if err := <-r.runErr; err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	if r.relayEnergised() || !r.c.State().Locked {
		t.Fatal("relay not released when Run returned")
	}
	// After Run ended the door stays locked.
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Bob"); !errors.Is(err, ErrClosed) {
		t.Fatalf("unlock after Run: %v, want ErrClosed", err)
	}
	if r.relayEnergised() {
		t.Fatal("relay energised after Run ended")
	}
	a := r.audit()
	last := a[len(a)-1]
	if last.Action != "unlock" || last.OK {
		t.Fatalf("refused unlock audited as %+v, want a failed unlock", last)
	}
	rel := a[len(a)-2]
	if rel.Action != "release" || rel.Detail != "source=run ended" || !rel.OK {
		t.Fatalf("release on Run end audited as %+v", rel)
	}
}

func TestReleaseWhenRunFails(t *testing.T) {
	cfg := testCfg()
	cfg.ExitPin = ""
	r := newRig(t, cfg)
	// A contact pin without edge support: configuring it fails.
	r.contact.EdgesChan = nil
	if err := r.c.Unlock(context.Background(), 0, event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	err := r.c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "contact_pin GPIO27") {
		t.Fatalf("Run: %v, want an error naming contact_pin GPIO27", err)
	}
	if r.relayEnergised() || !r.c.State().Locked {
		t.Fatal("relay not released when Run failed")
	}
}

// failingRelay is a gpiotest pin whose driver refuses to energise.
type failingRelay struct {
	*gpiotest.Pin
	bad gpio.Level
}

func (f *failingRelay) Out(l gpio.Level) error {
	if l == f.bad {
		return errors.New("gpio: write: input/output error")
	}
	return f.Pin.Out(l)
}

func TestRelayWriteErrorStopsRun(t *testing.T) {
	cfg := testCfg()
	cfg.ContactPin, cfg.ExitPin = "", ""
	relay := &failingRelay{Pin: &gpiotest.Pin{N: "GPIO17"}, bad: gpio.Low}
	c, err := New(cfg, relay, nil, nil, openDB(t), clockwork.NewFakeClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(context.Background()) }()
	err = c.Unlock(context.Background(), 0, event.SourceFace, "Carol")
	if !errors.Is(err, ErrRelay) {
		t.Fatalf("unlock with a broken relay: %v, want ErrRelay", err)
	}
	if err := <-runErr; !errors.Is(err, ErrRelay) {
		t.Fatalf("Run: %v, want ErrRelay so the daemon stops", err)
	}
	if relay.Read() != gpio.High || !c.State().Locked {
		t.Fatal("relay not at the released level after the failure")
	}
}

func TestCloseFromPanickingGoroutine(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Dan"); err != nil {
		t.Fatal(err)
	}
	// What the daemon does: another part panics, the recover path closes
	// the controller; other goroutines may close it at the same time.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if recover() != nil {
					r.c.Close()
				}
			}()
			panic("camera loop crashed")
		}()
	}
	wg.Wait()
	if err := <-r.runErr; err != nil {
		t.Fatalf("Run after Close: %v, want nil", err)
	}
	if r.relayEnergised() || !r.c.State().Locked {
		t.Fatal("relay not released by Close")
	}
	if err := r.c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
	ch, _ := r.c.Subscribe()
	if st, ok := <-ch; !ok || !st.Locked {
		t.Fatalf("Subscribe after Close: %+v %v, want the locked state", st, ok)
	}
	if _, ok := <-ch; ok {
		t.Fatal("subscription after Close not closed")
	}
}

func TestForcedOpen(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()

	// Opened while locked, with no exit request: forced.
	openedAt := r.clock.Now()
	r.setContact(true)
	r.settle(r.c.contact)
	recs := r.expectEvents(event.DoorOpened, event.DoorForcedOpen)
	if recs[1].Kind != "alarm" || recs[1].Source != event.SourceDoor {
		t.Fatalf("forced-open record %+v, want an alarm from the door", recs[1])
	}
	if !recs[1].TS.Equal(openedAt.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("alarm time %v, want when the door moved %v", recs[1].TS, openedAt)
	}
	if st := r.c.State(); !st.ForcedOpen || st.Contact != ContactOpen {
		t.Fatalf("state %+v, want forced open", st)
	}
	// Cleared when it closes.
	r.setContact(false)
	r.settle(r.c.contact)
	recs = r.expectEvents(event.DoorClosed)
	if c, _ := recs[0].Detail["cleared"].([]any); len(c) != 1 || c[0] != event.DoorForcedOpen {
		t.Fatalf("door_closed detail %v, want cleared door_forced_open", recs[0].Detail)
	}
	if st := r.c.State(); st.ForcedOpen || st.Contact != ContactClosed {
		t.Fatalf("state %+v after closing", st)
	}

	// Opened while unlocked: no alarm.
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Eve"); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2 * time.Second)
	r.setContact(true)
	r.settle(r.c.contact)
	recs = r.expectEvents(event.DoorOpened)
	if recs[0].Detail["authorised"] != true {
		t.Fatalf("door_opened detail %v, want authorised", recs[0].Detail)
	}
	r.setContact(false)
	r.settle(r.c.contact)
	r.expectEvents(event.DoorClosed)

	// Opened just after the relock: forced again.
	r.clock.Advance(3 * time.Second)
	testenv.WaitFor(t, "relock", 10*time.Second, func() bool { return r.c.State().Locked })
	r.clock.Advance(time.Millisecond)
	r.setContact(true)
	r.settle(r.c.contact)
	r.expectEvents(event.DoorOpened, event.DoorForcedOpen)
}

func TestExitRequestIsNotForced(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()
	r.setExit(true)
	r.settle(r.c.exit)
	r.setExit(false)
	r.settle(r.c.exit)
	r.setContact(true)
	r.settle(r.c.contact)
	r.expectEvents(event.ExitButton, event.DoorOpened)
	if r.c.State().ForcedOpen {
		t.Fatal("forced-open alarm after an exit request")
	}
}

func TestHeldOpen(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()
	held := 30 * time.Second

	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Fay"); err != nil {
		t.Fatal(err)
	}
	r.setContact(true)
	r.settle(r.c.contact) // the door opened debounce (50 ms) ago
	r.expectEvents(event.DoorOpened)
	r.clock.Advance(held - r.debounce() - time.Millisecond)
	if r.c.State().HeldOpen {
		t.Fatal("held-open alarm before held_open_seconds")
	}
	r.clock.Advance(time.Millisecond)
	testenv.WaitFor(t, "held-open alarm", 10*time.Second, func() bool { return r.c.State().HeldOpen })
	recs := r.expectEvents(event.DoorHeldOpen)
	if recs[0].Kind != "alarm" || recs[0].Detail["held_open_seconds"] != 30.0 {
		t.Fatalf("held-open record %+v", recs[0])
	}
	// Cleared when it closes.
	r.setContact(false)
	r.settle(r.c.contact)
	recs = r.expectEvents(event.DoorClosed)
	if c, _ := recs[0].Detail["cleared"].([]any); len(c) != 1 || c[0] != event.DoorHeldOpen {
		t.Fatalf("door_closed detail %v, want cleared door_held_open", recs[0].Detail)
	}
	if recs[0].Detail["open_seconds"] != 30.0 {
		t.Fatalf("open_seconds %v, want 30", recs[0].Detail["open_seconds"])
	}
	if r.c.State().HeldOpen {
		t.Fatal("held-open still set after closing")
	}

	// Closed in time: no alarm, ever.
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Fay"); err != nil {
		t.Fatal(err)
	}
	r.setContact(true)
	r.settle(r.c.contact)
	r.clock.Advance(10 * time.Second)
	r.setContact(false)
	r.settle(r.c.contact)
	r.clock.Advance(time.Hour)
	r.expectEvents(event.DoorOpened, event.DoorClosed)
}

func TestDebounceBouncingContact(t *testing.T) {
	r := newRig(t, testCfg())
	r.startClosed()
	in := r.c.contact
	settled := in.settled.Load()

	// The reed switch chatters for 40 ms as the door opens, 10 ms apart,
	// each time less than the 50 ms debounce.
	firstEdge := r.clock.Now()
	for i, open := range []bool{true, false, true, false, true} {
		if i > 0 {
			r.clock.Advance(10 * time.Millisecond)
		}
		r.setContact(open)
	}
	r.clock.Advance(49 * time.Millisecond)
	if in.settled.Load() != settled || r.c.State().Contact != ContactClosed {
		t.Fatal("contact evaluated before it was quiet for the debounce period")
	}
	r.clock.Advance(time.Millisecond)
	testenv.WaitFor(t, "settle", 10*time.Second, func() bool { return in.settled.Load() > settled })
	recs := r.expectEvents(event.DoorOpened, event.DoorForcedOpen)
	if !recs[0].TS.Equal(firstEdge.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("door_opened at %v, want the first edge %v", recs[0].TS, firstEdge)
	}

	// A glitch that returns to the stable level is no event at all.
	r.setContact(false)
	r.clock.Advance(5 * time.Millisecond)
	r.setContact(true)
	r.settle(in)
	r.expectEvents()
	if r.c.State().Contact != ContactOpen {
		t.Fatal("glitch changed the contact state")
	}
}

func TestExitButtonUnlocks(t *testing.T) {
	cfg := testCfg()
	r := newRig(t, cfg)
	r.startClosed()

	// A 20 ms bounce of the button is not a press.
	r.setExit(true)
	r.clock.Advance(20 * time.Millisecond)
	r.setExit(false)
	r.settle(r.c.exit)
	if r.relayEnergised() {
		t.Fatal("a bounce shorter than debounce unlocked the door")
	}
	r.expectEvents()

	pressedAt := r.clock.Now()
	r.setExit(true)
	r.settle(r.c.exit)
	if !r.relayEnergised() || r.c.State().Locked {
		t.Fatal("exit button did not unlock")
	}
	if want := pressedAt.Add(5 * time.Second).Add(r.debounce()); !r.c.State().UnlockedUntil.Equal(want) {
		t.Fatalf("unlocked until %v, want unlock_seconds after the press was seen %v", r.c.State().UnlockedUntil, want)
	}
	recs := r.expectEvents(event.ExitButton)
	if recs[0].Source != event.SourceExitButton || recs[0].Kind != "event" {
		t.Fatalf("exit record %+v", recs[0])
	}
	// Holding the button does not unlock again; releasing records nothing.
	r.setExit(false)
	r.settle(r.c.exit)
	r.expectEvents()
	a := r.audit()
	last := a[len(a)-1]
	if last.Actor != "exit_button" || last.Action != "unlock" || last.Detail != "source=exit_button duration=5s" {
		t.Fatalf("audit %+v, want the exit button's unlock", last)
	}
	r.clock.Advance(5 * time.Second)
	testenv.WaitFor(t, "relock", 10*time.Second, func() bool { return r.c.State().Locked })
	if r.relayEnergised() {
		t.Fatal("relay energised after relock")
	}
}

func TestActiveHighInputs(t *testing.T) {
	cfg := testCfg()
	cfg.ContactOpenHigh = false // contact pulls low when the door opens
	cfg.ExitActiveLow = false
	r := newRig(t, cfg)
	r.start()
	if r.contact.Pull() != gpio.PullDown || r.exit.Pull() != gpio.PullDown {
		t.Fatalf("pulls %s/%s, want pull-down for active-low-open contact and active-high button", r.contact.Pull(), r.exit.Pull())
	}
	if r.c.State().Contact != ContactOpen {
		t.Fatal("unwired contact must read open")
	}
	r.edge(r.contact, gpio.High)
	r.settle(r.c.contact)
	if r.c.State().Contact != ContactClosed {
		t.Fatal("high level not read as closed with contact_open_high = false")
	}
	r.edge(r.exit, gpio.High)
	r.settle(r.c.exit)
	if !r.relayEnergised() {
		t.Fatal("active-high exit button did not unlock")
	}
}

// blockingJournal stalls every write until released, like a database
// stuck behind a lock; it passes writes on to the real database.
type blockingJournal struct {
	*facedb.DB
	gate chan struct{}
}

func (b *blockingJournal) Record(ctx context.Context, r facedb.Record) (facedb.Record, error) {
	<-b.gate
	return b.DB.Record(ctx, r)
}

func (b *blockingJournal) Audit(ctx context.Context, e facedb.AuditEntry) error {
	<-b.gate
	return b.DB.Audit(ctx, e)
}

func TestStalledDatabaseDoesNotBlockDoor(t *testing.T) {
	cfg := testCfg()
	cfg.ContactPin, cfg.ExitPin = "", ""
	db := openDB(t)
	j := &blockingJournal{DB: db, gate: make(chan struct{})}
	clock := clockwork.NewFakeClock()
	relay := &gpiotest.Pin{N: "GPIO17"}
	c, err := New(cfg, relay, nil, nil, j, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		if err := c.Unlock(context.Background(), 0, event.SourceFace, "Gil"); err != nil {
			t.Fatal(err)
		}
		if relay.Read() != gpio.Low {
			t.Fatalf("unlock %d: relay not energised while the database is stalled", i)
		}
		if err := c.Lock(context.Background(), event.SourceWeb, "admin"); err != nil {
			t.Fatal(err)
		}
		if relay.Read() != gpio.High {
			t.Fatalf("lock %d: relay not released while the database is stalled", i)
		}
	}
	close(j.gate)
	c.rec.wait()
	a, err := db.AuditLog(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 41 { // start-up release + 20 unlocks + 20 locks
		t.Fatalf("%d audit entries written once the database recovered, want 41", len(a))
	}
}

func TestFailedDatabaseIsLoggedAndDoorWorks(t *testing.T) {
	cfg := testCfg()
	cfg.ExitPin = ""
	r := newRig(t, cfg)
	r.startClosed()
	r.db.Close() // the database fails from now on
	if err := r.c.Unlock(context.Background(), 0, event.SourceFace, "Hal"); err != nil {
		t.Fatalf("unlock with a failed database: %v", err)
	}
	if !r.relayEnergised() {
		t.Fatal("relay not energised with a failed database")
	}
	r.setContact(true)
	r.settle(r.c.contact)
	if r.c.State().Contact != ContactOpen {
		t.Fatal("contact not tracked with a failed database")
	}
	if err := r.c.Lock(context.Background(), event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	if r.relayEnergised() {
		t.Fatal("relay not released with a failed database")
	}
	r.c.rec.wait()
	logs := r.logs.String()
	for _, want := range []string{"door: audit failed", "door: recording failed", "type=door_opened", "database is closed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestSubscribe(t *testing.T) {
	r := newRig(t, testCfg())
	ch, cancel := r.c.Subscribe()
	if st := <-ch; !st.Locked || st.Contact != ContactUnknown || st.Sim {
		t.Fatalf("first state %+v, want locked, contact unknown before Run", st)
	}
	r.startClosed()
	if st := <-ch; st.Contact != ContactClosed {
		t.Fatalf("latest state %+v, want contact closed", st)
	}
	if err := r.c.Unlock(context.Background(), 0, event.SourceWeb, "admin"); err != nil {
		t.Fatal(err)
	}
	if st := <-ch; st.Locked || st.DoorState() != "unlocked" || st.UnlockedUntil.IsZero() {
		t.Fatalf("state after unlock %+v", st)
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	if err := r.c.Lock(context.Background(), event.SourceWeb, "admin"); err != nil {
		t.Fatal(err) // must not block or panic on the cancelled subscription
	}
}

func TestRunTwiceRefused(t *testing.T) {
	cfg := testCfg()
	cfg.ContactPin, cfg.ExitPin = "", ""
	r := newRig(t, cfg)
	r.start()
	if err := r.c.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
}

func TestSimNeedsSimGPIO(t *testing.T) {
	r := newRig(t, testCfg())
	if err := r.c.SimContact(true); !errors.Is(err, ErrNotSim) {
		t.Fatalf("SimContact on real pins: %v, want ErrNotSim", err)
	}
	if err := r.c.SimExitPress(); !errors.Is(err, ErrNotSim) {
		t.Fatalf("SimExitPress on real pins: %v, want ErrNotSim", err)
	}
}

func TestNoDebounce(t *testing.T) {
	cfg := testCfg()
	cfg.DebounceMS = 0 // every edge is read at once
	r := newRig(t, cfg)
	r.start()
	in := r.c.contact
	n := in.settled.Load()
	r.setContact(false)
	testenv.WaitFor(t, "settle", 10*time.Second, func() bool { return in.settled.Load() > n })
	r.setContact(true)
	testenv.WaitFor(t, "settle", 10*time.Second, func() bool { return in.settled.Load() > n+1 })
	r.expectEvents(event.DoorClosed, event.DoorOpened, event.DoorForcedOpen)
	r.setExit(true)
	testenv.WaitFor(t, "exit unlock", 10*time.Second, func() bool { return !r.c.State().Locked })
}

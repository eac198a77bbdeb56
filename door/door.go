package door

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

// Errors returned by the controller; check them with errors.Is.
var (
	ErrClosed   = errors.New("door: controller closed")
	ErrRunning  = errors.New("door: controller already running")
	ErrDuration = errors.New("door: unlock duration out of range")
	ErrNoPin    = errors.New("door: no such GPIO pin")
	ErrRelay    = errors.New("door: relay write failed")
	ErrNotSim   = errors.New("door: not simulated GPIO")
	ErrNoInput  = errors.New("door: input not configured")
)

// MaxUnlock is the longest one Unlock may energise the relay.
const MaxUnlock = 60 * time.Second

// Contact states.
const (
	ContactOpen    = "open"
	ContactClosed  = "closed"
	ContactUnknown = "unknown"
)

// State is what the MQTT state topic and the web page show.
type State struct {
	Locked        bool      // relay released
	Contact       string    // "open", "closed" or "unknown" (no contact pin, or not read yet)
	UnlockedUntil time.Time // zero while locked
	Sim           bool      // simulated GPIO
	ForcedOpen    bool      // door_forced_open alarm active (cleared when the door closes)
	HeldOpen      bool      // door_held_open alarm active (cleared when the door closes)
}

// DoorState is "locked" or "unlocked", as the MQTT state topic spells it.
func (s State) DoorState() string {
	if s.Locked {
		return "locked"
	}
	return "unlocked"
}

// input is one debounced GPIO input. Its mutable fields are guarded by
// Controller.mu.
type input struct {
	key    string // config key, for messages: "contact_pin", "exit_pin"
	pin    gpio.PinIn
	pull   gpio.Pull
	active gpio.Level // level meaning "door open" / "button pressed"

	gen       uint64
	timer     clockwork.Timer
	burstAt   time.Time // first edge of the current bounce burst
	known     bool
	on        bool // debounced: open / pressed
	edgeCount atomic.Int64
	settled   atomic.Int64
}

// Controller drives the relay and watches the inputs. It is safe for
// concurrent use.
type Controller struct {
	relay    gpio.PinOut
	contact  *input // nil when not configured
	exit     *input // nil when not configured
	clock    clockwork.Clock
	log      *slog.Logger
	rec      *recorder
	sim      *simPins
	relayKey string

	energised, released   gpio.Level
	unlockFor, heldOpen   time.Duration
	debounce, edgeTimeout time.Duration

	fatal chan error    // relay failures outside Run's goroutine; cap 1
	done  chan struct{} // closed by shutdown: Run returns

	mu          sync.Mutex
	closed      bool
	running     bool
	locked      bool
	until       time.Time // relay energised until (zero while locked)
	authUntil   time.Time // the door may open without an alarm until this time
	relockGen   uint64
	relockTimer clockwork.Timer
	heldGen     uint64
	heldTimer   clockwork.Timer
	openedAt    time.Time
	forced      bool
	held        bool
	subs        map[chan State]struct{}
	subsClosed  bool

	closeOnce sync.Once
	closeErr  error
}

// New builds a controller on the given pins and releases the relay at once.
// contact and exit may be nil when not fitted. Inputs are configured (pull
// resistor, both edges) by Run. clock drives unlock, debounce and held-open
// timing (clockwork.NewRealClock() outside tests). j may be nil (nothing is
// recorded).
func New(cfg config.Door, relay gpio.PinOut, contact, exit gpio.PinIn, j Journal, clock clockwork.Clock, log *slog.Logger) (*Controller, error) {
	return newController(cfg, relay, contact, exit, j, clock, log, false)
}

func newController(cfg config.Door, relay gpio.PinOut, contact, exit gpio.PinIn, j Journal, clock clockwork.Clock, log *slog.Logger, keepPull bool) (*Controller, error) {
	if relay == nil {
		return nil, fmt.Errorf("door: relay_pin: no relay pin given")
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		relay:       relay,
		clock:       clock,
		log:         log.With("component", "door"),
		relayKey:    cfg.RelayPin,
		energised:   gpio.High,
		released:    gpio.Low,
		unlockFor:   seconds(cfg.UnlockSeconds),
		heldOpen:    seconds(cfg.HeldOpenSeconds),
		debounce:    time.Duration(cfg.DebounceMS) * time.Millisecond,
		edgeTimeout: 250 * time.Millisecond,
		fatal:       make(chan error, 1),
		done:        make(chan struct{}),
		subs:        map[chan State]struct{}{},
	}
	if cfg.RelayActiveLow {
		c.energised, c.released = gpio.Low, gpio.High
	}
	if c.unlockFor <= 0 || c.unlockFor > MaxUnlock {
		return nil, fmt.Errorf("%w: door.unlock_seconds = %v (want 0 < s <= %v)", ErrDuration, cfg.UnlockSeconds, MaxUnlock.Seconds())
	}
	if c.heldOpen <= 0 {
		return nil, fmt.Errorf("door: door.held_open_seconds = %v must be positive", cfg.HeldOpenSeconds)
	}
	if c.debounce < 0 {
		return nil, fmt.Errorf("door: door.debounce_ms = %d must not be negative", cfg.DebounceMS)
	}
	// Pull resistors are chosen so that a broken wire reads "door open" and
	// "button released". Simulated pins keep their level (keepPull).
	if contact != nil {
		in := &input{key: "contact_pin", pin: contact, active: gpio.Low, pull: gpio.PullDown}
		if cfg.ContactOpenHigh {
			in.active, in.pull = gpio.High, gpio.PullUp
		}
		c.contact = in
	}
	if exit != nil {
		in := &input{key: "exit_pin", pin: exit, active: gpio.High, pull: gpio.PullDown}
		if cfg.ExitActiveLow {
			in.active, in.pull = gpio.Low, gpio.PullUp
		}
		c.exit = in
	}
	for _, in := range []*input{c.contact, c.exit} {
		if in != nil && keepPull {
			in.pull = gpio.PullNoChange
		}
	}
	c.rec = newRecorder(j, c.log)
	c.mu.Lock()
	err := c.releaseLocked("start-up")
	c.mu.Unlock()
	if err != nil {
		c.rec.close(time.Second)
		return nil, err
	}
	return c, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// State returns the current door state.
func (c *Controller) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked()
}

func (c *Controller) stateLocked() State {
	s := State{Locked: c.locked, Contact: ContactUnknown, Sim: c.sim != nil, ForcedOpen: c.forced, HeldOpen: c.held}
	if !c.locked {
		s.UnlockedUntil = c.until
	}
	if c.contact != nil && c.contact.known {
		s.Contact = ContactClosed
		if c.contact.on {
			s.Contact = ContactOpen
		}
	}
	return s
}

// Subscribe returns a channel that always holds the latest state: it gets
// the current state at once and a new value on every change (older values
// not yet read are replaced). cancel stops the subscription; Close closes
// every subscription's channel.
func (c *Controller) Subscribe() (<-chan State, func()) {
	ch := make(chan State, 1)
	c.mu.Lock()
	ch <- c.stateLocked()
	if c.subsClosed {
		close(ch)
	} else {
		c.subs[ch] = struct{}{}
	}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
	}
}

func (c *Controller) publishLocked() {
	s := c.stateLocked()
	for ch := range c.subs {
		select {
		case <-ch:
		default:
		}
		ch <- s // cannot block: the only sender holds c.mu and just emptied it
	}
}

// Unlock energises the relay for d (d <= 0 means unlock_seconds). An unlock
// while unlocked extends the time if it ends later. source is face,
// exit_button, remote or web; actor names who (a person, a user, a request).
func (c *Controller) Unlock(ctx context.Context, d time.Duration, source, actor string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("door: unlock: %w", err)
	}
	if d <= 0 {
		d = c.unlockFor
	}
	if d > MaxUnlock {
		return fmt.Errorf("%w: %v is longer than %v", ErrDuration, d, MaxUnlock)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unlockLocked(d, source, actor)
}

func (c *Controller) unlockLocked(d time.Duration, source, actor string) error {
	if c.closed {
		c.auditLocked(actor, "unlock", fmt.Sprintf("source=%s duration=%s refused: controller closed", source, d), false)
		return ErrClosed
	}
	now := c.clock.Now()
	end := now.Add(d)
	if c.locked {
		if err := c.relay.Out(c.energised); err != nil {
			err = fmt.Errorf("%w: %s %s: %w", ErrRelay, c.relayKey, c.energised, err)
			c.auditLocked(actor, "unlock", fmt.Sprintf("source=%s duration=%s: %v", source, d, err), false)
			c.log.Error("door: unlock failed", "source", source, "actor", actor, "err", err)
			c.relayFailed(err)
			_ = c.releaseLocked("relay error")
			return err
		}
		c.locked = false
		c.until = end
		c.log.Info("door unlocked", "source", source, "actor", actor, "for", d)
		c.auditLocked(actor, "unlock", fmt.Sprintf("source=%s duration=%s", source, d), true)
	} else if end.After(c.until) {
		c.log.Info("door unlock extended", "source", source, "actor", actor, "by", end.Sub(c.until))
		c.until = end
		c.auditLocked(actor, "unlock", fmt.Sprintf("source=%s duration=%s extended", source, d), true)
	} else {
		c.auditLocked(actor, "unlock", fmt.Sprintf("source=%s duration=%s already unlocked until %s", source, d, c.until.UTC().Format(time.RFC3339Nano)), true)
		return nil
	}
	if end.After(c.authUntil) {
		c.authUntil = end
	}
	c.armRelockLocked(c.until.Sub(now))
	c.publishLocked()
	return nil
}

func (c *Controller) armRelockLocked(d time.Duration) {
	if c.relockTimer != nil {
		c.relockTimer.Stop()
	}
	c.relockGen++
	gen := c.relockGen
	c.relockTimer = c.clock.AfterFunc(d, func() { c.relock(gen) })
}

func (c *Controller) relock(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.relockGen || c.locked || c.closed {
		return
	}
	_ = c.lockLocked("timer", "door", "lock")
}

// Lock releases the relay at once.
func (c *Controller) Lock(ctx context.Context, source, actor string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("door: lock: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.auditLocked(actor, "lock", fmt.Sprintf("source=%s refused: controller closed (relay already released)", source), false)
		return ErrClosed
	}
	return c.lockLocked(source, actor, "lock")
}

// lockLocked releases the relay and stops the unlock timer. action is "lock"
// or "release" for the audit log.
func (c *Controller) lockLocked(source, actor, action string) error {
	now := c.clock.Now()
	wasUnlocked := !c.locked
	c.relockGen++
	if c.relockTimer != nil {
		c.relockTimer.Stop()
		c.relockTimer = nil
	}
	err := c.relay.Out(c.released)
	c.locked = true
	c.until = time.Time{}
	if c.authUntil.After(now) {
		c.authUntil = now
	}
	detail := "source=" + source
	if !wasUnlocked {
		detail += " (was locked)"
	}
	if err != nil {
		err = fmt.Errorf("%w: %s %s: %w", ErrRelay, c.relayKey, c.released, err)
		c.auditLocked(actor, action, detail+": "+err.Error(), false)
		c.log.Error("door: relay release failed: the door may be unlocked", "source", source, "err", err)
		c.relayFailed(err)
	} else {
		c.auditLocked(actor, action, detail, true)
		if wasUnlocked {
			c.log.Info("door locked", "source", source, "actor", actor)
		}
	}
	c.publishLocked()
	return err
}

func (c *Controller) releaseLocked(reason string) error {
	return c.lockLocked(reason, event.SourceSystem, "release")
}

// relayFailed hands a relay error to Run, which returns it.
func (c *Controller) relayFailed(err error) {
	select {
	case c.fatal <- err:
	default:
	}
}

func (c *Controller) auditLocked(actor, action, detail string, ok bool) {
	c.rec.add(facedb.AuditEntry{TS: c.clock.Now(), Actor: actor, Action: action, Target: "relay", Detail: detail, OK: ok})
}

func (c *Controller) recordLocked(kind, typ, source string, at time.Time, detail map[string]any) {
	c.rec.add(facedb.Record{Kind: kind, TS: at, Type: typ, Source: source, Detail: detail})
}

// Run configures the inputs, watches them until ctx is cancelled (or Close
// is called) and raises the alarms. It returns nil then, and an error when an
// input cannot be configured or the relay cannot be written. The relay is
// released when Run returns, on every path; after that the controller
// refuses to unlock.
func (c *Controller) Run(ctx context.Context) (err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.running {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	c.mu.Unlock()
	// Deferred, so it also runs if anything below panics.
	defer func() {
		reason := "run ended"
		if err != nil {
			reason = "run failed"
		}
		c.shutdown(reason)
	}()

	var inputs []*input
	for _, in := range []*input{c.contact, c.exit} {
		if in == nil {
			continue
		}
		if err := in.pin.In(in.pull, gpio.BothEdges); err != nil {
			return fmt.Errorf("door: %s %s: configure input with edge detection: %w", in.key, in.pin.Name(), err)
		}
		inputs = append(inputs, in)
	}
	c.mu.Lock()
	for _, in := range inputs {
		in.on = in.pin.Read() == in.active
		in.known = true
	}
	if c.contact != nil {
		c.log.Info("door contact", "state", c.stateLocked().Contact)
	}
	c.publishLocked()
	c.mu.Unlock()

	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.watch(wctx, in)
		}()
	}
	select {
	case <-ctx.Done():
	case <-c.done: // Close
	case err = <-c.fatal:
	}
	stop()
	wg.Wait()
	return err
}

// watch waits for edges on one input. The finite timeout lets it notice
// cancellation: gpio.PinIn has no way to interrupt WaitForEdge.
func (c *Controller) watch(ctx context.Context, in *input) {
	for ctx.Err() == nil {
		if in.pin.WaitForEdge(c.edgeTimeout) {
			c.edge(in)
		}
	}
}

// edge starts or restarts the debounce period of in.
func (c *Controller) edge(in *input) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer in.edgeCount.Add(1) // after the timer is armed, still under mu (tests wait on it)
	if c.closed {
		return
	}
	if in.timer != nil {
		in.timer.Stop()
	} else {
		in.burstAt = c.clock.Now()
	}
	in.gen++
	gen := in.gen
	if c.debounce == 0 {
		in.timer = nil
		c.settleLocked(in)
		return
	}
	in.timer = c.clock.AfterFunc(c.debounce, func() { c.settle(in, gen) })
}

func (c *Controller) settle(in *input, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != in.gen || c.closed {
		return
	}
	in.timer = nil
	c.settleLocked(in)
}

// settleLocked reads in after its level has been quiet for the debounce
// period and acts on a change.
func (c *Controller) settleLocked(in *input) {
	defer in.settled.Add(1) // after the effects (tests wait on it)
	on := in.pin.Read() == in.active
	if in.known && on == in.on {
		return // bounced back to where it was
	}
	in.known = true
	in.on = on
	switch {
	case in == c.contact && on:
		c.doorOpenedLocked(in.burstAt)
	case in == c.contact:
		c.doorClosedLocked(in.burstAt)
	case in == c.exit && on:
		c.exitPressedLocked(in.burstAt)
	}
	c.publishLocked()
}

func (c *Controller) doorOpenedLocked(at time.Time) {
	c.openedAt = at
	authorised := !c.locked || !at.After(c.authUntil)
	c.recordLocked(event.KindEvent, event.DoorOpened, event.SourceDoor, at, map[string]any{"authorised": authorised})
	if !authorised {
		c.forced = true
		c.log.Warn("door forced open")
		c.recordLocked(event.KindAlarm, event.DoorForcedOpen, event.SourceDoor, at, nil)
		return
	}
	c.log.Info("door opened")
	c.heldGen++
	gen := c.heldGen
	wait := c.heldOpen - c.clock.Since(at)
	c.heldTimer = c.clock.AfterFunc(wait, func() { c.heldOpenFired(gen) })
}

func (c *Controller) heldOpenFired(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.heldGen || c.closed || c.contact == nil || !c.contact.on {
		return
	}
	c.held = true
	c.log.Warn("door held open", "for", c.heldOpen)
	c.recordLocked(event.KindAlarm, event.DoorHeldOpen, event.SourceDoor, c.clock.Now(),
		map[string]any{"held_open_seconds": c.heldOpen.Seconds()})
	c.publishLocked()
}

func (c *Controller) doorClosedLocked(at time.Time) {
	c.heldGen++
	if c.heldTimer != nil {
		c.heldTimer.Stop()
		c.heldTimer = nil
	}
	detail := map[string]any{}
	if !c.openedAt.IsZero() {
		detail["open_seconds"] = at.Sub(c.openedAt).Seconds()
	}
	var cleared []string
	if c.forced {
		cleared = append(cleared, event.DoorForcedOpen)
	}
	if c.held {
		cleared = append(cleared, event.DoorHeldOpen)
	}
	if len(cleared) > 0 {
		detail["cleared"] = cleared
	}
	c.forced, c.held = false, false
	c.openedAt = time.Time{}
	c.log.Info("door closed")
	c.recordLocked(event.KindEvent, event.DoorClosed, event.SourceDoor, at, detail)
}

func (c *Controller) exitPressedLocked(at time.Time) {
	c.log.Info("exit button pressed")
	c.recordLocked(event.KindEvent, event.ExitButton, event.SourceExitButton, at, nil)
	// The request to exit authorises opening even if the relay write fails.
	if end := at.Add(c.unlockFor); end.After(c.authUntil) {
		c.authUntil = end
	}
	_ = c.unlockLocked(c.unlockFor, event.SourceExitButton, event.ExitButton)
}

// shutdown releases the relay and refuses further unlocks.
func (c *Controller) shutdown(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	_ = c.releaseLocked(reason)
	c.closed = true
	close(c.done)
	c.heldGen++
	if c.heldTimer != nil {
		c.heldTimer.Stop()
	}
	for _, in := range []*input{c.contact, c.exit} {
		if in != nil && in.timer != nil {
			in.timer.Stop()
			in.gen++
		}
	}
}

// Close releases the relay (door locked), stops the controller and writes
// what is still queued for the journal (waiting at most a few seconds). It
// is idempotent and safe to call from any goroutine, also while Run runs.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		c.shutdown("close")
		// The last release is written by Close itself, so the relay is
		// released even if it failed before.
		c.mu.Lock()
		if err := c.relay.Out(c.released); err != nil {
			c.closeErr = fmt.Errorf("%w: %s %s: %w", ErrRelay, c.relayKey, c.released, err)
		}
		for ch := range c.subs {
			delete(c.subs, ch)
			close(ch)
		}
		c.subsClosed = true
		c.mu.Unlock()
		if n := c.rec.close(5 * time.Second); n > 0 {
			c.log.Error("door: journal not written before close", "entries", n)
		}
	})
	return c.closeErr
}

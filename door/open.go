package door

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3"

	"github.com/facegate/facegate/config"
)

// Open builds the controller for cfg.GPIO: "periph" opens the real pins
// (host.Init, gpioreg.ByName), "sim" builds simulated pins. The relay is
// released at once.
func Open(cfg config.Door, j Journal, log *slog.Logger) (*Controller, error) {
	return open(cfg, j, clockwork.NewRealClock(), log)
}

func open(cfg config.Door, j Journal, clock clockwork.Clock, log *slog.Logger) (*Controller, error) {
	switch cfg.GPIO {
	case "sim":
		sp := newSimPins(cfg)
		var contact, exit gpio.PinIn
		if sp.contact != nil {
			contact = sp.contact
		}
		if sp.exit != nil {
			exit = sp.exit
		}
		c, err := newController(cfg, sp.relay, contact, exit, j, clock, log, true)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.sim = sp
		c.publishLocked()
		c.mu.Unlock()
		return c, nil
	case "periph":
		relay, contact, exit, err := periphPins(cfg)
		if err != nil {
			return nil, err
		}
		return newController(cfg, relay, contact, exit, j, clock, log, false)
	default:
		return nil, fmt.Errorf("door: door.gpio = %q is not one of sim, periph", cfg.GPIO)
	}
}

// Release sets the relay pin to its released (locked) level and touches
// nothing else. It is what `facegate door release` runs from the unit's
// ExecStopPost, while the daemon is not running. With gpio = "sim" there is
// no pin outside the daemon and it does nothing.
func Release(cfg config.Door) error {
	switch cfg.GPIO {
	case "sim":
		return nil
	case "periph":
		if err := hostInit(); err != nil {
			return err
		}
		p, err := lookupPin("door.relay_pin", cfg.RelayPin)
		if err != nil {
			return err
		}
		level := releasedLevel(cfg)
		if err := p.Out(level); err != nil {
			return fmt.Errorf("%w: door.relay_pin %s: set %s: %w", ErrRelay, cfg.RelayPin, level, err)
		}
		return nil
	default:
		return fmt.Errorf("door: door.gpio = %q is not one of sim, periph", cfg.GPIO)
	}
}

// releasedLevel is the relay level of a locked door.
func releasedLevel(cfg config.Door) gpio.Level {
	if cfg.RelayActiveLow {
		return gpio.High
	}
	return gpio.Low
}

var hostInitOnce = sync.OnceValues(func() (*driverreg.State, error) { return host.Init() })

func hostInit() error {
	if _, err := hostInitOnce(); err != nil {
		return fmt.Errorf("door: periph host init: %w", err)
	}
	return nil
}

func periphPins(cfg config.Door) (relay gpio.PinOut, contact, exit gpio.PinIn, err error) {
	if err := hostInit(); err != nil {
		return nil, nil, nil, err
	}
	r, err := lookupPin("door.relay_pin", cfg.RelayPin)
	if err != nil {
		return nil, nil, nil, err
	}
	relay = r
	// Fail-secure first: the relay is released even if an input is wrong.
	if err := r.Out(releasedLevel(cfg)); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: door.relay_pin %s: set %s: %w", ErrRelay, cfg.RelayPin, releasedLevel(cfg), err)
	}
	if cfg.ContactPin != "" {
		p, err := lookupPin("door.contact_pin", cfg.ContactPin)
		if err != nil {
			return nil, nil, nil, err
		}
		contact = p
	}
	if cfg.ExitPin != "" {
		p, err := lookupPin("door.exit_pin", cfg.ExitPin)
		if err != nil {
			return nil, nil, nil, err
		}
		exit = p
	}
	return relay, contact, exit, nil
}

// lookupPin finds a registered GPIO pin by name (or number/alias) and names
// the config key and the pins that do exist when it is missing.
func lookupPin(key, name string) (gpio.PinIO, error) {
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	all := gpioreg.All()
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %s = %q: no GPIO pins are registered on this machine "+
			"(not a Raspberry Pi, or no access to /dev/gpiomem and /dev/gpiochip*)", ErrNoPin, key, name)
	}
	names := make([]string, 0, len(all))
	for _, p := range all {
		names = append(names, p.Name())
	}
	sort.Strings(names)
	more := ""
	if len(names) > 12 {
		more = fmt.Sprintf(", ... (%d in all)", len(names))
		names = names[:12]
	}
	return nil, fmt.Errorf("%w: %s = %q does not exist; known pins: %s%s", ErrNoPin, key, name, strings.Join(names, ", "), more)
}

// simPins are the gpiotest pins of gpio = "sim".
type simPins struct {
	relay      *gpiotest.Pin
	contact    *gpiotest.Pin // nil without contact_pin
	exit       *gpiotest.Pin // nil without exit_pin
	openLevel  gpio.Level
	pressLevel gpio.Level
	pressFor   time.Duration
}

func newSimPins(cfg config.Door) *simPins {
	sp := &simPins{openLevel: gpio.Low, pressLevel: gpio.High}
	if cfg.ContactOpenHigh {
		sp.openLevel = gpio.High
	}
	if cfg.ExitActiveLow {
		sp.pressLevel = gpio.Low
	}
	// A press is held well past the debounce period, as a finger would.
	sp.pressFor = 2*time.Duration(cfg.DebounceMS)*time.Millisecond + 150*time.Millisecond
	sp.relay = &gpiotest.Pin{N: cfg.RelayPin, Num: -1, Clock: clockwork.NewRealClock()}
	if cfg.ContactPin != "" {
		sp.contact = &gpiotest.Pin{N: cfg.ContactPin, Num: -1, L: !sp.openLevel,
			Clock: clockwork.NewRealClock(), EdgesChan: make(chan gpio.Level, 64)}
	}
	if cfg.ExitPin != "" {
		sp.exit = &gpiotest.Pin{N: cfg.ExitPin, Num: -1, L: !sp.pressLevel,
			Clock: clockwork.NewRealClock(), EdgesChan: make(chan gpio.Level, 64)}
	}
	return sp
}

func sendEdge(p *gpiotest.Pin, l gpio.Level) error {
	select {
	case p.EdgesChan <- l:
		return nil
	default:
		return fmt.Errorf("door: simulated %s: too many edges pending (is the controller running?)", p.N)
	}
}

// SimContact moves the simulated door contact (gpio = "sim" only): open
// true opens the door. The change is seen after the debounce period, like a
// real contact, and raises the same events and alarms.
func (c *Controller) SimContact(open bool) error {
	if c.sim == nil {
		return fmt.Errorf("%w: SimContact needs door.gpio = \"sim\"", ErrNotSim)
	}
	if c.sim.contact == nil {
		return fmt.Errorf("%w: SimContact needs door.contact_pin", ErrNoInput)
	}
	l := !c.sim.openLevel
	if open {
		l = c.sim.openLevel
	}
	return sendEdge(c.sim.contact, l)
}

// SimExitPress presses the simulated request-to-exit button (gpio = "sim"
// only) and releases it after a moment longer than the debounce period.
func (c *Controller) SimExitPress() error {
	if c.sim == nil {
		return fmt.Errorf("%w: SimExitPress needs door.gpio = \"sim\"", ErrNotSim)
	}
	if c.sim.exit == nil {
		return fmt.Errorf("%w: SimExitPress needs door.exit_pin", ErrNoInput)
	}
	p := c.sim.exit
	if err := sendEdge(p, c.sim.pressLevel); err != nil {
		return err
	}
	c.clock.AfterFunc(c.sim.pressFor, func() {
		if err := sendEdge(p, !c.sim.pressLevel); err != nil {
			c.log.Warn("door: simulated exit button release lost", "err", err)
		}
	})
	return nil
}

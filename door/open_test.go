package door

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// Pins registered in periph's registry, as the bcm283x or gpioioctl driver
// registers the Pi's pins after host.Init.
var (
	regRelay   = &gpiotest.Pin{N: "TESTGPIO17", Num: 17}
	regContact = inPin("TESTGPIO27")
	regExit    = inPin("TESTGPIO22")
)

func init() {
	for _, p := range []*gpiotest.Pin{regRelay, regContact, regExit} {
		if err := gpioreg.Register(p); err != nil {
			panic(err)
		}
	}
}

func periphCfg() config.Door {
	d := testCfg()
	d.GPIO = "periph"
	d.RelayPin, d.ContactPin, d.ExitPin = "TESTGPIO17", "TESTGPIO27", "TESTGPIO22"
	return d
}

func TestMissingPinRefused(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"relay", `door.relay_pin = "GPIO99" does not exist; known pins: `},
		{"contact", `door.contact_pin = "GPIO98" does not exist; known pins: `},
		{"exit", `door.exit_pin = "BUTTON" does not exist; known pins: `},
	} {
		cfg := periphCfg()
		switch tc.key {
		case "relay":
			cfg.RelayPin = "GPIO99"
		case "contact":
			cfg.ContactPin = "GPIO98"
		case "exit":
			cfg.ExitPin = "BUTTON"
		}
		regRelay.Out(gpio.Low) // energised (active-low)
		c, err := Open(cfg, nil, nil)
		if err == nil {
			c.Close()
			t.Fatalf("%s: Open succeeded with a missing pin", tc.key)
		}
		if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "TESTGPIO17") {
			t.Fatalf("%s: error %q, want ErrNoPin naming the key, the pin and the pins that exist (%q)", tc.key, err, tc.want)
		}
		if tc.key != "relay" && regRelay.Read() != gpio.High {
			t.Fatalf("%s: relay left energised when an input pin is missing", tc.key)
		}
		if tc.key == "relay" {
			if err := Release(cfg); !errors.Is(err, ErrNoPin) {
				t.Fatalf("Release with a missing relay pin: %v, want ErrNoPin", err)
			}
		}
	}
	if _, err := Open(config.Door{GPIO: "wiringpi", RelayPin: "GPIO17"}, nil, nil); err == nil || !strings.Contains(err.Error(), `door.gpio = "wiringpi"`) {
		t.Fatalf("unknown gpio kind: %v", err)
	}
}

func TestOpenPeriphPins(t *testing.T) {
	cfg := periphCfg()
	regRelay.Out(gpio.Low) // left energised (active-low) by a crash
	db := openDB(t)
	c, err := Open(cfg, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if regRelay.Read() != gpio.High {
		t.Fatal("Open did not release the active-low relay")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testenv.WaitFor(t, "contact read", 10*time.Second, func() bool { return c.State().Contact != ContactUnknown })
	if regContact.Pull() != gpio.PullUp || regExit.Pull() != gpio.PullUp {
		t.Fatal("inputs not configured with pull-ups (contact_open_high, exit_active_low)")
	}
	if c.State().Sim {
		t.Fatal("periph controller reports Sim")
	}
	// A real (0.05 s) debounce on the real clock: press the button.
	regExit.EdgesChan <- gpio.Low
	testenv.WaitFor(t, "exit unlock", 10*time.Second, func() bool { return !c.State().Locked })
	if regRelay.Read() != gpio.Low {
		t.Fatal("exit button did not energise the relay")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if regRelay.Read() != gpio.High {
		t.Fatal("relay not released after Run")
	}

	// facegate door release: only the relay, to its released level.
	regRelay.Out(gpio.Low)
	if err := Release(cfg); err != nil {
		t.Fatal(err)
	}
	if regRelay.Read() != gpio.High {
		t.Fatal("Release left an active-low relay energised")
	}
	cfg.RelayActiveLow = false
	regRelay.Out(gpio.High)
	if err := Release(cfg); err != nil {
		t.Fatal(err)
	}
	if regRelay.Read() != gpio.Low {
		t.Fatal("Release left an active-high relay energised")
	}
}

// The demo: gpio = "sim" on the real clock, driven like the web page does.
func TestSimDemo(t *testing.T) {
	cfg := testCfg()
	cfg.GPIO = "sim"
	cfg.UnlockSeconds = 0.5
	cfg.DebounceMS = 10
	db := openDB(t)
	c, err := Open(cfg, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, stop := c.Subscribe()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testenv.WaitFor(t, "sim contact read", 10*time.Second, func() bool { return c.State().Contact == ContactClosed })
	if !c.State().Sim {
		t.Fatal("sim controller does not report Sim")
	}
	relayOn := func() bool { return c.sim.relay.Read() == gpio.Low }

	// A visitor opens the locked door: forced-open alarm.
	if err := c.SimContact(true); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "forced-open alarm", 10*time.Second, func() bool { return c.State().ForcedOpen })
	if err := c.SimContact(false); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "door closed", 10*time.Second, func() bool { st := c.State(); return st.Contact == ContactClosed && !st.ForcedOpen })

	// A granted face energises the simulated relay for unlock_seconds.
	before := time.Now()
	if err := c.Unlock(ctx, 0, event.SourceFace, "Alice"); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.Locked || !relayOn() {
		t.Fatal("face unlock did not energise the simulated relay")
	}
	if d := st.UnlockedUntil.Sub(before); d < 500*time.Millisecond || d > 5*time.Second {
		t.Fatalf("unlocked until %v after the grant, want unlock_seconds (0.5 s)", d)
	}
	testenv.WaitFor(t, "relock", 10*time.Second, func() bool { return c.State().Locked })
	if relayOn() {
		t.Fatal("relay energised after relock")
	}

	// The exit button unlocks too.
	if err := c.SimExitPress(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "exit unlock", 10*time.Second, func() bool { return !c.State().Locked })
	testenv.WaitFor(t, "relock after exit", 10*time.Second, func() bool { return c.State().Locked })

	// The subscription followed: the latest state is locked again.
	testenv.WaitFor(t, "latest state", 10*time.Second, func() bool {
		select {
		case s := <-ch:
			return s.Locked && s.Contact == ContactClosed
		default:
			return false
		}
	})

	c.rec.wait()
	recs, err := db.Events(ctx, facedb.EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(recs) - 1; i >= 0; i-- {
		got = append(got, recs[i].Type)
	}
	want := "door_opened door_forced_open door_closed exit_button"
	if strings.Join(got, " ") != want {
		t.Fatalf("recorded %v, want %s", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSimWithoutInputs(t *testing.T) {
	cfg := testCfg()
	cfg.GPIO = "sim"
	cfg.ContactPin, cfg.ExitPin = "", ""
	c, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SimContact(true); !errors.Is(err, ErrNoInput) {
		t.Fatalf("SimContact without contact_pin: %v, want ErrNoInput", err)
	}
	if err := c.SimExitPress(); !errors.Is(err, ErrNoInput) {
		t.Fatalf("SimExitPress without exit_pin: %v, want ErrNoInput", err)
	}
	if st := c.State(); st.Contact != ContactUnknown || !st.Sim {
		t.Fatalf("state %+v, want contact unknown, sim", st)
	}
	if err := Release(cfg); err != nil {
		t.Fatalf("Release in sim mode: %v", err)
	}
}

// Package door drives the door lock relay and watches the door through GPIO
// (periph.io).
//
// A Controller owns one relay output and two optional inputs: a door contact
// and a request-to-exit button. Unlock energises the relay for a duration (a
// second Unlock extends it), Lock releases it at once. The relay is released
// (door locked, fail-secure) when the controller opens, when Run returns for
// any reason, and on Close, which is idempotent and safe to call from any
// goroutine (the daemon defers it in main, so it also runs after a recovered
// panic). If the process dies without running Close, the systemd unit's
// ExecStopPost runs `facegate door release`, which calls Release.
//
// Inputs are edge-triggered and debounced: an input is re-read debounce_ms
// after the last edge of a burst, and only a level that differs from the last
// stable one counts. The controller records door_opened, door_closed and
// exit_button events and door_forced_open and door_held_open alarms, and
// audits every relay action (who or what caused it), through a Journal
// (*facedb.DB satisfies it). Recording runs on its own goroutine: a failing
// or slow database never delays the relay.
//
// With gpio = "periph" the pins come from host.Init and gpioreg.ByName; with
// gpio = "sim" they are gpiotest pins whose contact and button are driven by
// SimContact and SimExitPress (demo mode and tests).
package door

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

// Wiring notes (Raspberry Pi 4B):
//
//   - Relay: relay_pin drives the relay board's input; most boards are
//     active-low (relay_active_low = true, the default). The door is locked
//     whenever the relay is released. Fail-secure (locked on power loss) or
//     fail-safe (unlocked on power loss, e.g. for fire egress) is chosen by
//     the lock hardware and the relay contact it is wired to (NO or NC), not
//     by software: the software always releases the relay to lock.
//   - Door contact: a reed switch between contact_pin and ground reads low
//     when the door is shut, so contact_open_high = true (the default) and
//     the controller enables the pull-up; a cut wire then reads "open". With
//     contact_open_high = false it enables the pull-down instead.
//   - Exit button: a push button between exit_pin and ground
//     (exit_active_low = true, the default, pull-up enabled).
//   - debounce_ms (default 50) is how long an input must stay quiet before
//     it is read; a press shorter than that is ignored.
//   - Events and alarms are timed at the first edge of the burst that
//     changed the input, not when the debounce period ended.

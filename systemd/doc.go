// Package systemd holds facegate's systemd unit, facegate.service, which the
// .deb installs as /lib/systemd/system/facegate.service, and the tests that
// check it with systemd-analyze (verify and the offline security exposure).
//
// The unit runs `facegate run` as Type=notify with a watchdog: the daemon must
// send READY=1 when it is set up and WATCHDOG=1 from its main loop at least
// every WatchdogSec/2 (github.com/coreos/go-systemd/v22/daemon: SdNotify and
// SdWatchdogEnabled). ExecStopPost runs `facegate door release` after every
// stop, crash or watchdog kill, so the door is left locked.
package systemd

import _ "embed"

// Unit is the text of facegate.service.
//
//go:embed facegate.service
var Unit string

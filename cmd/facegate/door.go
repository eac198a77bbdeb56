package main

import (
	"context"
	"fmt"
	"io"

	"github.com/facegate/facegate/door"
)

func init() {
	register(command{
		name:    "door",
		summary: "door release: set the relay to locked (the unit's ExecStopPost)",
		run:     runDoor,
	})
}

func runDoor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("door", stderr)
	cfgPath := configFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facegate door release -config FILE\n\n"+
			"Sets the relay pin to its released level (door locked) and exits. It opens only\n"+
			"the relay pin and works while the daemon is not running (systemd ExecStopPost).")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "release" {
		if len(pos) == 0 {
			fmt.Fprintln(stderr, "facegate door: missing action (want: release)")
		} else {
			fmt.Fprintf(stderr, "facegate door: unknown action %q (want: release)\n", pos[0])
		}
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := door.Release(cfg.Door); err != nil {
		return err
	}
	switch cfg.Door.GPIO {
	case "sim":
		fmt.Fprintln(stdout, "door: gpio = sim: the simulated relay exists only inside the daemon; nothing to release")
	default:
		level := "high"
		if !cfg.Door.RelayActiveLow {
			level = "low"
		}
		fmt.Fprintf(stdout, "door: relay %s released (set %s): door locked\n", cfg.Door.RelayPin, level)
	}
	return nil
}

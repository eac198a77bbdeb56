package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/facegate/facegate/mqttlink"
	"github.com/facegate/facegate/signedcmd"
)

func init() {
	register(command{
		name:    "cmd",
		summary: "sign and send a remote command (unlock, lock, status) over MQTT and print the reply",
		run:     runRemoteCmd,
	})
}

// errRefused is returned when the device answered ok:false.
var errRefused = errors.New("command refused")

func runRemoteCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cmd", stderr)
	cfgPath := configFlag(fs)
	seconds := fs.Float64("seconds", 0, "unlock only: seconds to keep the door unlocked (0 = door.unlock_seconds, at most 60)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the device's reply")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facegate cmd -config FILE {unlock|lock|status} [-seconds N] [-timeout 10s]")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !slices.Contains(signedcmd.Names, pos[0]) {
		fmt.Fprintf(stderr, "facegate cmd: want exactly one command name, one of %v; got %q\n", signedcmd.Names, pos)
		fs.Usage()
		return errUsage
	}
	name := pos[0]
	if *seconds != 0 && name != signedcmd.Unlock {
		fmt.Fprintln(stderr, "facegate cmd: -seconds is only for unlock")
		return errUsage
	}
	if *seconds < 0 || *seconds > signedcmd.MaxUnlockSeconds {
		fmt.Fprintf(stderr, "facegate cmd: -seconds %v is out of range 0..%d\n", *seconds, signedcmd.MaxUnlockSeconds)
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	reply, err := mqttlink.SendCommand(ctx, cfg, name, *seconds, *timeout)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(reply)
	fmt.Fprintln(stdout, string(out))
	if !reply.OK {
		return fmt.Errorf("%w: %s", errRefused, reply.Error)
	}
	return nil
}

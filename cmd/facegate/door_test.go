package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/internal/testenv"
)

// cliRelay stands for the Pi's relay pin in periph's registry.
var cliRelay = &gpiotest.Pin{N: "CLITESTGPIO17", Num: 17}

func init() {
	if err := gpioreg.Register(cliRelay); err != nil {
		panic(err)
	}
}

func runDoorCmd(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), append([]string{"door"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

func TestDoorReleaseSetsLockedLevel(t *testing.T) {
	for _, tc := range []struct {
		activeLow       bool
		energised, want gpio.Level
	}{
		{true, gpio.Low, gpio.High},
		{false, gpio.High, gpio.Low},
	} {
		dir := t.TempDir()
		low := "false"
		if tc.activeLow {
			low = "true"
		}
		cfg := writeConfig(t, dir, "[door]\ngpio = \"periph\"\nrelay_pin = \"CLITESTGPIO17\"\nrelay_active_low = "+low+"\n")
		cliRelay.Out(tc.energised) // the daemon died with the door unlocked
		out, stderr, err := runDoorCmd("release", "-config", cfg)
		if err != nil {
			t.Fatalf("door release (active_low=%v): %v %s", tc.activeLow, err, stderr)
		}
		if got := cliRelay.Read(); got != tc.want {
			t.Fatalf("relay %s after door release (active_low=%v), want %s", got, tc.activeLow, tc.want)
		}
		if !strings.Contains(out, "relay CLITESTGPIO17 released") {
			t.Errorf("stdout %q", out)
		}
	}
}

func TestDoorReleaseErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[door]\ngpio = \"periph\"\nrelay_pin = \"GPIO99\"\n")
	_, _, err := runDoorCmd("release", "-config", cfg)
	if !errors.Is(err, door.ErrNoPin) || !strings.Contains(err.Error(), `door.relay_pin = "GPIO99"`) {
		t.Fatalf("missing pin: %v, want ErrNoPin naming door.relay_pin GPIO99", err)
	}
	if exitCode(err) != 1 {
		t.Fatalf("exit code %d, want 1", exitCode(err))
	}
	if _, stderr, err := runDoorCmd("open", "-config", cfg); !errors.Is(err, errUsage) || !strings.Contains(stderr, `unknown action "open"`) {
		t.Fatalf("unknown action: %v %q", err, stderr)
	}
	if _, _, err := runDoorCmd("release"); err == nil || !strings.Contains(err.Error(), "-config FILE is required") {
		t.Fatalf("without -config: %v", err)
	}
}

// As systemd's ExecStopPost runs it: the real binary and its exit status.
func TestDoorReleaseBinary(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	sim := writeConfig(t, dir, "[door]\ngpio = \"sim\"\n")
	out, err := exec.Command(bin, "door", "release", "-config", sim).CombinedOutput()
	if err != nil {
		t.Fatalf("door release (sim): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "nothing to release") {
		t.Errorf("output %q", out)
	}
	bad := writeConfig(t, t.TempDir(), "[door]\ngpio = \"periph\"\nrelay_pin = \"GPIO99\"\n")
	out, err = exec.Command(bin, "door", "release", "-config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("door release with a missing pin: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), `door.relay_pin = "GPIO99"`) {
		t.Fatalf("output does not name the pin: %s", out)
	}
}

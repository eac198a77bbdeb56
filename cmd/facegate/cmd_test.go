package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/mqttlink"
	"github.com/facegate/facegate/signedcmd"
)

const cmdTestKey = "0123456789abcdef0123456789abcdef"

// TestCmdSendsSignedCommands runs a real link (in process, real broker, real
// database, simulated door) and drives it with `facegate cmd`.
func TestCmdSendsSignedCommands(t *testing.T) {
	b := testenv.StartBroker(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
device_id = "door-cli"
data_dir = %q
[mqtt]
broker = %q
command_key = %q
keepalive_seconds = 5
[door]
gpio = "sim"
unlock_seconds = 5
`, filepath.Join(dir, "var"), b.URL, cmdTestKey))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := facedb.Open(context.Background(), filepath.Join(dir, "link.db"), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := door.Open(cfg.Door, db, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	link, err := mqttlink.New(cfg, db, d, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _ = d.Run(ctx) }()
	go func() { done <- link.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Connected and subscribed: the broker acknowledged the command subscription.
	testenv.WaitFor(t, "the link's subscriptions", 10*time.Second, func() bool { return link.Status().Subscribed })

	run := func(args ...string) (mqttlink.Reply, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := dispatch(context.Background(), append([]string{"cmd", "-config", cfgPath}, args...), &out, &errOut)
		var r mqttlink.Reply
		if out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
				t.Fatalf("output is not a JSON reply: %q", out.String())
			}
		}
		return r, err
	}

	r, err := run("unlock", "-seconds", "20")
	if err != nil || !r.OK || r.RequestID == "" {
		t.Fatalf("unlock: reply %+v, err %v", r, err)
	}
	if st := d.State(); st.Locked || time.Until(st.UnlockedUntil) < 15*time.Second {
		t.Fatalf("door after unlock -seconds 20: %+v", st)
	}
	if r, err = run("status"); err != nil || !r.OK || len(r.State) == 0 {
		t.Fatalf("status: reply %+v, err %v", r, err)
	}
	if r, err = run("lock"); err != nil || !r.OK {
		t.Fatalf("lock: reply %+v, err %v", r, err)
	}
	if !d.State().Locked {
		t.Fatal("door not locked after facegate cmd lock")
	}

	// Usage errors never reach the broker.
	for _, args := range [][]string{{"open"}, {}, {"lock", "-seconds", "3"}, {"unlock", "-seconds", "61"}} {
		if _, err := run(args...); !errors.Is(err, errUsage) {
			t.Errorf("facegate cmd %v: err = %v, want a usage error", args, err)
		}
	}

	// A CLI with another key is refused by the device; the device's signed
	// refusal does not verify with the CLI's key either: an error, non-zero exit.
	otherPath := writeConfig(t, t.TempDir(), fmt.Sprintf("device_id = \"door-cli\"\n[mqtt]\nbroker = %q\ncommand_key = %q\n", b.URL, "ffffffffffffffffffffffffffffffff"))
	err = dispatch(context.Background(), []string{"cmd", "-config", otherPath, "-timeout", "3s", "unlock"}, io.Discard, io.Discard)
	if !errors.Is(err, mqttlink.ErrBadReply) || !strings.Contains(err.Error(), `"error":"bad_signature"`) {
		t.Fatalf("wrong key: err %v, want ErrBadReply showing the device's bad_signature", err)
	}
	if !d.State().Locked {
		t.Fatal("door unlocked by a command signed with the wrong key")
	}

	// No device listening: a clear timeout error.
	quiet := writeConfig(t, t.TempDir(), fmt.Sprintf("device_id = \"nobody\"\n[mqtt]\nbroker = %q\ncommand_key = %q\n", b.URL, cmdTestKey))
	err = dispatch(context.Background(), []string{"cmd", "-config", quiet, "-timeout", "500ms", "status"}, io.Discard, io.Discard)
	if !errors.Is(err, mqttlink.ErrNoReply) {
		t.Fatalf("no device: err = %v, want ErrNoReply", err)
	}
}

// TestCmdRefusesForgedReply: someone on the broker answers every command
// for a device that does not exist with {"ok":true}; facegate cmd must not
// print ok or exit 0.
func TestCmdRefusesForgedReply(t *testing.T) {
	b := testenv.StartBroker(t)
	forger := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("forger"))
	if tok := forger.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("forger connect: %v", tok.Error())
	}
	defer forger.Disconnect(100)
	tok := forger.Subscribe("facegate/ghost/cmd/+", 1, func(c mqtt.Client, m mqtt.Message) {
		id := signedcmd.RequestIDHint(m.Payload())
		c.Publish(m.Topic()+"/reply", 1, false, fmt.Sprintf(`{"request_id":%q,"ok":true}`, id))
		c.Publish(m.Topic()+"/reply", 1, false, fmt.Sprintf(`{"request_id":%q,"ok":true,"sig":"%s"}`, id, strings.Repeat("0", 64)))
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("forger subscribe: %v", tok.Error())
	}
	cfgPath := writeConfig(t, t.TempDir(), fmt.Sprintf("device_id = \"ghost\"\n[mqtt]\nbroker = %q\ncommand_key = %q\n", b.URL, cmdTestKey))
	var out bytes.Buffer
	err := dispatch(context.Background(), []string{"cmd", "-config", cfgPath, "-timeout", "3s", "unlock"}, &out, io.Discard)
	if !errors.Is(err, mqttlink.ErrBadReply) {
		t.Fatalf("forged reply: err = %v, want ErrBadReply", err)
	}
	if exitCode(err) == 0 {
		t.Fatal("forged reply: exit code 0")
	}
	if out.Len() != 0 {
		t.Fatalf("forged reply printed as the device's answer: %q", out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facegate/facegate/facedb"
)

func TestEventsListsNewestFirst(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf("device_id = \"door-7\"\ndata_dir = %q\n", filepath.Join(dir, "var")))
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := openDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(cfg.SnapshotDir(), "2026-11-25", "x.jpg")
	for _, r := range []facedb.Record{
		{Kind: "alarm", Type: "camera_lost", Source: "camera", Reason: "no frame for 5s"},
		{Kind: "event", Type: "access_granted", PersonID: 0, Name: "Alice", Score: 0.8123, Source: "face", Snapshot: snap, Detail: map[string]any{"frames": 3}},
		{Kind: "alarm", Type: "unknown_face", Score: 0.21, Source: "face"},
	} {
		if _, err := db.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var out, errb bytes.Buffer
	if err := dispatch(ctx, []string{"events", "-config", cfgPath, "-limit", "2", "-json"}, &out, &errb); err != nil {
		t.Fatalf("events -json: %v (%s)", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("-limit 2 printed %d lines:\n%s", len(lines), out.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["type"] != "unknown_face" || first["seq"] != 3.0 || first["snapshot"] != "" {
		t.Errorf("newest record %v: want the unknown_face alarm, seq 3, empty snapshot", first)
	}
	if second["type"] != "access_granted" || second["name"] != "Alice" || second["score"] != 0.8123 ||
		second["snapshot"] != snap || second["frames"] != 3.0 || second["id"] == "" || second["ts"] == "" {
		t.Errorf("second record %v: want Alice's grant with the MQTT fields and the snapshot path", second)
	}

	out.Reset()
	if err := dispatch(ctx, []string{"events", "-config", cfgPath}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"TYPE", "camera_lost", "no frame for 5s", "Alice", "0.812", snap} {
		if !strings.Contains(table, want) {
			t.Errorf("table does not show %q:\n%s", want, table)
		}
	}
	if strings.Index(table, "unknown_face") > strings.Index(table, "camera_lost") {
		t.Errorf("table is not newest first:\n%s", table)
	}
}

func TestEventsBadUsage(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"events", "-limit", "0", "-config", "x.toml"},
		{"events", "-nosuchflag"},
		{"events", "-config", "x.toml", "extra"},
	} {
		if err := dispatch(ctx, args, &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	if err := dispatch(ctx, []string{"events"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "-config") {
		t.Errorf("events without -config: %v", err)
	}
	if err := dispatch(ctx, []string{"events", "-config", filepath.Join(t.TempDir(), "missing.toml")}, &out, &errb); err == nil {
		t.Error("events with a missing config file succeeded")
	}
}

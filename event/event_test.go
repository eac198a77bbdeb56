package event

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The names and their topics are the external contract: consumers filter
// on them and Home Assistant offers them as event types.
func TestCatalogueIsTheContract(t *testing.T) {
	events := []string{"access_granted", "access_denied", "unknown_face", "remote_unlock", "remote_lock",
		"command_rejected", "exit_button", "door_opened", "door_closed"}
	alarms := []string{"unknown_face", "door_forced_open", "door_held_open", "camera_lost", "storage_low", "outbox_backlog"}
	for _, want := range events {
		if !slices.Contains(Types(KindEvent), want) {
			t.Errorf("event type %q missing from the catalogue: %v", want, Types(KindEvent))
		}
	}
	for _, want := range alarms {
		if !slices.Contains(Types(KindAlarm), want) {
			t.Errorf("alarm type %q missing from the catalogue: %v", want, Types(KindAlarm))
		}
	}
	if got := Types(KindEvent)[:3]; !slices.Equal(got, events[:3]) {
		t.Errorf("the filter starts with %v, want %v", got, events[:3])
	}
	ts := Types(KindEvent)
	ts[0] = "changed"
	if Types(KindEvent)[0] != AccessGranted {
		t.Error("Types returned the catalogue itself; a caller changed it")
	}
}

// Every type in the catalogue is documented for the platform's developers.
func TestEveryTypeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{KindEvent, KindAlarm} {
		for _, typ := range Types(kind) {
			if !strings.Contains(string(doc), "`"+typ+"`") {
				t.Errorf("%s type %q is not in docs/mqtt.md", kind, typ)
			}
		}
	}
}

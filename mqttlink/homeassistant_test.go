package mqttlink

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/internal/testenv"
)

// Keys Home Assistant's MQTT platforms accept in a discovery config (the
// schemas of homeassistant/components/mqtt/{lock,event,binary_sensor,sensor}.py
// plus the entity and availability keys every MQTT entity takes), and the
// keys each requires. A key outside these makes Home Assistant refuse the
// whole config.
var (
	haCommonKeys = []string{"name", "unique_id", "object_id", "default_entity_id", "device", "availability_topic", "availability",
		"availability_mode", "availability_template", "payload_available", "payload_not_available", "icon",
		"json_attributes_topic", "json_attributes_template", "enabled_by_default", "entity_category", "encoding",
		"qos", "platform", "entity_picture"}
	haPlatformKeys = map[string][]string{
		"lock": {"command_topic", "command_template", "state_topic", "value_template", "state_locked", "state_unlocked",
			"state_locking", "state_unlocking", "state_jammed", "state_open", "state_opening", "payload_lock",
			"payload_unlock", "payload_open", "payload_reset", "optimistic", "retain", "code_format"},
		"event":         {"state_topic", "event_types", "device_class", "value_template"},
		"binary_sensor": {"state_topic", "device_class", "value_template", "payload_on", "payload_off", "off_delay", "expire_after", "force_update"},
		"sensor": {"state_topic", "device_class", "state_class", "unit_of_measurement", "value_template", "expire_after",
			"force_update", "last_reset_value_template", "suggested_display_precision", "options"},
	}
	haRequired = map[string][]string{
		"lock": {"command_topic"}, "event": {"state_topic", "event_types"},
		"binary_sensor": {"state_topic"}, "sensor": {"state_topic"},
	}
	haDeviceKeys = []string{"identifiers", "connections", "name", "manufacturer", "model", "model_id", "sw_version",
		"hw_version", "serial_number", "suggested_area", "via_device", "configuration_url"}
)

func discoveryOf(t *testing.T, allowUnsigned bool, deviceID string) map[string]map[string]any {
	t.Helper()
	cfg := testConfig("", 60)
	cfg.DeviceID = deviceID
	cfg.MQTT.HomeAssistant = true
	cfg.MQTT.AllowUnsignedHomeAssistant = allowUnsigned
	db := openDB(t, "")
	d, err := door.Open(cfg.Door, db, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	l, err := New(cfg, db, d, nil, nil, testLog())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for topic, payload := range l.discovery(haNodeID(deviceID), false) {
		if len(payload) == 0 {
			out[topic] = nil // removed
			continue
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		out[topic] = c
	}
	return out
}

// TestHomeAssistantDiscoveryKeys: every config uses only keys its Home
// Assistant platform accepts and has the ones it requires; the lock appears
// only when its commands are acted on; access events and alarms each have
// their event entity with the catalogue's types.
func TestHomeAssistantDiscoveryKeys(t *testing.T) {
	for _, allow := range []bool{false, true} {
		d := discoveryOf(t, allow, "door-1")
		published := 0
		for topic, c := range d {
			if c == nil {
				continue
			}
			published++
			component := strings.Split(topic, "/")[1]
			keys, ok := haPlatformKeys[component]
			if !ok {
				t.Errorf("%s: platform %s not checked", topic, component)
				continue
			}
			for k := range c {
				if !slices.Contains(keys, k) && !slices.Contains(haCommonKeys, k) {
					t.Errorf("%s: key %q is not accepted by Home Assistant's MQTT %s", topic, k, component)
				}
			}
			for _, k := range haRequired[component] {
				if _, ok := c[k]; !ok {
					t.Errorf("%s: required key %q missing", topic, k)
				}
			}
			dev, _ := c["device"].(map[string]any)
			for k := range dev {
				if !slices.Contains(haDeviceKeys, k) {
					t.Errorf("%s: device key %q is not accepted", topic, k)
				}
			}
		}
		lock := d["homeassistant/lock/facegate_door-1/lock/config"]
		ro := d["homeassistant/binary_sensor/facegate_door-1/lock/config"]
		if allow && (lock == nil || ro != nil) || !allow && (lock != nil || ro == nil) {
			t.Errorf("allow_unsigned_homeassistant = %v: lock %v, read-only lock state %v", allow, lock, ro)
		}
		if published != 7 {
			t.Errorf("allow_unsigned_homeassistant = %v: %d entities published, want 7", allow, published)
		}
		access := d["homeassistant/event/facegate_door-1/access/config"]
		alarm := d["homeassistant/event/facegate_door-1/alarm/config"]
		if access == nil || alarm == nil {
			t.Fatalf("event entities: access %v, alarm %v", access, alarm)
		}
		if access["state_topic"] != prefix+"/events" || alarm["state_topic"] != prefix+"/alarms" {
			t.Errorf("event entity topics: %v, %v", access["state_topic"], alarm["state_topic"])
		}
		alarms := event.Types(event.KindAlarm)
		for _, v := range access["event_types"].([]any) {
			if slices.Contains(alarms, v.(string)) {
				t.Errorf("access entity lists %s, which is published on P/alarms", v)
			}
		}
		var got []string
		for _, v := range alarm["event_types"].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, alarms) {
			t.Errorf("alarm entity types %v, catalogue %v", got, alarms)
		}
	}
}

// TestHomeAssistantNodeIDsDoNotCollide: device ids that differ only in
// characters Home Assistant does not allow get their own node ids.
func TestHomeAssistantNodeIDsDoNotCollide(t *testing.T) {
	ids := []string{"door.1", "door_1", "door-1", "door 1", "door__1", "door_2e1", "Door.1"}
	seen := map[string]string{}
	for _, id := range ids {
		n := haNodeID(id)
		if strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Errorf("node id %q of %q has characters Home Assistant refuses", n, id)
		}
		if other, ok := seen[n]; ok {
			t.Errorf("%q and %q share node id %q", id, other, n)
		}
		seen[n] = id
	}
	if haNodeID("door-1") != "facegate_door-1" {
		t.Errorf("node id of door-1 changed: %s", haNodeID("door-1"))
	}
	a, b := discoveryOf(t, false, "door.1"), discoveryOf(t, false, "door_1")
	for topic := range a {
		if _, ok := b[topic]; ok {
			t.Errorf("door.1 and door_1 both publish %s", topic)
		}
	}
}

// TestHomeAssistantOffWritesNothingThere: a door that never published
// discovery publishes nothing under homeassistant/ (a broker ACL may drop
// the connection of a client writing outside its topics).
func TestHomeAssistantOffWritesNothingThere(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	obs := observe(t, b.URL, "homeassistant/#", "obs-ha-off", false)
	cfg := testConfig(b.URL, 5)
	cfg.DataDir = t.TempDir()
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	testenv.WaitFor(t, "the state", 10*time.Second, func() bool { return retained(t, b.URL, prefix+"/state") != nil })
	r.stop()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for topic := range obs.msgs {
		t.Errorf("published %s with homeassistant = false", topic)
	}
}

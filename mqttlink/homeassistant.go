package mqttlink

import (
	"encoding/json"
	"strings"

	"github.com/facegate/facegate/event"
)

// haCommandName names Home Assistant's unsigned lock commands in the audit
// log, events and metrics.
const haCommandName = "homeassistant"

// haNodeID is the device's node id in discovery topics ([a-zA-Z0-9_-] only).
func (l *Link) haNodeID() string {
	return "facegate_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, l.cfg.DeviceID)
}

// discovery returns the retained Home Assistant MQTT discovery configs:
// topic -> JSON. The lock reads P/state and commands P/ha/lock/set (acted on
// only with allow_unsigned_homeassistant), the door contact is a
// binary_sensor, access events are an event entity; all use P/availability.
func (l *Link) discovery() map[string][]byte {
	node := l.haNodeID()
	dev := map[string]any{
		"identifiers":  []string{node},
		"name":         "facegate " + l.cfg.DeviceID,
		"manufacturer": "facegate",
		"model":        "face recognition door",
		"sw_version":   l.version.Load().(string),
	}
	avail := func(m map[string]any) map[string]any {
		m["availability_topic"] = l.topics.availability
		m["payload_available"] = "online"
		m["payload_not_available"] = "offline"
		m["device"] = dev
		return m
	}
	configs := map[string]map[string]any{
		"homeassistant/lock/" + node + "/lock/config": avail(map[string]any{
			"name": "Door lock", "unique_id": node + "_lock",
			"state_topic": l.topics.state, "value_template": "{{ value_json.door }}",
			"state_locked": "locked", "state_unlocked": "unlocked",
			"command_topic": l.topics.haLockSet, "payload_lock": "LOCK", "payload_unlock": "UNLOCK",
			"optimistic": false, "retain": false, "qos": 1,
		}),
		"homeassistant/binary_sensor/" + node + "/door/config": avail(map[string]any{
			"name": "Door", "unique_id": node + "_door", "device_class": "door",
			"state_topic":    l.topics.state,
			"value_template": "{% if value_json.contact == 'open' %}ON{% elif value_json.contact == 'closed' %}OFF{% else %}None{% endif %}",
		}),
		"homeassistant/event/" + node + "/access/config": avail(map[string]any{
			"name": "Access", "unique_id": node + "_access", "state_topic": l.topics.events,
			"event_types":    event.Types(event.KindEvent),
			"value_template": "{{ {'event_type': value_json.type, 'name': value_json.name | default(''), 'seq': value_json.seq} | to_json }}",
		}),
	}
	out := make(map[string][]byte, len(configs))
	for topic, c := range configs {
		b, _ := json.Marshal(c)
		out[topic] = b
	}
	return out
}

// publishDiscovery publishes the discovery configs, retained.
func (l *Link) publishDiscovery() {
	c := l.cli()
	if !l.cfg.MQTT.HomeAssistant || !c.IsConnectionOpen() {
		return
	}
	for topic, payload := range l.discovery() {
		c.Publish(topic, 1, true, payload)
	}
	l.log.Debug("mqtt home assistant discovery published")
}

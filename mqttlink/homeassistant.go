package mqttlink

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/event"
)

// haCommandName names Home Assistant's unsigned lock commands in the audit
// log, events and metrics.
const haCommandName = "homeassistant"

// haNodeID is the device's node id in discovery topics and unique ids
// ([a-zA-Z0-9_-] only). The mapping is one to one, so device ids that differ
// only in characters Home Assistant does not allow ("door.1", "door_1")
// never share entities: letters, digits and '-' stay, '_' becomes "__" and
// any other byte "_" and its two hex digits ("door.1" -> "door_2e1").
func haNodeID(deviceID string) string {
	var b strings.Builder
	b.WriteString("facegate_")
	for _, c := range []byte(deviceID) {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-':
			b.WriteByte(c)
		case c == '_':
			b.WriteString("__")
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// haEntity is one discovery config: the HA platform (component), object id
// and config.
type haEntity struct {
	component, object string
	config            map[string]any
}

func (e haEntity) topic(node string) string {
	return "homeassistant/" + e.component + "/" + node + "/" + e.object + "/config"
}

// haEntities are every entity facegate may publish, with whether it is
// published under the current configuration. The lock is published only
// when Home Assistant's commands are acted on (allow_unsigned_homeassistant);
// otherwise the lock state is a read-only binary sensor, so Home Assistant
// never shows a lock button that silently does nothing.
func (l *Link) haEntities() []struct {
	haEntity
	on bool
} {
	node := haNodeID(l.cfg.DeviceID)
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
	alarms := event.Types(event.KindAlarm)
	var access []string // events that arrive on P/events (unknown_face is an alarm)
	for _, t := range event.Types(event.KindEvent) {
		if !slices.Contains(alarms, t) {
			access = append(access, t)
		}
	}
	eventTemplate := "{{ {'event_type': value_json.type, 'name': value_json.name | default(''), 'seq': value_json.seq, 'reason': value_json.reason | default('')} | to_json }}"
	lockOK := l.cfg.MQTT.AllowUnsignedHomeAssistant
	type entry = struct {
		haEntity
		on bool
	}
	return []entry{
		{haEntity{"lock", "lock", avail(map[string]any{
			"name": "Door lock", "unique_id": node + "_lock",
			"state_topic": l.topics.state, "value_template": "{{ value_json.door }}",
			"state_locked": "locked", "state_unlocked": "unlocked",
			"command_topic": l.topics.haLockSet, "payload_lock": "LOCK", "payload_unlock": "UNLOCK",
			"optimistic": false, "retain": false, "qos": 1,
		})}, lockOK},
		{haEntity{"binary_sensor", "lock", avail(map[string]any{
			"name": "Door lock", "unique_id": node + "_lock_state", "device_class": "lock",
			"state_topic":    l.topics.state,
			"value_template": "{% if value_json.door == 'unlocked' %}ON{% else %}OFF{% endif %}",
		})}, !lockOK},
		{haEntity{"binary_sensor", "door", avail(map[string]any{
			"name": "Door", "unique_id": node + "_door", "device_class": "door",
			"state_topic":    l.topics.state,
			"value_template": "{% if value_json.contact == 'open' %}ON{% elif value_json.contact == 'closed' %}OFF{% else %}None{% endif %}",
		})}, true},
		{haEntity{"event", "access", avail(map[string]any{
			"name": "Access", "unique_id": node + "_access", "state_topic": l.topics.events,
			"event_types": access, "value_template": eventTemplate,
		})}, true},
		{haEntity{"event", "alarm", avail(map[string]any{
			"name": "Alarm", "unique_id": node + "_alarm", "state_topic": l.topics.alarms,
			"event_types": alarms, "value_template": eventTemplate,
		})}, true},
		{haEntity{"sensor", "people", avail(map[string]any{
			"name": "People enrolled", "unique_id": node + "_people", "state_topic": l.topics.state,
			"value_template": "{{ value_json.people }}", "state_class": "measurement", "icon": "mdi:account-group",
		})}, true},
		{haEntity{"sensor", "outbox", avail(map[string]any{
			"name": "Outbox backlog", "unique_id": node + "_outbox", "state_topic": l.topics.state,
			"value_template": "{{ value_json.outbox }}", "state_class": "measurement", "unit_of_measurement": "messages",
			"icon": "mdi:tray-full", "entity_category": "diagnostic",
		})}, true},
		// The link: online/offline itself (the will), so no availability.
		{haEntity{"binary_sensor", "link", map[string]any{
			"name": "Link", "unique_id": node + "_link", "device_class": "connectivity",
			"state_topic": l.topics.availability, "payload_on": "online", "payload_off": "offline",
			"entity_category": "diagnostic", "device": dev,
		}}, true},
	}
}

// discovery returns the retained Home Assistant MQTT discovery payloads of
// node: topic -> JSON, and an empty payload (which removes the entity) for
// every entity not published under the current configuration (all of them
// when off).
func (l *Link) discovery(node string, off bool) map[string][]byte {
	out := map[string][]byte{}
	for _, e := range l.haEntities() {
		if !e.on || off {
			out[e.topic(node)] = []byte{}
			continue
		}
		b, _ := json.Marshal(e.config)
		out[e.topic(node)] = b
	}
	return out
}

// haMarker is the file under data_dir naming the node whose discovery
// configs this door published, so that turning homeassistant off (or a new
// device_id) removes them, and a door that never published any never writes
// under homeassistant/ (a broker ACL may drop the connection for it).
func (l *Link) haMarker() string { return filepath.Join(l.cfg.DataDir, "homeassistant-node") }

// publishDiscovery publishes the discovery configs, retained, and clears
// (empty retained payloads) those this door published before under another
// node id or before homeassistant was turned off.
func (l *Link) publishDiscovery() {
	c := l.cli()
	if !c.IsConnectionOpen() {
		return
	}
	on, node := l.cfg.MQTT.HomeAssistant, haNodeID(l.cfg.DeviceID)
	prev := ""
	if b, err := os.ReadFile(l.haMarker()); err == nil {
		prev = strings.TrimSpace(string(b))
	}
	if prev != "" && (!on || prev != node) {
		var toks []mqtt.Token
		for topic, payload := range l.discovery(prev, true) {
			toks = append(toks, c.Publish(topic, 1, true, payload))
		}
		cleared := true
		for _, t := range toks {
			if !t.WaitTimeout(l.connectTimeout()) || t.Error() != nil {
				cleared = false
			}
		}
		if cleared && !on {
			if err := os.Remove(l.haMarker()); err != nil {
				l.log.Warn("mqtt home assistant: removing the discovery marker", "err", err)
			}
		}
		l.log.Info("mqtt home assistant discovery removed", "node", prev, "done", cleared)
	}
	if !on {
		return
	}
	for topic, payload := range l.discovery(node, false) {
		c.Publish(topic, 1, true, payload)
	}
	if err := os.WriteFile(l.haMarker(), []byte(node+"\n"), 0o600); err != nil {
		l.log.Warn("mqtt home assistant: cannot note the published node; turning homeassistant off will not remove it", "file", l.haMarker(), "err", err)
	}
	if !l.cfg.MQTT.AllowUnsignedHomeAssistant {
		l.log.Info("mqtt home assistant: the door lock is published as a read-only binary sensor: Home Assistant cannot sign commands and mqtt.allow_unsigned_homeassistant is off")
	}
	l.log.Debug("mqtt home assistant discovery published", "node", node)
}

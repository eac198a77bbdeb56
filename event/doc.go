// Package event is the catalogue of what facegate records and publishes:
// the event and alarm types, their kinds (which MQTT topic carries them), the
// sources that cause them and the one timestamp format of their payloads.
//
// Every package that records, publishes, filters or announces events (access,
// door, mqttlink, web, facedb, cmd/facegate) takes the names from here, so a
// new type is one line in event.go and appears everywhere at once: the web
// entry log's filter, the Home Assistant event entity and the docs test.
// The names are part of the external contract (docs/mqtt.md).
package event

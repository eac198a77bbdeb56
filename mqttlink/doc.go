// Package mqttlink is facegate's keep-alive-managed MQTT link to the IoT
// platform (paho.mqtt.golang v1.5.1).
//
// A Link (New, then Run under the daemon's errgroup) provides:
//   - the connection: keep-alive and ping timeout from [mqtt], WriteTimeout
//     always set, TLS with broker verification and optional client
//     certificate, its own reconnect loop with back-off capped at
//     max_reconnect_seconds;
//   - keep-alive compliance: the connection is wrapped so the client is
//     never silent for the whole keep-alive (MQTT 3.1.1 3.1.2.10), which paho
//     alone does not guarantee, and a link that does not answer a PINGREQ
//     within the ping timeout is closed;
//   - availability: will "offline" retained on P/availability, "online" on
//     every connect, "offline" before a clean shutdown; P/state retained on
//     every connect and change;
//   - the durable outbox sender: events and alarms that facedb queued with
//     their seq are published QoS1 in seq order and marked sent on PUBACK;
//     the outbox_backlog alarm when outbox_max_rows/outbox_max_age_hours is
//     reached;
//   - signed remote commands unlock, lock and status on P/cmd/<name>
//     (package signedcmd), replies, command_rejected events and audit;
//   - the IoT platform profile (mqtt.profile, package platform, applied in
//     profile.go): topic layout and payload wrapping, credentials derived at
//     every connect (IoTDA's hourly client id and password), will and
//     retain only where allowed, the upstream rate and in-flight limits, and
//     platform commands (IoTDA commands, ThingsBoard RPC) that the platform
//     authenticated but that are still refused when stale or replayed;
//   - optional Home Assistant MQTT discovery;
//   - Prometheus metrics facegate_mqtt_*.
package mqttlink

// Package standin runs local stand-ins of the IoT platforms facegate's
// mqtt.profile supports, for tests: a real MQTT broker
// (github.com/mochi-mqtt/server/v2) in the test process, with hooks that
// enforce the platform's published rules the way the platform does:
// credentials checked at CONNECT, keep-alive range, no will or retained
// messages where the platform has none, a topic allow-list, QoS limit, topic
// depth and an upstream rate limit that drops the connection when exceeded.
// Every refusal is kept as a Violation, so a test can assert there was none.
package standin

package testenv

import (
	"fmt"
	"testing"
)

// StartBridgedPair starts two brokers, the stand-in for a broker cluster:
// b runs a mosquitto bridge to a that carries topics (MQTT filters, e.g.
// "facegate/#") both ways at QoS 1, retained messages included. Clients of
// either broker see what clients of the other publish.
func StartBridgedPair(t testing.TB, topics ...string) (a, b *Broker) {
	t.Helper()
	a = StartBroker(t)
	conf := []string{
		"connection to-a",
		"address " + a.Addr,
		"bridge_protocol_version mqttv311",
		"try_private true", // a knows b is a bridge and does not echo b's messages back
		"cleansession true",
		"notifications false",
		"restart_timeout 1 2",
	}
	for _, tp := range topics {
		conf = append(conf, fmt.Sprintf("topic %s both 1", tp))
	}
	b = StartBroker(t, conf...)
	return a, b
}

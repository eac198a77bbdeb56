package site

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/mqttlink"
)

// Topics of one site under the configured topic prefix.
type Topics struct {
	prefix string // <topic_prefix>/site/<site>
	root   string // <topic_prefix>
}

// TopicsFor returns the topics of site under cfg's mqtt.topic_prefix.
func TopicsFor(cfg config.Config, site string) Topics {
	return Topics{prefix: cfg.MQTT.TopicPrefix + "/site/" + site, root: cfg.MQTT.TopicPrefix}
}

// Person is the retained record topic of one person.
func (t Topics) Person(id string) string { return t.prefix + "/people/" + id }

// People is the subscription filter for every person record.
func (t Topics) People() string { return t.prefix + "/people/+" }

// Door is the retained status topic of one door.
func (t Topics) Door(device string) string { return t.prefix + "/doors/" + device }

// Marker is the door's own topic for the end-of-burst marker (under the
// door's P tree, which the documented ACL lets it read and write).
func (t Topics) Marker(device string) string { return t.root + "/" + device + "/site/sync" }

// Doors is the subscription filter for every door status.
func (t Topics) Doors() string { return t.prefix + "/doors/+" }

// lastLevel is the last level of a topic (the uuid or device id).
func lastLevel(topic string) string {
	return topic[strings.LastIndexByte(topic, '/')+1:]
}

// clientOptions are the paho options shared by the door's syncer and the
// managing CLI: cfg's broker, credentials and TLS, a clean session, QoS 1.
func clientOptions(cfg config.Config, clientID string) (*mqtt.ClientOptions, error) {
	m := cfg.MQTT
	if m.Broker == "" {
		return nil, fmt.Errorf("site: %s: mqtt.broker is empty; the site library travels through the broker", cfg.File)
	}
	o := mqtt.NewClientOptions().AddBroker(m.Broker).SetClientID(clientID).
		SetUsername(m.Username).SetPassword(m.Password).SetCleanSession(true).
		SetKeepAlive(time.Duration(m.KeepaliveSeconds) * time.Second).
		SetPingTimeout(time.Duration(m.PingTimeoutSeconds) * time.Second).
		SetWriteTimeout(time.Duration(m.WriteTimeoutSeconds) * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetMaxReconnectInterval(time.Duration(m.MaxReconnectSeconds) * time.Second).
		SetOrderMatters(true)
	tc, err := mqttlink.ClientTLS(m)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	return o, nil
}

// wait waits for a paho token, the timeout or ctx.
func wait(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return fmt.Errorf("timed out after %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

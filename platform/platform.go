package platform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Profile names (mqtt.profile).
const (
	Generic     = "generic"
	HuaweiIoTDA = "huaweicloud-iotda"
	AWSIoT      = "aws-iot"
	ThingsBoard = "thingsboard"
)

// Names lists the profiles in documentation order.
var Names = []string{Generic, HuaweiIoTDA, AWSIoT, ThingsBoard}

// Layout is how a profile maps facegate's messages onto topics.
type Layout int

const (
	// LayoutPrefix is facegate's own layout under P = <topic_prefix>/<device_id>:
	// P/availability, P/state, P/events, P/alarms, signed P/cmd/<name>.
	LayoutPrefix Layout = iota
	// LayoutIoTDA is Huawei Cloud IoTDA's $oc/devices/{device_id}/sys/...
	LayoutIoTDA
	// LayoutThingsBoard is ThingsBoard's v1/devices/me/...
	LayoutThingsBoard
)

// Profile is what one platform allows and how facegate talks to it.
type Profile struct {
	Name   string
	Layout Layout
	// KeepAliveMin and KeepAliveMax bound mqtt.keepalive_seconds (0 = no bound).
	KeepAliveMin, KeepAliveMax int
	// RecommendedKeepAlive is what the docs and the refusal message suggest.
	RecommendedKeepAlive int
	Retain               bool // retained publishes allowed
	Will                 bool // a last will allowed (else the platform's own online state is availability)
	MaxQoS               byte
	// PublishRate is the most upstream publishes per second (0 = unlimited);
	// the outbox drains at that rate.
	PublishRate float64
	// MaxInflight is the most publishes awaiting PUBACK (0 = unlimited).
	MaxInflight int
	// MaxTopicLevels is the most levels of a topic (0 = unlimited).
	MaxTopicLevels int
	// Echo: the device may subscribe to its own upstream topics, so delivery
	// can be confirmed by echo (mqtt.confirm_delivery).
	Echo bool
	// PlatformCommands: commands come from the platform, which
	// authenticates their sender; facegate still refuses stale, replayed,
	// retained and malformed ones. Otherwise commands are signed (signedcmd).
	PlatformCommands bool
	// NeedsClientCert: the platform authenticates the device by its TLS
	// client certificate (mqtt.cert_file, mqtt.key_file).
	NeedsClientCert bool
	// NeedsTLS: the broker URL must be ssl://, tls://, mqtts:// or wss://.
	NeedsTLS bool
}

var profiles = map[string]Profile{
	Generic: {Name: Generic, Layout: LayoutPrefix, Retain: true, Will: true, MaxQoS: 2, Echo: true},
	// Huawei Cloud IoTDA (MQTT device access): keep-alive 30..1200 s, no
	// retained messages and no will, 50 upstream messages per second per
	// device, own upstream topics cannot be subscribed to.
	HuaweiIoTDA: {Name: HuaweiIoTDA, Layout: LayoutIoTDA, KeepAliveMin: 30, KeepAliveMax: 1200, RecommendedKeepAlive: 120,
		MaxQoS: 1, PublishRate: 50, PlatformCommands: true},
	// AWS IoT Core: keep-alive 30..1200 s, QoS 0/1, 100 publishes per second
	// and 100 in flight per connection, at most 7 slashes (8 levels) in a
	// topic, client certificate over TLS.
	AWSIoT: {Name: AWSIoT, Layout: LayoutPrefix, KeepAliveMin: 30, KeepAliveMax: 1200, RecommendedKeepAlive: 60,
		Retain: true, Will: true, MaxQoS: 1, PublishRate: 100, MaxInflight: 100, MaxTopicLevels: 8, Echo: true,
		NeedsClientCert: true, NeedsTLS: true},
	// ThingsBoard: access token as user name, telemetry, attributes and
	// server-side RPC; no will (the platform tracks activity itself).
	ThingsBoard: {Name: ThingsBoard, Layout: LayoutThingsBoard, MaxQoS: 1, PlatformCommands: true},
}

// Lookup returns the named profile ("" is generic).
func Lookup(name string) (Profile, error) {
	if name == "" {
		name = Generic
	}
	p, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("platform: unknown profile %q (want one of %s)", name, strings.Join(Names, ", "))
	}
	return p, nil
}

// CheckKeepAlive reports a keep-alive the platform refuses.
func (p Profile) CheckKeepAlive(seconds int) error {
	if p.KeepAliveMin == 0 && p.KeepAliveMax == 0 {
		return nil
	}
	if seconds < p.KeepAliveMin || seconds > p.KeepAliveMax {
		return fmt.Errorf("%d is outside %d..%d, the range profile %s accepts (%d recommended)",
			seconds, p.KeepAliveMin, p.KeepAliveMax, p.Name, p.RecommendedKeepAlive)
	}
	return nil
}

// Topics are the topics of one device under a profile. An empty topic is
// not used by the profile.
type Topics struct {
	Availability string // retained online/offline (and the will)
	State        string
	Events       string
	Alarms       string
	// Commands is the subscription filter of commands; Reply builds the
	// reply topic of a command from the topic it arrived on.
	Commands string
	layout   Layout
	base     string
}

// Topics returns the topics of device id; prefix is <topic_prefix>/<device_id>
// (used by LayoutPrefix only).
func (p Profile) Topics(prefix, deviceID string) Topics {
	switch p.Layout {
	case LayoutIoTDA:
		b := "$oc/devices/" + deviceID + "/sys/"
		return Topics{State: b + "properties/report", Events: b + "messages/up", Alarms: b + "messages/up",
			Commands: b + "commands/#", layout: p.Layout, base: b}
	case LayoutThingsBoard:
		b := "v1/devices/me/"
		return Topics{State: b + "attributes", Events: b + "telemetry", Alarms: b + "telemetry",
			Commands: b + "rpc/request/+", layout: p.Layout, base: b}
	}
	return Topics{Availability: prefix + "/availability", State: prefix + "/state", Events: prefix + "/events",
		Alarms: prefix + "/alarms", Commands: prefix + "/cmd/+", layout: p.Layout, base: prefix}
}

// RequestID returns the platform's request id of a command that arrived on
// topic ("" when topic is not one of the profile's command topics).
func (t Topics) RequestID(topic string) string {
	var pre string
	switch t.layout {
	case LayoutIoTDA:
		pre = t.base + "commands/request_id="
	case LayoutThingsBoard:
		pre = t.base + "rpc/request/"
	default:
		return ""
	}
	id, ok := strings.CutPrefix(topic, pre)
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// Response is the topic a platform command's response goes to.
func (t Topics) Response(requestID string) string {
	switch t.layout {
	case LayoutIoTDA:
		return t.base + "commands/response/request_id=" + requestID
	case LayoutThingsBoard:
		return t.base + "rpc/response/" + requestID
	}
	return ""
}

// All lists every topic the device publishes or subscribes to, for the
// topic depth check; replies holds the command reply topics.
func (t Topics) All(replies ...string) []string {
	out := []string{}
	for _, s := range append([]string{t.Availability, t.State, t.Events, t.Alarms, t.Commands}, replies...) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CheckDepth reports a topic deeper than the profile allows.
func (p Profile) CheckDepth(topics []string) error {
	if p.MaxTopicLevels == 0 {
		return nil
	}
	for _, t := range topics {
		if n := strings.Count(t, "/") + 1; n > p.MaxTopicLevels {
			return fmt.Errorf("topic %s has %d levels; profile %s allows %d (shorten mqtt.topic_prefix or device_id)", t, n, p.Name, p.MaxTopicLevels)
		}
	}
	return nil
}

// Credentials are what the client sends in CONNECT.
type Credentials struct {
	ClientID, Username, Password string
}

// Account is the configured identity: device id, mqtt.client_id,
// mqtt.username and mqtt.password.
type Account struct {
	DeviceID, ClientID, Username, Password string
}

// Credentials derives the CONNECT credentials at time now. IoTDA's change
// every hour (the timestamp is part of client id and password): call it at
// every connect.
func (p Profile) Credentials(a Account, now time.Time) Credentials {
	switch p.Name {
	case HuaweiIoTDA:
		ts := IoTDATimestamp(now)
		return Credentials{ClientID: IoTDAClientID(a.DeviceID, ts), Username: a.DeviceID, Password: IoTDAPassword(a.Password, ts)}
	case ThingsBoard:
		id := a.ClientID
		if id == "" {
			id = "facegate-" + a.DeviceID
		}
		return Credentials{ClientID: id, Username: a.Username} // the access token; no password
	}
	id := a.ClientID
	if id == "" {
		id = "facegate-" + a.DeviceID
	}
	return Credentials{ClientID: id, Username: a.Username, Password: a.Password}
}

// IoTDATimestamp is IoTDA's YYYYMMDDHH of now in UTC.
func IoTDATimestamp(now time.Time) string { return now.UTC().Format("2006010215") }

// IoTDAClientID is {device_id}_0_1_{timestamp}: device id type 0 (the
// device id as registered), signature type 1 (the platform checks the
// timestamp of the password).
func IoTDAClientID(deviceID, ts string) string { return deviceID + "_0_1_" + ts }

// IoTDAPassword is hex(HMAC-SHA256(key = timestamp, message = secret)).
func IoTDAPassword(secret, ts string) string {
	m := hmac.New(sha256.New, []byte(ts))
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}

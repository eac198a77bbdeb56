package mqttlink

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/platform"
	"github.com/facegate/facegate/signedcmd"
)

// This file applies the link's IoT platform profile (mqtt.profile, package
// platform): credentials derived at every connect, the upstream rate and
// in-flight limits, and the platform's state, event and command formats.

// ClockFileEnv names a file holding an RFC 3339 time that replaces the
// clock of the connect credentials (IoTDA's hourly client id and password).
// For tests only: they move the daemon's hour without waiting for it.
const ClockFileEnv = "FACEGATE_TEST_CREDENTIAL_CLOCK"

// credentialClock is time.Now, or the time in the ClockFileEnv file.
func credentialClock() func() time.Time {
	path := os.Getenv(ClockFileEnv)
	if path == "" {
		return time.Now
	}
	return func() time.Time {
		b, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return t
	}
}

// credentials derives the CONNECT credentials of the profile now.
func (l *Link) credentials() platform.Credentials {
	m := l.cfg.MQTT
	return l.prof.Credentials(platform.Account{DeviceID: l.cfg.DeviceID, ClientID: m.ClientID, Username: m.Username, Password: m.Password}, l.now())
}

func (l *Link) withCredentials(o *mqtt.ClientOptions, c platform.Credentials) *mqtt.ClientOptions {
	o.SetClientID(c.ClientID)
	o.SetUsername(c.Username)
	o.SetPassword(c.Password)
	return o
}

// cli is the current paho client.
func (l *Link) cli() mqtt.Client {
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	return l.client
}

// freshClient returns the client to connect with: a new one when the
// credentials changed since the last connect (paho fixes them per client),
// so IoTDA's client id and password always carry the current hour.
func (l *Link) freshClient() mqtt.Client {
	c := l.credentials()
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if c != l.creds {
		l.log.Info("mqtt credentials renewed", "client_id", c.ClientID)
		l.creds = c
		l.client = mqtt.NewClient(l.withCredentials(l.opts, c))
	}
	return l.client
}

// wait takes one upstream publish from the profile's rate limit.
func (l *Link) wait(ctx context.Context) error {
	if l.limiter == nil {
		return nil
	}
	return l.limiter.Wait(ctx)
}

// publish is a QoS 1 publish within the profile's rate limit.
func (l *Link) publish(ctx context.Context, topic string, retained bool, payload []byte) mqtt.Token {
	if err := l.wait(ctx); err != nil {
		l.log.Warn("mqtt publish skipped", "topic", topic, "err", err)
	}
	return l.cli().Publish(topic, 1, retained && l.prof.Retain, payload)
}

// batchSize is how many outbox rows go out before their PUBACKs are
// awaited: within the profile's in-flight limit, with room for state and
// replies.
func (l *Link) batchSize() int {
	if n := l.prof.MaxInflight; n > 0 {
		return max(1, min(outboxBatch, n*9/10))
	}
	return outboxBatch
}

// iotdaService is the service of facegate's IoTDA product model
// (docs/iotda-product-model.json).
const iotdaService = "door"

// platformState wraps the P/state JSON for the profile: IoTDA's property
// report; the others take it as it is (ThingsBoard client attributes).
func (l *Link) platformState(state []byte) []byte {
	if l.prof.Layout != platform.LayoutIoTDA {
		return state
	}
	b, _ := json.Marshal(map[string]any{"services": []any{map[string]any{
		"service_id": iotdaService, "properties": json.RawMessage(state)}}})
	return b
}

// platformEvent is the payload of an event or alarm row for the profile:
// the same JSON everywhere but on ThingsBoard, whose telemetry carries the
// event's own time as {"ts": <unix ms>, "values": <event JSON>}.
func (l *Link) platformEvent(payload []byte) []byte {
	if l.prof.Layout != platform.LayoutThingsBoard {
		return payload
	}
	var ev struct {
		TS string `json:"ts"`
	}
	_ = json.Unmarshal(payload, &ev)
	ts, err := time.Parse(time.RFC3339Nano, ev.TS)
	if err != nil {
		ts = time.Now()
	}
	b, _ := json.Marshal(map[string]any{"ts": ts.UnixMilli(), "values": json.RawMessage(payload)})
	return b
}

// platformCommand is a command as IoTDA (command_name, paras) or
// ThingsBoard RPC (method, params) sends it.
type platformCommand struct {
	CommandName string          `json:"command_name"`
	Paras       json.RawMessage `json:"paras"`
	Method      string          `json:"method"`
	Params      json.RawMessage `json:"params"`
}

// platformParams are the parameters facegate reads from a platform command.
type platformParams struct {
	TS      *int64  `json:"ts"`      // unix seconds, required: refuses commands the platform held back
	Nonce   string  `json:"nonce"`   // optional; default <profile>:<request id>
	Seconds float64 `json:"seconds"` // unlock only
}

// precheckPlatform checks a platform command on paho's handler goroutine:
// the platform authenticated the sender, so there is no signature, but a
// retained, stale, unknown or malformed command is refused like a signed
// one; the nonce (replay) check follows in commandLoop.
func (l *Link) precheckPlatform(topic string, payload []byte, retained bool) (queuedCmd, *rejection) {
	rid := l.topics.platform.RequestID(topic)
	if rid == "" {
		// Not a request (the device's own responses come back on
		// IoTDA's commands/#): nothing to answer.
		return queuedCmd{}, nil
	}
	respond := l.topics.platform.Response(rid)
	refuse := func(name, reason, detail string) (queuedCmd, *rejection) {
		return queuedCmd{}, &rejection{name: name, requestID: rid, reason: reason, detail: detail, respond: respond}
	}
	var pc platformCommand
	if err := json.Unmarshal(payload, &pc); err != nil {
		return refuse("unknown", signedcmd.ReasonMalformed, "not JSON: "+err.Error())
	}
	name, raw := pc.CommandName, pc.Paras
	if l.prof.Layout == platform.LayoutThingsBoard {
		name, raw = pc.Method, pc.Params
	}
	if !slices.Contains(signedcmd.Names, name) {
		return refuse(name, signedcmd.ReasonMalformed, fmt.Sprintf("unknown command %q (want one of %v)", name, signedcmd.Names))
	}
	if retained {
		return refuse(name, signedcmd.ReasonRetained, "retained message")
	}
	var pp platformParams
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &pp); err != nil {
			return refuse(name, signedcmd.ReasonMalformed, "parameters: "+err.Error())
		}
	}
	if pp.TS == nil {
		return refuse(name, signedcmd.ReasonMalformed, "parameter ts (unix seconds) is missing: a command the platform held back must not act later")
	}
	if skew := time.Since(time.Unix(*pp.TS, 0)); skew > signedcmd.MaxSkew || skew < -signedcmd.MaxSkew {
		return refuse(name, signedcmd.ReasonExpired, fmt.Sprintf("ts %d is %s from now (at most %s)", *pp.TS, skew.Round(time.Second), signedcmd.MaxSkew))
	}
	if pp.Seconds < 0 || pp.Seconds > signedcmd.MaxUnlockSeconds {
		return refuse(name, signedcmd.ReasonMalformed, fmt.Sprintf("seconds %v is outside 0..%v", pp.Seconds, signedcmd.MaxUnlockSeconds))
	}
	nonce := pp.Nonce
	if nonce == "" {
		nonce = l.prof.Name + ":" + rid + ":" + fmt.Sprint(*pp.TS)
	}
	return queuedCmd{name: name, respond: respond, cmd: signedcmd.Command{Name: name,
		Body: signedcmd.Body{RequestID: rid, TS: *pp.TS, Nonce: nonce, Seconds: pp.Seconds}}}, nil
}

// platformReply answers a platform command on its response topic: IoTDA's
// {"result_code":0|1,"response_name":...,"paras":{...}}, ThingsBoard's
// RPC response (the reply JSON itself).
func (l *Link) platformReply(ref cmdRef, r Reply) {
	var b []byte
	switch l.prof.Layout {
	case platform.LayoutIoTDA:
		code := 0
		if !r.OK {
			code = 1
		}
		b, _ = json.Marshal(map[string]any{"result_code": code, "response_name": ref.name, "paras": r})
	default:
		b, _ = json.Marshal(r)
	}
	l.publish(context.Background(), ref.respond, false, b)
}

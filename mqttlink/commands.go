package mqttlink

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/signedcmd"
)

// Event types recorded for commands (CONTRACT.md).
const (
	typeRemoteUnlock    = "remote_unlock"
	typeRemoteLock      = "remote_lock"
	typeCommandRejected = "command_rejected"
)

// Reply is the JSON published on P/cmd/<name>/reply.
type Reply struct {
	RequestID string          `json:"request_id"`
	OK        bool            `json:"ok"`
	Error     string          `json:"error,omitempty"`
	State     json.RawMessage `json:"state,omitempty"` // status only: the P/state payload
	// Sig is the reply's signature (signedcmd.SignReply), added when it is
	// published; empty in a Reply being built.
	Sig string `json:"sig,omitempty"`
}

// commandLoop serves queued command messages one at a time, and republishes
// the Home Assistant discovery when asked.
func (l *Link) commandLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-l.cmds:
			if msg.Topic() == l.topics.haLockSet {
				l.handleHomeAssistant(ctx, msg)
			} else {
				l.handleCommand(ctx, msg.Topic(), msg.Payload(), msg.Retained())
			}
		case <-l.haKick:
			l.publishDiscovery()
		}
	}
}

// handleCommand verifies and executes one signed command.
func (l *Link) handleCommand(ctx context.Context, topic string, payload []byte, retained bool) {
	name := signedcmd.NameFromTopic(l.topics.prefix, topic)
	hint := signedcmd.RequestIDHint(payload)
	if name == "" {
		l.reject(ctx, topic[len(l.topics.prefix)+len("/cmd/"):], hint, signedcmd.ReasonMalformed, "unknown command")
		return
	}
	// Retained messages are never acted on: checked before anything else.
	if retained {
		l.reject(ctx, name, hint, signedcmd.ReasonRetained, "retained message")
		return
	}
	now := time.Now()
	cmd, err := signedcmd.Verify(l.key, topic, payload, now)
	if err != nil {
		if cmd.RequestID != "" {
			hint = cmd.RequestID
		}
		l.reject(ctx, name, hint, signedcmd.Reason(err), err.Error())
		return
	}
	fresh, err := l.db.UseNonce(ctx, cmd.Nonce, now, signedcmd.MaxSkew)
	if err != nil {
		l.finish(ctx, name, cmd.RequestID, false, "nonce check failed: "+err.Error(), nil)
		return
	}
	if !fresh {
		l.reject(ctx, name, cmd.RequestID, signedcmd.ReasonReplay, "nonce "+cmd.Nonce+" already used")
		return
	}
	switch name {
	case signedcmd.Unlock:
		l.unlock(ctx, name, cmd.RequestID, cmd.Seconds, "signed")
	case signedcmd.Lock:
		l.lock(ctx, name, cmd.RequestID, "signed")
	case signedcmd.Status:
		l.finish(ctx, name, cmd.RequestID, true, "", l.statePayload(ctx, l.door.State()))
	}
}

func (l *Link) unlock(ctx context.Context, name, requestID string, seconds float64, via string) {
	d := time.Duration(seconds * float64(time.Second))
	if d <= 0 {
		d = time.Duration(l.cfg.Door.UnlockSeconds * float64(time.Second))
	}
	if err := l.door.Unlock(ctx, d, door.SourceRemote, requestID); err != nil {
		l.finish(ctx, name, requestID, false, "unlock failed: "+err.Error(), nil)
		return
	}
	l.record(ctx, facedb.Record{Kind: kindEvent, Type: typeRemoteUnlock, Source: door.SourceRemote,
		Detail: map[string]any{"request_id": requestID, "seconds": d.Seconds(), "via": via}})
	l.finish(ctx, name, requestID, true, "", nil)
}

func (l *Link) lock(ctx context.Context, name, requestID, via string) {
	if err := l.door.Lock(ctx, door.SourceRemote, requestID); err != nil {
		l.finish(ctx, name, requestID, false, "lock failed: "+err.Error(), nil)
		return
	}
	l.record(ctx, facedb.Record{Kind: kindEvent, Type: typeRemoteLock, Source: door.SourceRemote,
		Detail: map[string]any{"request_id": requestID, "via": via}})
	l.finish(ctx, name, requestID, true, "", nil)
}

// reject refuses a command: reply ok:false with the reason, a
// command_rejected event and an audit entry.
func (l *Link) reject(ctx context.Context, name, requestID, reason, detail string) {
	l.log.Warn("mqtt command rejected", "command", name, "request_id", requestID, "reason", reason, "detail", detail)
	l.record(ctx, facedb.Record{Kind: kindEvent, Type: typeCommandRejected, Reason: reason, Source: door.SourceRemote,
		Detail: map[string]any{"command": name, "request_id": requestID}})
	l.audit(ctx, name, requestID, false, reason+": "+detail)
	l.m.commands.WithLabelValues(metricName(name), reason).Inc()
	l.reply(name, Reply{RequestID: requestID, OK: false, Error: reason})
}

// finish audits and answers a command that passed the checks.
func (l *Link) finish(ctx context.Context, name, requestID string, ok bool, errText string, state []byte) {
	result := "ok"
	if !ok {
		result = "failed"
		l.log.Error("mqtt command failed", "command", name, "request_id", requestID, "err", errText)
	} else {
		l.log.Info("mqtt command executed", "command", name, "request_id", requestID)
	}
	l.audit(ctx, name, requestID, ok, errText)
	l.m.commands.WithLabelValues(metricName(name), result).Inc()
	l.reply(name, Reply{RequestID: requestID, OK: ok, Error: errText, State: state})
}

// metricName bounds the label values: any name outside the contract (a
// sender may invent topics) counts as "unknown".
func metricName(name string) string {
	if slices.Contains(signedcmd.Names, name) || name == haCommandName {
		return name
	}
	return "unknown"
}

func (l *Link) record(ctx context.Context, r facedb.Record) {
	if _, err := l.db.Record(context.WithoutCancel(ctx), r); err != nil {
		l.log.Error("mqtt command: record event", "type", r.Type, "err", err)
	}
}

func (l *Link) audit(ctx context.Context, name, requestID string, ok bool, detail string) {
	d := "request_id=" + requestID
	if detail != "" {
		d += " " + detail
	}
	if err := l.db.Audit(context.WithoutCancel(ctx), facedb.AuditEntry{
		TS: time.Now(), Actor: "mqtt", Action: "cmd." + name, Target: "door", Detail: d, OK: ok,
	}); err != nil {
		l.log.Error("mqtt command: audit", "err", err)
	}
}

func (l *Link) reply(name string, r Reply) {
	if name == haCommandName {
		return // Home Assistant reads the new state from P/state
	}
	topic := signedcmd.ReplyTopic(l.topics.prefix, name)
	b, err := json.Marshal(r)
	if err == nil {
		b, err = signedcmd.SignReply(l.key, topic, r.RequestID, b)
	}
	if err != nil {
		l.log.Error("mqtt reply", "err", err)
		return
	}
	l.client.Publish(topic, 1, false, b)
}

// handleHomeAssistant serves the unsigned LOCK/UNLOCK of Home Assistant's
// MQTT lock, only when allow_unsigned_homeassistant is set.
func (l *Link) handleHomeAssistant(ctx context.Context, msg mqtt.Message) {
	const name = haCommandName
	switch {
	case msg.Retained():
		l.reject(ctx, name, "", signedcmd.ReasonRetained, "retained message")
	case !l.cfg.MQTT.AllowUnsignedHomeAssistant:
		l.reject(ctx, name, "", signedcmd.ReasonDisabled, "unsigned Home Assistant commands are off (mqtt.allow_unsigned_homeassistant)")
	case string(msg.Payload()) == "UNLOCK":
		l.unlock(ctx, name, fmt.Sprintf("ha-%d", time.Now().UnixMilli()), 0, "homeassistant")
	case string(msg.Payload()) == "LOCK":
		l.lock(ctx, name, fmt.Sprintf("ha-%d", time.Now().UnixMilli()), "homeassistant")
	default:
		l.reject(ctx, name, "", signedcmd.ReasonMalformed, "payload is not LOCK or UNLOCK")
	}
}

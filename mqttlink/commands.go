package mqttlink

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/signedcmd"
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

// commandLoop serves the queued commands (each already verified, see
// precheck) one at a time, and republishes the Home Assistant discovery when
// asked.
func (l *Link) commandLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-l.cmds:
			if q.ha != "" {
				l.handleHomeAssistant(ctx, q.ha)
			} else {
				l.handleCommand(ctx, q)
			}
		case <-l.haKick:
			l.publishDiscovery()
		}
	}
}

// queuedCmd is a command that passed every check that needs no database:
// a signed command with a good signature and timestamp, or (ha set) an
// allowed Home Assistant LOCK/UNLOCK.
type queuedCmd struct {
	name    string
	cmd     signedcmd.Command
	ha      string // Home Assistant payload, "" for a signed command
	respond string // platform command: its response topic (see cmdRef)
}

func (q queuedCmd) ref() cmdRef {
	return cmdRef{name: q.name, requestID: q.cmd.RequestID, respond: q.respond}
}

// cmdRef names a command for its audit entry and its reply.
type cmdRef struct {
	name, requestID string
	// respond is the response topic of a platform command (profiles with
	// PlatformCommands); "" answers on P/cmd/<name>/reply, signed.
	respond string
}

// precheck verifies a command message on paho's handler goroutine, before
// anything is queued or stored: topic, retain flag, key, signature, body
// and timestamp. It needs no database and costs one HMAC, so a flood of junk
// is refused at the rate it arrives and never queues in front of a valid
// command. Only the nonce (replay) check is left to commandLoop.
func (l *Link) precheck(topic string, payload []byte, retained bool) (queuedCmd, *rejection) {
	if topic == l.topics.haLockSet {
		const name = haCommandName
		switch p := string(payload); {
		case retained:
			return queuedCmd{}, &rejection{name: name, reason: signedcmd.ReasonRetained, detail: "retained message"}
		case !l.cfg.MQTT.AllowUnsignedHomeAssistant:
			return queuedCmd{}, &rejection{name: name, reason: signedcmd.ReasonDisabled, detail: "unsigned Home Assistant commands are off (mqtt.allow_unsigned_homeassistant)"}
		case p == "UNLOCK" || p == "LOCK":
			return queuedCmd{name: name, ha: p}, nil
		default:
			return queuedCmd{}, &rejection{name: name, reason: signedcmd.ReasonMalformed, detail: "payload is not LOCK or UNLOCK"}
		}
	}
	name := signedcmd.NameFromTopic(l.topics.prefix, topic)
	hint := signedcmd.RequestIDHint(payload)
	if name == "" {
		return queuedCmd{}, &rejection{name: topic[len(l.topics.prefix)+len("/cmd/"):], requestID: hint,
			reason: signedcmd.ReasonMalformed, detail: "unknown command"}
	}
	// Retained messages are never acted on: checked before anything else.
	if retained {
		return queuedCmd{}, &rejection{name: name, requestID: hint, reason: signedcmd.ReasonRetained, detail: "retained message"}
	}
	cmd, err := signedcmd.Verify(l.key, topic, payload, time.Now())
	if err != nil {
		if cmd.RequestID != "" {
			hint = cmd.RequestID
		}
		return queuedCmd{}, &rejection{name: name, requestID: hint, reason: signedcmd.Reason(err), detail: err.Error()}
	}
	return queuedCmd{name: name, cmd: cmd}, nil
}

// handleCommand checks the nonce of a verified command and executes it.
func (l *Link) handleCommand(ctx context.Context, q queuedCmd) {
	name, cmd, ref := q.name, q.cmd, q.ref()
	fresh, err := l.db.UseNonce(ctx, cmd.Nonce, time.Now(), signedcmd.MaxSkew)
	if err != nil {
		l.finish(ctx, ref, false, "nonce check failed: "+err.Error(), nil)
		return
	}
	if !fresh {
		l.rejected(rejection{name: name, requestID: cmd.RequestID, reason: signedcmd.ReasonReplay, detail: "nonce " + cmd.Nonce + " already used", respond: q.respond})
		return
	}
	via := "signed"
	if q.respond != "" {
		via = l.prof.Name
	}
	switch name {
	case signedcmd.Unlock:
		l.unlock(ctx, ref, cmd.Seconds, via)
	case signedcmd.Lock:
		l.lock(ctx, ref, via)
	case signedcmd.Status:
		l.finish(ctx, ref, true, "", l.statePayload(ctx, l.door.State()))
	}
}

func (l *Link) unlock(ctx context.Context, ref cmdRef, seconds float64, via string) {
	requestID := ref.requestID
	d := time.Duration(seconds * float64(time.Second))
	if d <= 0 {
		d = time.Duration(l.cfg.Door.UnlockSeconds * float64(time.Second))
	}
	if err := l.door.Unlock(ctx, d, event.SourceRemote, requestID); err != nil {
		l.finish(ctx, ref, false, "unlock failed: "+err.Error(), nil)
		return
	}
	l.record(ctx, facedb.Record{Kind: event.KindEvent, Type: event.RemoteUnlock, Source: event.SourceRemote,
		Detail: map[string]any{"request_id": requestID, "seconds": d.Seconds(), "via": via}})
	l.finish(ctx, ref, true, "", nil)
}

func (l *Link) lock(ctx context.Context, ref cmdRef, via string) {
	requestID := ref.requestID
	if err := l.door.Lock(ctx, event.SourceRemote, requestID); err != nil {
		l.finish(ctx, ref, false, "lock failed: "+err.Error(), nil)
		return
	}
	l.record(ctx, facedb.Record{Kind: event.KindEvent, Type: event.RemoteLock, Source: event.SourceRemote,
		Detail: map[string]any{"request_id": requestID, "via": via}})
	l.finish(ctx, ref, true, "", nil)
}

// finish audits and answers a command that passed the checks.
func (l *Link) finish(ctx context.Context, ref cmdRef, ok bool, errText string, state []byte) {
	name, requestID := ref.name, ref.requestID
	result := "ok"
	if !ok {
		result = "failed"
		l.log.Error("mqtt command failed", "command", name, "request_id", requestID, "err", errText)
	} else {
		l.log.Info("mqtt command executed", "command", name, "request_id", requestID)
	}
	l.audit(ctx, name, requestID, ok, errText)
	l.m.commands.WithLabelValues(metricName(name), result).Inc()
	l.reply(ref, Reply{RequestID: requestID, OK: ok, Error: errText, State: state})
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

func (l *Link) reply(ref cmdRef, r Reply) {
	name := ref.name
	if name == haCommandName {
		return // Home Assistant reads the new state from P/state
	}
	if ref.respond != "" || l.prof.PlatformCommands {
		if ref.respond != "" {
			l.platformReply(ref, r)
		}
		return // platform commands are never answered on P/cmd/<name>/reply
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
	l.publish(context.Background(), topic, false, b)
}

// handleHomeAssistant serves the unsigned LOCK/UNLOCK of Home Assistant's
// MQTT lock (precheck let it through: allow_unsigned_homeassistant is set).
func (l *Link) handleHomeAssistant(ctx context.Context, payload string) {
	const name = haCommandName
	id := fmt.Sprintf("ha-%d", time.Now().UnixMilli())
	ref := cmdRef{name: name, requestID: id}
	if payload == "UNLOCK" {
		l.unlock(ctx, ref, 0, "homeassistant")
	} else {
		l.lock(ctx, ref, "homeassistant")
	}
}

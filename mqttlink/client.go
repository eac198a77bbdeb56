package mqttlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/platform"
	"github.com/facegate/facegate/signedcmd"
)

// ErrBadReply is returned by SendCommand when the only replies that came
// were not signed with the command key (forged, or another key).
var ErrBadReply = errors.New("mqttlink: reply not verified")

// ErrNoReply is returned by SendCommand when no reply came in time.
var ErrNoReply = errors.New("mqttlink: no reply from the device")

// SendCommand signs a remote command with the configured key, publishes it to
// the device of cfg and waits for the reply (what `facegate cmd` does).
// seconds is only used for unlock (0 = the device's default). It connects
// with cfg's broker, credentials and TLS settings under its own client id.
func SendCommand(ctx context.Context, cfg config.Config, name string, seconds float64, timeout time.Duration) (Reply, error) {
	if !slices.Contains(signedcmd.Names, name) {
		return Reply{}, fmt.Errorf("%w: unknown command %q (want one of %v)", ErrConfig, name, signedcmd.Names)
	}
	if cfg.MQTT.Broker == "" {
		return Reply{}, fmt.Errorf("%w: mqtt.broker is empty", ErrConfig)
	}
	if p, err := platform.Lookup(cfg.MQTT.Profile); err != nil || p.PlatformCommands {
		return Reply{}, fmt.Errorf("%w: mqtt.profile %q: commands come from the platform (its console or API), not from facegate cmd", ErrConfig, cfg.MQTT.Profile)
	}
	key, err := signedcmd.ParseKey(cfg.MQTT.CommandKey)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if key == nil {
		return Reply{}, fmt.Errorf("%w: mqtt.command_key is empty: there is no key to sign with", ErrConfig)
	}
	prefix := cfg.TopicPrefix()
	body := signedcmd.Body{RequestID: "cli-" + randHex(8), Nonce: randHex(16), TS: time.Now().Unix(), Seconds: seconds}
	payload, err := signedcmd.Build(key, signedcmd.Topic(prefix, name), body)
	if err != nil {
		return Reply{}, err
	}

	o := mqtt.NewClientOptions().AddBroker(cfg.MQTT.Broker).SetClientID("facegate-cmd-" + randHex(6)).
		SetUsername(cfg.MQTT.Username).SetPassword(cfg.MQTT.Password).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(timeout).SetWriteTimeout(time.Duration(cfg.MQTT.WriteTimeoutSeconds) * time.Second)
	if u, err := url.Parse(cfg.MQTT.Broker); err == nil {
		switch u.Scheme {
		case "ssl", "tls", "mqtts", "wss":
			tc, err := tlsConfig(cfg.MQTT, u.Hostname())
			if err != nil {
				return Reply{}, err
			}
			o.SetTLSConfig(tc)
		}
	}
	c := mqtt.NewClient(o)
	if err := wait(ctx, c.Connect(), timeout); err != nil {
		return Reply{}, fmt.Errorf("mqttlink: connect %s: %w", cfg.MQTT.Broker, err)
	}
	defer c.Disconnect(100)

	replyTopic := signedcmd.ReplyTopic(prefix, name)
	replies := make(chan verifiedReply, 4)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		var r Reply
		if json.Unmarshal(m.Payload(), &r) != nil || r.RequestID != body.RequestID {
			return // another request's reply, or noise
		}
		_, err := signedcmd.VerifyReply(key, replyTopic, body.RequestID, m.Payload())
		select {
		case replies <- verifiedReply{r, err}:
		default:
		}
	}
	if err := wait(ctx, c.Subscribe(replyTopic, 1, handler), timeout); err != nil {
		return Reply{}, fmt.Errorf("mqttlink: subscribe to the reply: %w", err)
	}
	if err := wait(ctx, c.Publish(signedcmd.Topic(prefix, name), 1, false, payload), timeout); err != nil {
		return Reply{}, fmt.Errorf("mqttlink: publish command: %w", err)
	}
	// A reply that does not verify is never taken for the device's answer;
	// once one came, the genuine reply gets a short grace period.
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var bad *verifiedReply
	for {
		select {
		case v := <-replies:
			if v.err == nil {
				return v.r, nil
			}
			if bad == nil {
				bad = &v
				deadline.Reset(min(timeout, forgedReplyGrace))
			}
		case <-deadline.C:
			if bad != nil {
				out, _ := json.Marshal(bad.r)
				return Reply{RequestID: body.RequestID}, fmt.Errorf("%w: the reply on %s for request %s does not verify (%w): the device has another mqtt.command_key, or someone else answered; unverified reply: %s",
					ErrBadReply, replyTopic, body.RequestID, bad.err, out)
			}
			return Reply{RequestID: body.RequestID}, fmt.Errorf("%w within %s (request %s): is the device online?", ErrNoReply, timeout, body.RequestID)
		case <-ctx.Done():
			return Reply{RequestID: body.RequestID}, ctx.Err()
		}
	}
}

// forgedReplyGrace is how long SendCommand still waits for a verified reply
// after one that does not verify.
const forgedReplyGrace = 2 * time.Second

type verifiedReply struct {
	r   Reply
	err error
}

func wait(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-time.After(timeout):
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

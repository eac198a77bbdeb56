package standin

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The stand-ins must refuse what the platforms refuse, or the profile tests
// could not fail: each rule is broken once here by a plain paho client.

func client(p *Platform, id, user, pass string, keepalive time.Duration, will bool) mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + p.Addr).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetKeepAlive(keepalive).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if will {
		o.SetWill("$oc/devices/d1/sys/messages/up", "offline", 1, false)
	}
	return mqtt.NewClient(o)
}

func connects(c mqtt.Client) bool {
	t := c.Connect()
	return t.WaitTimeout(5*time.Second) && t.Error() == nil
}

func TestIoTDARules(t *testing.T) {
	at := time.Date(2025, 4, 14, 1, 10, 0, 0, time.UTC)
	p := Start(t, IoTDA("d1", "12345678", func() time.Time { return at }))
	good := "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a" // the published test vector
	for name, c := range map[string]mqtt.Client{
		"wrong password":   client(p, "d1_0_1_2025041401", "d1", "00", time.Minute, false),
		"stale hour":       client(p, "d1_0_1_2025041400", "d1", good, time.Minute, false),
		"keep-alive 10 s":  client(p, "d1_0_1_2025041401", "d1", good, 10*time.Second, false),
		"with a will":      client(p, "d1_0_1_2025041401", "d1", good, time.Minute, true),
		"another username": client(p, "d1_0_1_2025041401", "d2", good, time.Minute, false),
	} {
		if connects(c) {
			t.Errorf("%s: connected", name)
			c.Disconnect(0)
		}
	}
	c := client(p, "d1_0_1_2025041401", "d1", good, time.Minute, false)
	if !connects(c) {
		t.Fatalf("the right credentials were refused: %v", p.Violations())
	}
	c.Publish("$oc/devices/d1/sys/messages/up", 1, true, "retained").WaitTimeout(time.Second)
	p.Wait("retain refused", 5*time.Second, func() bool { return !c.IsConnectionOpen() })

	c = client(p, "d1_0_1_2025041401", "d1", good, time.Minute, false)
	if !connects(c) {
		t.Fatal("reconnect refused")
	}
	c.Publish("facegate/d1/events", 1, false, "x").WaitTimeout(time.Second)
	p.Wait("a topic outside the allow-list refused", 5*time.Second, func() bool { return !c.IsConnectionOpen() })

	c = client(p, "d1_0_1_2025041401", "d1", good, time.Minute, false)
	if !connects(c) {
		t.Fatal("reconnect refused")
	}
	for i := 0; i < 60 && c.IsConnectionOpen(); i++ {
		c.Publish("$oc/devices/d1/sys/messages/up", 0, false, fmt.Sprint(i))
	}
	p.Wait("more than 50 messages in a second refused", 5*time.Second, func() bool { return !c.IsConnectionOpen() })
	rules := map[string]bool{}
	for _, v := range p.Violations() {
		rules[v.Rule] = true
	}
	for _, r := range []string{"auth", "keepalive", "will", "retain", "topic", "rate"} {
		if !rules[r] {
			t.Errorf("rule %s never reported (violations %v)", r, p.Violations())
		}
	}
}

func TestThingsBoardRules(t *testing.T) {
	p := Start(t, ThingsBoard("TOKEN"))
	if c := client(p, "x", "other", "", time.Minute, false); connects(c) {
		t.Error("connected with another token")
	}
	c := client(p, "x", "TOKEN", "", time.Minute, false)
	if !connects(c) {
		t.Fatal("the token was refused")
	}
	tok := c.Subscribe("v1/devices/me/telemetry", 1, nil)
	tok.WaitTimeout(5 * time.Second)
	if r := tok.(*mqtt.SubscribeToken).Result()["v1/devices/me/telemetry"]; r != 0x80 {
		t.Errorf("subscription to the device's own telemetry granted (%#x)", r)
	}
}

package mqttlink

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// aclBroker starts mosquitto with an ACL file that lets anonymous clients
// publish everything of the device except lines in deny.
func aclBroker(t *testing.T, acl string) *testenv.Broker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(path, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	return testenv.StartBroker(t, "acl_file "+path)
}

func recordN(t *testing.T, db *facedb.DB, kind, typ string, n int) []int64 {
	t.Helper()
	var seqs []int64
	for i := 0; i < n; i++ {
		r, err := db.Record(context.Background(), facedb.Record{Kind: kind, Type: typ, Source: "test"})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

// TestACLDeniedPublishUnconfirmed: mosquitto 2 answers a QoS 1 publish its
// ACL denies with a normal PUBACK under MQTT 3.1.1. With P/alarms denied,
// the alarms must not be marked delivered: they stay acknowledged, a
// delivery_unconfirmed alarm names them, and health and metrics show it,
// while the events (allowed) are delivered.
func TestACLDeniedPublishUnconfirmed(t *testing.T) {
	t.Parallel()
	b := aclBroker(t, "topic readwrite "+prefix+"/availability\ntopic readwrite "+prefix+"/state\n"+
		"topic readwrite "+prefix+"/events\ntopic read "+prefix+"/alarms\ntopic readwrite "+prefix+"/cmd/#\n")
	db := openDB(t, "")
	events := recordN(t, db, "event", "door_opened", 3)
	alarms := recordN(t, db, "alarm", "door_forced_open", 2)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.EchoTimeoutSeconds = 2
	r := startRig(t, cfg, db)
	testenv.WaitFor(t, "delivery_unconfirmed alarm", 20*time.Second, func() bool {
		evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "delivery_unconfirmed"})
		return len(evs) == 1
	})
	evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "delivery_unconfirmed"})
	if got := fmt.Sprint(evs[0].Detail["seqs"]); got != fmt.Sprint(alarms) {
		t.Fatalf("delivery_unconfirmed names seqs %s, want the denied alarms %v (%s)", got, alarms, evs[0].Reason)
	}
	ds := r.link.Status().Delivery
	if ds.Unconfirmed < len(alarms) {
		t.Fatalf("delivery stats = %+v, want the %d alarms unconfirmed", ds, len(alarms))
	}
	st, _ := db.OutboxStats(context.Background())
	if st.Depth != ds.Acked+ds.Parked && st.Depth < len(alarms) {
		t.Fatalf("outbox depth %d: the denied alarms were marked delivered", st.Depth)
	}
	pend, _ := db.PendingOutbox(context.Background(), 100)
	for _, p := range pend {
		for _, e := range events {
			if p.Seq == e {
				t.Fatalf("allowed event %d not delivered", e)
			}
		}
	}
	if c := r.health.Report().Components[deliveryHealth]; c.OK {
		t.Fatalf("health delivery component OK with unconfirmed alarms: %+v", c)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_outbox_unconfirmed"); v < float64(len(alarms)) {
		t.Fatalf("facegate_mqtt_outbox_unconfirmed = %v", v)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_outbox_delivered_total"); v != float64(len(events)) {
		t.Fatalf("facegate_mqtt_outbox_delivered_total = %v, want %d", v, len(events))
	}
}

// TestConfirmDeliveryOff: for platforms that forbid subscribing to one's own
// topics, the PUBACK marks a row delivered and nothing is subscribed.
func TestConfirmDeliveryOff(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	db := openDB(t, "")
	recordN(t, db, "alarm", "door_forced_open", 2)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.ConfirmDelivery = false
	r := startRig(t, cfg, db)
	testenv.WaitFor(t, "outbox drained on PUBACK", 10*time.Second, func() bool {
		st, _ := db.OutboxStats(context.Background())
		return st.Depth == 0
	})
	if v := r.link.echoesSeen.Load(); v != 0 {
		t.Fatalf("%d echoes seen with confirm_delivery off: the link subscribed to its own topics", v)
	}
	if c := r.health.Report().Components[deliveryHealth]; !c.OK {
		t.Fatalf("delivery health = %+v", c)
	}
}

// TestPoisonedRowParked: a broker that drops the connection on a publish it
// denies (EMQX deny_action = disconnect, mochi, AWS IoT) is emulated by a
// proxy that closes the connection on any PUBLISH to P/alarms. The alarm is
// parked after repeated failures, outbox_blocked names its seq, and the
// events behind it are delivered.
func TestPoisonedRowParked(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", b.Addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { copyPackets(c, up, func(byte, []byte) bool { return false }); c.Close() }()
			go func() {
				copyPackets(up, c, func(h byte, body []byte) bool {
					if h>>4 == 3 && publishTopic(body) == prefix+"/alarms" {
						// "Denied": like a broker, answer what came before
						// (the PUBACKs already on their way), then drop the
						// connection without acknowledging this one.
						time.Sleep(200 * time.Millisecond)
						c.Close()
						up.Close()
						return true
					}
					return false
				})
				c.Close()
				up.Close()
			}()
		}
	}()
	db := openDB(t, "")
	before := recordN(t, db, "event", "door_opened", 2)
	poisoned := recordN(t, db, "alarm", "door_forced_open", 1)[0]
	after := recordN(t, db, "event", "door_closed", 5)
	cfg := testConfig("tcp://"+ln.Addr().String(), 5)
	cfg.MQTT.MaxReconnectSeconds = 1
	r := startRig(t, cfg, db)
	testenv.WaitFor(t, "outbox_blocked alarm", 60*time.Second, func() bool {
		evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "outbox_blocked"})
		return len(evs) == 1
	})
	evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "outbox_blocked"})
	if s, _ := evs[0].Detail["seq"].(float64); int64(s) != poisoned {
		t.Fatalf("outbox_blocked names seq %v, want %d (%s)", evs[0].Detail["seq"], poisoned, evs[0].Reason)
	}
	testenv.WaitFor(t, "the events behind the parked row delivered", 30*time.Second, func() bool {
		pend, _ := db.PendingOutbox(context.Background(), 100)
		ds, _ := db.DeliveryStats(context.Background())
		for _, p := range pend {
			for _, s := range append(before, after...) {
				if p.Seq == s {
					return false
				}
			}
		}
		return ds.Acked == 0 || ds.Parked > 0
	})
	ds, _ := db.DeliveryStats(context.Background())
	if ds.Parked < 1 || ds.ParkedSeqs[0] != poisoned {
		t.Fatalf("delivery stats = %+v, want seq %d parked and kept", ds, poisoned)
	}
	if c := r.health.Report().Components[deliveryHealth]; c.OK {
		t.Fatalf("delivery health OK with a parked row: %+v", c)
	}
}

// publishTopic is the topic of a PUBLISH packet's body.
func publishTopic(body []byte) string {
	if len(body) < 2 {
		return ""
	}
	n := int(body[0])<<8 | int(body[1])
	if len(body) < 2+n {
		return ""
	}
	return string(body[2 : 2+n])
}

// TestSilentEchoSubscriptionReported: mosquitto 2.0.11 grants a subscription
// its ACL denies and then delivers nothing. With reading the device's own
// P/events and P/alarms denied, no row is marked delivered and the
// delivery_unconfirmed alarm says that nothing came back at all.
func TestSilentEchoSubscriptionReported(t *testing.T) {
	t.Parallel()
	b := aclBroker(t, "topic readwrite "+prefix+"/availability\ntopic readwrite "+prefix+"/state\n"+
		"topic write "+prefix+"/events\ntopic write "+prefix+"/alarms\ntopic readwrite "+prefix+"/cmd/#\n")
	db := openDB(t, "")
	recordN(t, db, "event", "door_opened", 2)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.EchoTimeoutSeconds = 1
	r := startRig(t, cfg, db)
	testenv.WaitFor(t, "delivery_unconfirmed alarm", 20*time.Second, func() bool {
		evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "delivery_unconfirmed"})
		return len(evs) == 1
	})
	evs, _ := db.Events(context.Background(), facedb.EventFilter{Type: "delivery_unconfirmed"})
	if !strings.Contains(evs[0].Reason, "no message at all came back") || evs[0].Detail["echoes_seen"] != float64(0) {
		t.Fatalf("delivery_unconfirmed = %q %v: it must say the subscription delivers nothing", evs[0].Reason, evs[0].Detail)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_outbox_delivered_total"); v != 0 {
		t.Fatalf("%v rows counted delivered with no echo at all", v)
	}
	if c := r.health.Report().Components[deliveryHealth]; c.OK {
		t.Fatalf("delivery health OK: %+v", c)
	}
}

// TestEchoSubscriptionRefusedReported: a broker that refuses the echo
// subscription (SUBACK 0x80) is reported in the delivery health, and no row
// is taken for delivered. The broker is a tiny fake on loopback that accepts
// everything else.
func TestEchoSubscriptionRefusedReported(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				copyPackets(io.Discard, c, func(h byte, body []byte) bool {
					switch h >> 4 {
					case 1: // CONNECT
						c.Write([]byte{0x20, 0x02, 0x00, 0x00})
					case 8: // SUBSCRIBE: refuse the device's own events and alarms
						codes := []byte{}
						for rest := body[2:]; len(rest) >= 3; {
							n := int(rest[0])<<8 | int(rest[1])
							topic := string(rest[2 : 2+n])
							code := byte(1)
							if topic == prefix+"/events" || topic == prefix+"/alarms" {
								code = 0x80
							}
							codes = append(codes, code)
							rest = rest[3+n:]
						}
						c.Write(append([]byte{0x90, byte(2 + len(codes)), body[0], body[1]}, codes...))
					case 3: // PUBLISH
						if qos := (h >> 1) & 3; qos == 1 {
							n := int(body[0])<<8 | int(body[1])
							c.Write([]byte{0x40, 0x02, body[2+n], body[3+n]})
						}
					case 12: // PINGREQ
						c.Write([]byte{0xD0, 0x00})
					}
					return true
				})
			}()
		}
	}()
	db := openDB(t, "")
	recordN(t, db, "alarm", "door_forced_open", 1)
	r := startRig(t, testConfig("tcp://"+ln.Addr().String(), 5), db)
	testenv.WaitFor(t, "the refusal in the delivery health", 10*time.Second, func() bool {
		c := r.health.Report().Components[deliveryHealth]
		return !c.OK && strings.Contains(c.Detail, "SUBACK 0x80") && strings.Contains(c.Detail, prefix+"/")
	})
	testenv.WaitFor(t, "the alarm published and acknowledged", 10*time.Second, func() bool {
		return r.link.Status().Delivery.Acked == 1
	})
	if st, _ := db.OutboxStats(context.Background()); st.Depth != 1 {
		t.Fatalf("outbox depth %d: a row was taken for delivered without its echo", st.Depth)
	}
}

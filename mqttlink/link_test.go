package mqttlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

const prefix = "facegate/door-1"

func TestNewRefusesBadConfig(t *testing.T) {
	db := openDB(t, "")
	d, err := door.Open(config.Default().Door, db, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, mut := range map[string]func(*config.Config){
		"keepalive negative": func(c *config.Config) { c.MQTT.KeepaliveSeconds = -1 },
		"keepalive too big":  func(c *config.Config) { c.MQTT.KeepaliveSeconds = 65536 },
		"bad key":            func(c *config.Config) { c.MQTT.CommandKey = "xyz" },
		"missing ca file":    func(c *config.Config) { c.MQTT.Broker = "ssl://127.0.0.1:8883"; c.MQTT.CAFile = "/nonexistent/ca.pem" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig("tcp://127.0.0.1:1", 10)
			mut(&cfg)
			if _, err := New(cfg, db, d, nil, nil, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestAvailabilityAndState: "online" and the state retained on connect, the
// state republished on a door change, "offline" retained after a graceful stop.
func TestAvailabilityAndState(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	db := openDB(t, "")
	if _, err := db.AddPerson(context.Background(), "Ada", nil); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, testConfig(b.URL, 5), db)
	obs := observe(t, b.URL, prefix+"/state", "obs-state", false)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	testenv.WaitFor(t, "online retained", 5*time.Second, func() bool { return string(retained(t, b.URL, prefix+"/availability")) == "online" })

	var st struct {
		Door, Contact, Version, TS string
		People                     int
		Link                       struct{ Connected bool }
	}
	testenv.WaitFor(t, "state retained", 5*time.Second, func() bool {
		p := retained(t, b.URL, prefix+"/state")
		return p != nil && json.Unmarshal(p, &st) == nil
	})
	if st.Door != "locked" || st.Contact != "unknown" || st.People != 1 || st.Version != "test-1.0" || !st.Link.Connected || st.TS == "" {
		t.Fatalf("state = %+v", st)
	}
	if err := r.door.Unlock(context.Background(), 2*time.Second, "web", "test"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "state unlocked published", 5*time.Second, func() bool {
		return json.Unmarshal(obs.last(prefix+"/state"), &st) == nil && st.Door == "unlocked"
	})
	testenv.WaitFor(t, "state locked again after the unlock time", 10*time.Second, func() bool {
		return json.Unmarshal(obs.last(prefix+"/state"), &st) == nil && st.Door == "locked"
	})
	if _, err := db.AddPerson(context.Background(), "Bob", nil); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "state republished with the new person count", 10*time.Second, func() bool {
		return json.Unmarshal(obs.last(prefix+"/state"), &st) == nil && st.People == 2
	})

	r.stop()
	if got := string(retained(t, b.URL, prefix+"/availability")); got != "offline" {
		t.Fatalf("availability after graceful stop = %q, want offline", got)
	}
	if r.link.Status().Connected {
		t.Fatal("link still connected after Run returned")
	}
}

// TestNoLossAcrossBrokerOutages: 1,000 events recorded while the broker is
// stopped, restarted, frozen and killed all arrive, every seq present.
func TestNoLossAcrossBrokerOutages(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	cfg := testConfig(b.URL, 2)
	r := startRig(t, cfg, nil)
	obs := observe(t, b.URL, prefix+"/events", "obs-noloss", true)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })

	var (
		mu   sync.Mutex
		want []int64
	)
	gen := func(n int) {
		for i := 0; i < n; i++ {
			rec, err := r.db.Record(context.Background(), facedb.Record{Kind: "event", Type: "unknown_face", Source: "face"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want = append(want, rec.Seq)
			mu.Unlock()
		}
	}
	drained := func() bool {
		mu.Lock()
		n := len(want)
		mu.Unlock()
		return obs.distinctSeqs() >= n
	}

	gen(200) // broker up
	b.Stop()
	gen(200) // broker down: queued in the outbox
	if st, _ := r.db.OutboxStats(context.Background()); st.Depth == 0 {
		t.Fatal("outbox empty while the broker is down")
	}
	b.Restart()
	gen(100)
	testenv.WaitFor(t, "reconnect after restart", 20*time.Second, func() bool { return r.link.Status().Connects == 2 })
	b.Freeze()
	gen(100) // broker frozen: the link notices and queues
	time.Sleep(3 * time.Second)
	b.Thaw()
	gen(100)
	// Kill loses what the broker holds only in memory for the observer,
	// which is the broker's durability, not the link's: drain first.
	testenv.WaitFor(t, "drain before kill", 60*time.Second, drained)
	b.Kill()
	gen(200) // broker killed
	b.Restart()
	gen(100)

	testenv.WaitFor(t, "all 1000 events delivered", 90*time.Second, drained)
	testenv.WaitFor(t, "outbox empty", 30*time.Second, func() bool {
		st, err := r.db.OutboxStats(context.Background())
		return err == nil && st.Depth == 0
	})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	dups := 0
	for _, s := range want {
		if obs.seqs[s] == 0 {
			t.Errorf("seq %d never arrived", s)
		}
		dups += obs.seqs[s] - 1
	}
	if len(want) != 1000 {
		t.Fatalf("generated %d events", len(want))
	}
	for i := 1; i < len(want); i++ {
		if want[i] != want[i-1]+1 {
			t.Fatalf("facedb seq not consecutive: %d then %d", want[i-1], want[i])
		}
	}
	st := r.link.Status()
	t.Logf("1000 events delivered, %d duplicates, connects %d, losses %v", dups, st.Connects, st.Losses)
	if st.Connects < 4 {
		t.Errorf("connects = %d; the outages were not all seen", st.Connects)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_publish_ack_seconds"); v < 1000 {
		t.Errorf("publish-to-ack latency observed %v times, want >= 1000", v)
	}
}

// TestOutboxBacklogAlarm: reaching outbox_max_rows raises one outbox_backlog alarm.
func TestOutboxBacklogAlarm(t *testing.T) {
	t.Parallel()
	cfg := testConfig("tcp://127.0.0.1:1", 5) // nothing listens: the link never connects
	cfg.MQTT.OutboxMaxRows = 10
	db := openDB(t, "")
	for i := 0; i < 12; i++ {
		if _, err := db.Record(context.Background(), facedb.Record{Kind: "event", Type: "unknown_face"}); err != nil {
			t.Fatal(err)
		}
	}
	r := startRig(t, cfg, db)
	testenv.WaitFor(t, "backlog alarm", 10*time.Second, func() bool { return r.link.Status().Backlog })
	time.Sleep(1500 * time.Millisecond) // a second check must not raise it again
	evs, err := db.Events(context.Background(), facedb.EventFilter{Kind: "alarm", Type: "outbox_backlog"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("outbox_backlog alarms: %d, %v", len(evs), err)
	}
	testenv.WaitFor(t, "depth gauge counts the alarm too", 5*time.Second, func() bool {
		return metricValue(t, r.reg, "facegate_mqtt_outbox_depth") == 13
	})
	if r.link.Status().Connected {
		t.Fatal("connected to nothing")
	}
}

// TestHomeAssistantDiscovery: retained configs on connect, republished when
// Home Assistant comes online; its unsigned lock commands refused unless allowed.
func TestHomeAssistantDiscovery(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	dataDir := t.TempDir() // where the door notes the node it published
	for _, allow := range []bool{false, true} {
		cfg := testConfig(b.URL, 5)
		cfg.DataDir = dataDir
		cfg.MQTT.HomeAssistant = true
		cfg.MQTT.AllowUnsignedHomeAssistant = allow
		r := startRig(t, cfg, nil)
		testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
		// The lock only when its commands are acted on; a read-only lock
		// state otherwise.
		topic, other := "homeassistant/lock/facegate_door-1/lock/config", "homeassistant/binary_sensor/facegate_door-1/lock/config"
		if !allow {
			topic, other = other, topic
		}
		var lockCfg map[string]any
		testenv.WaitFor(t, "lock discovery", 5*time.Second, func() bool {
			return json.Unmarshal(retained(t, b.URL, topic), &lockCfg) == nil
		})
		if lockCfg["availability_topic"] != prefix+"/availability" || lockCfg["state_topic"] != prefix+"/state" ||
			allow && lockCfg["command_topic"] != prefix+"/ha/lock/set" || !allow && lockCfg["command_topic"] != nil {
			t.Fatalf("lock config = %v", lockCfg)
		}
		testenv.WaitFor(t, "only one of the lock entities retained", 10*time.Second, func() bool { return retained(t, b.URL, other) == nil })
		for _, tp := range []string{"homeassistant/binary_sensor/facegate_door-1/door/config", "homeassistant/event/facegate_door-1/access/config",
			"homeassistant/event/facegate_door-1/alarm/config", "homeassistant/sensor/facegate_door-1/people/config",
			"homeassistant/sensor/facegate_door-1/outbox/config", "homeassistant/binary_sensor/facegate_door-1/link/config"} {
			if retained(t, b.URL, tp) == nil {
				t.Fatalf("no retained discovery on %s", tp)
			}
		}
		// Home Assistant restarts: it announces online, the configs come again.
		obs := observe(t, b.URL, "homeassistant/+/facegate_door-1/+/config", fmt.Sprintf("obs-ha-%v", allow), false)
		before := obs.count(topic) // the retained copy
		pub(t, b.URL, haStatusTopic, "online", false)
		testenv.WaitFor(t, "discovery republished", 5*time.Second, func() bool { return obs.count(topic) > before })

		pub(t, b.URL, prefix+"/ha/lock/set", "UNLOCK", false)
		if allow {
			testenv.WaitFor(t, "unsigned HA unlock accepted", 5*time.Second, func() bool { return !r.door.State().Locked })
		} else {
			testenv.WaitFor(t, "unsigned HA unlock rejected", 5*time.Second, func() bool {
				evs, _ := r.db.Events(context.Background(), facedb.EventFilter{Type: "command_rejected"})
				return len(evs) == 1 && evs[0].Reason == "disabled"
			})
			if !r.door.State().Locked {
				t.Fatal("door unlocked by an unsigned Home Assistant command although not allowed")
			}
		}
		r.stop()
	}
	// homeassistant turned off: the next connect removes the device from
	// Home Assistant (empty retained configs).
	cfg := testConfig(b.URL, 5)
	cfg.DataDir = dataDir
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	testenv.WaitFor(t, "discovery cleared", 10*time.Second, func() bool {
		for _, tp := range []string{"homeassistant/lock/facegate_door-1/lock/config", "homeassistant/binary_sensor/facegate_door-1/lock/config",
			"homeassistant/binary_sensor/facegate_door-1/door/config", "homeassistant/event/facegate_door-1/access/config"} {
			if retained(t, b.URL, tp) != nil {
				return false
			}
		}
		return true
	})
}

func pub(t testing.TB, brokerURL, topic, payload string, retain bool) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("pub: connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("pub: %v", tok.Error())
	}
}

func TestNextBackoff(t *testing.T) {
	const maxWait = 30 * time.Second
	wait := time.Duration(0)
	var got []time.Duration
	for range 6 { // connections that die at once: the back-off grows to the cap
		wait = nextBackoff(wait, 100*time.Millisecond, maxWait)
		got = append(got, wait)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, maxWait}
	if !slices.Equal(got, want) {
		t.Fatalf("back-off over short connections = %v, want %v", got, want)
	}
	if w := nextBackoff(wait, stableConnection, maxWait); w != 0 {
		t.Fatalf("back-off after a stable connection = %s, want 0 (start again)", w)
	}
}

// TestBackoffResetsAfterStableConnection restarts the broker three times,
// each after the link was up for a while: the link must not keep backing off
// longer and longer (the third restart used to leave it offline for 17-21 s
// with the default 30 s cap).
func TestBackoffResetsAfterStableConnection(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.MaxReconnectSeconds = 30
	var logBuf testenv.SyncBuffer
	db := openDB(t, "")
	d, err := door.Open(cfg.Door, db, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := New(cfg, db, d, nil, nil, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := 1; i <= 3; i++ {
		testenv.WaitFor(t, "connected", 40*time.Second, func() bool { return l.Status().Connected && l.Status().Connects == int64(i) })
		time.Sleep(stableConnection + 500*time.Millisecond)
		b.Stop()
		b.Restart()
	}
	testenv.WaitFor(t, "connected after the third restart", 40*time.Second, func() bool { return l.Status().Connects == 4 })
	re := regexp.MustCompile(`mqtt reconnecting".* in=(\S+)`)
	for _, m := range re.FindAllStringSubmatch(logBuf.String(), -1) {
		w, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if w > time.Second {
			t.Errorf("reconnect back-off %s after connections that were up %s: it must start again from the beginning", w, stableConnection)
		}
	}
}

// TestUnknownConnackRefusalReported: a broker answering CONNACK 0x9A (an
// MQTT 5 reason code paho v1.5.1 maps to no error) must be reported as a
// refused connection, never as "connected".
func TestUnknownConnackRefusalReported(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var attempts atomic.Int32
	go func() { // a tiny broker that refuses every CONNECT with 0x9A
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			go func() {
				defer c.Close()
				copyPackets(io.Discard, c, func(h byte, _ []byte) bool {
					if h>>4 == 1 { // CONNECT
						_, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x9A})
					}
					return true
				})
			}()
		}
	}()
	r := startRig(t, testConfig("tcp://"+ln.Addr().String(), 5), nil)
	testenv.WaitFor(t, "two refused attempts", 20*time.Second, func() bool {
		return metricValue(t, r.reg, "facegate_mqtt_connect_failures_total") >= 2
	})
	if st := r.link.Status(); st.Connected || st.Connects != 0 {
		t.Fatalf("link reported connected to a broker that refused it: %+v", st)
	}
	c := r.health.Report().Components[HealthComponent]
	if c.OK || !strings.Contains(c.Detail, "0x9A") || !strings.Contains(c.Detail, "retain not supported") {
		t.Fatalf("health = %+v, want the refusal with its code", c)
	}
}

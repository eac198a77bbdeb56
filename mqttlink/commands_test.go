package mqttlink

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/signedcmd"
)

// commander sends commands and collects the replies.
type commander struct {
	c       mqtt.Client
	key     []byte
	mu      sync.Mutex
	replies map[string]chan Reply // by command name
	n       atomic.Int64
}

func newCommander(t *testing.T, brokerURL string) *commander {
	t.Helper()
	k, _ := signedcmd.ParseKey(testKey)
	cm := &commander{key: k, replies: map[string]chan Reply{}}
	for _, n := range []string{"unlock", "lock", "status", "open"} {
		cm.replies[n] = make(chan Reply, 16)
	}
	cm.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("commander-%d", time.Now().UnixNano())))
	if tok := cm.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { cm.c.Disconnect(50) })
	tok := cm.c.Subscribe(prefix+"/cmd/+/reply", 1, func(_ mqtt.Client, m mqtt.Message) {
		var r Reply
		if json.Unmarshal(m.Payload(), &r) != nil {
			return
		}
		name := m.Topic()[len(prefix+"/cmd/") : len(m.Topic())-len("/reply")]
		cm.mu.Lock()
		ch := cm.replies[name]
		cm.mu.Unlock()
		if ch != nil {
			select { // never block paho's reader (see the flood test)
			case ch <- r:
			default:
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return cm
}

func (cm *commander) body(seconds float64, tsOffset time.Duration) signedcmd.Body {
	i := cm.n.Add(1)
	return signedcmd.Body{RequestID: fmt.Sprintf("req-%d", i), Nonce: fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), i),
		TS: time.Now().Add(tsOffset).Unix(), Seconds: seconds}
}

func (cm *commander) signed(t *testing.T, name string, b signedcmd.Body) []byte {
	t.Helper()
	p, err := signedcmd.Build(cm.key, signedcmd.Topic(prefix, name), b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (cm *commander) send(t *testing.T, name string, payload []byte, retain bool) {
	t.Helper()
	if tok := cm.c.Publish(signedcmd.Topic(prefix, name), 1, retain, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

func (cm *commander) reply(t *testing.T, name string) Reply {
	t.Helper()
	select {
	case r := <-cm.replies[name]:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply on %s/cmd/%s/reply", prefix, name)
		return Reply{}
	}
}

func rejections(t *testing.T, db *facedb.DB) map[string]int {
	t.Helper()
	evs, err := db.Events(context.Background(), facedb.EventFilter{Type: "command_rejected", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range evs {
		n, _ := e.Detail["count"].(float64)
		m[e.Reason] += int(n)
	}
	return m
}

func TestCommands(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	r := startRig(t, testConfig(b.URL, 5), nil, shortRejectWindow)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	cm := newCommander(t, b.URL)
	locked := func() bool { return r.door.State().Locked }

	// A valid signed unlock energises the relay and replies ok.
	valid := cm.body(30, 0)
	validPayload := cm.signed(t, "unlock", valid)
	cm.send(t, "unlock", validPayload, false)
	if rep := cm.reply(t, "unlock"); !rep.OK || rep.RequestID != valid.RequestID || rep.Error != "" {
		t.Fatalf("valid unlock reply = %+v", rep)
	}
	if locked() {
		t.Fatal("relay not energised after a valid unlock")
	}
	if until := r.door.State().UnlockedUntil; time.Until(until) < 20*time.Second {
		t.Fatalf("unlocked until %s: seconds=30 not honoured", until)
	}
	evs, _ := r.db.Events(context.Background(), facedb.EventFilter{Type: "remote_unlock"})
	if len(evs) != 1 || evs[0].Source != "remote" || evs[0].Detail["request_id"] != valid.RequestID {
		t.Fatalf("remote_unlock events = %+v", evs)
	}

	// lock, then status.
	lb := cm.body(0, 0)
	cm.send(t, "lock", cm.signed(t, "lock", lb), false)
	if rep := cm.reply(t, "lock"); !rep.OK || rep.RequestID != lb.RequestID {
		t.Fatalf("lock reply = %+v", rep)
	}
	if !locked() {
		t.Fatal("relay still energised after lock")
	}
	if evs, _ := r.db.Events(context.Background(), facedb.EventFilter{Type: "remote_lock"}); len(evs) != 1 {
		t.Fatalf("remote_lock events: %d", len(evs))
	}
	cm.send(t, "status", cm.signed(t, "status", cm.body(0, 0)), false)
	rep := cm.reply(t, "status")
	var st struct{ Door string }
	if !rep.OK || json.Unmarshal(rep.State, &st) != nil || st.Door != "locked" {
		t.Fatalf("status reply = %+v (%s)", rep, rep.State)
	}

	// Every rejection replies ok:false with its reason and leaves the relay off.
	other, _ := signedcmd.ParseKey("ffeeddccbbaa99887766554433221100")
	badSig, _ := signedcmd.Build(other, signedcmd.Topic(prefix, "unlock"), cm.body(0, 0))
	for _, tc := range []struct {
		name, reason string
		payload      []byte
	}{
		{"bad signature", "bad_signature", badSig},
		{"expired", "expired", cm.signed(t, "unlock", cm.body(0, -45*time.Second))},
		{"replayed nonce", "replay", validPayload},
		{"malformed JSON", "malformed", []byte(`{"body": unlock now`)},
		{"seconds over 60", "malformed", func() []byte {
			bb := cm.body(0, 0)
			body := fmt.Sprintf(`{"request_id":%q,"ts":%d,"nonce":%q,"seconds":600}`, bb.RequestID, bb.TS, bb.Nonce)
			p, _ := json.Marshal(signedcmd.Envelope{Body: body, Sig: signedcmd.Sign(cm.key, signedcmd.Topic(prefix, "unlock"), []byte(body))})
			return p
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm.send(t, "unlock", tc.payload, false)
			rep := cm.reply(t, "unlock")
			if rep.OK || rep.Error != tc.reason {
				t.Fatalf("reply = %+v, want ok:false error %q", rep, tc.reason)
			}
			if !locked() {
				t.Fatal("relay energised by a rejected command")
			}
		})
	}
	cm.send(t, "open", cm.signed(t, "unlock", cm.body(0, 0)), false)
	if rep := cm.reply(t, "open"); rep.OK || rep.Error != "malformed" {
		t.Fatalf("unknown command reply = %+v", rep)
	}
	want := map[string]int{"bad_signature": 1, "expired": 1, "replay": 1, "malformed": 3}
	testenv.WaitFor(t, "command_rejected events", 5*time.Second, func() bool { return fmt.Sprint(rejections(t, r.db)) == fmt.Sprint(want) })

	var ok, refused, summaries int
	testenv.WaitFor(t, "one refused audit entry per command_rejected summary", 5*time.Second, func() bool {
		audit, err := r.db.AuditLog(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		ok, refused = 0, 0
		for _, a := range audit {
			if a.Actor == "mqtt" {
				if a.OK {
					ok++
				} else {
					refused++
				}
			}
		}
		evs, _ := r.db.Events(context.Background(), facedb.EventFilter{Type: "command_rejected"})
		summaries = len(evs)
		return ok == 3 && refused == summaries
	})
	if v := metricValue(t, r.reg, "facegate_mqtt_commands_total"); v != 9 {
		t.Fatalf("commands_total = %v, want 9", v)
	}
}

// TestRetainedCommandNeverActedOn: a valid signed unlock left retained on the
// broker is delivered when the link subscribes after a restart, and refused.
func TestRetainedCommandNeverActedOn(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	db := openDB(t, "")
	r := startRig(t, testConfig(b.URL, 5), db)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	r.stop()

	cm := newCommander(t, b.URL)
	bb := cm.body(0, 0)
	cm.send(t, "unlock", cm.signed(t, "unlock", bb), true) // left on the broker

	r2 := startRig(t, testConfig(b.URL, 5), db) // the daemon restarts and subscribes
	rep := cm.reply(t, "unlock")
	if rep.OK || rep.Error != "retained" || rep.RequestID != bb.RequestID {
		t.Fatalf("reply = %+v, want ok:false retained", rep)
	}
	if !r2.door.State().Locked {
		t.Fatal("relay energised by a retained command")
	}
	testenv.WaitFor(t, "one retained rejection recorded", 5*time.Second, func() bool { return rejections(t, db)["retained"] == 1 })
	cm.send(t, "unlock", nil, true) // clear the retained message
}

// TestCommandsDisabledWithoutKey: no command_key means every command is refused.
func TestCommandsDisabledWithoutKey(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.CommandKey = ""
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	cm := newCommander(t, b.URL)
	cm.send(t, "unlock", cm.signed(t, "unlock", cm.body(0, 0)), false)
	if rep := cm.reply(t, "unlock"); rep.OK || rep.Error != "disabled" {
		t.Fatalf("reply = %+v, want ok:false disabled", rep)
	}
	if !r.door.State().Locked {
		t.Fatal("relay energised with remote commands disabled")
	}
	testenv.WaitFor(t, "one disabled rejection recorded", 5*time.Second, func() bool { return rejections(t, r.db)["disabled"] == 1 })
}

// TestCommandFloodDoesNotStallLink: a flood of junk commands must not block
// paho's reader (which would starve PINGRESP and drop the link): the handler
// refuses junk without queueing it, and a valid command still works afterwards.
func TestCommandFloodDoesNotStallLink(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	r := startRig(t, testConfig(b.URL, 2), nil) // ping timeout 1 s
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	cm := newCommander(t, b.URL)
	for i := 0; i < 1000; i++ {
		cm.c.Publish(signedcmd.Topic(prefix, "unlock"), 0, false, fmt.Sprintf(`{"junk":%d}`, i))
	}
	time.Sleep(5 * time.Second) // > 2 keep-alives with the queue full
	if st := r.link.Status(); st.Connects != 1 || len(st.Losses) != 0 {
		t.Fatalf("link dropped during the flood: %+v", st)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_commands_total"); v != 1000 {
		t.Fatalf("commands counted %v (handled + dropped), want 1000", v)
	}
	for len(cm.replies["unlock"]) > 0 {
		<-cm.replies["unlock"]
	}
	testenv.WaitFor(t, "queue drained", 60*time.Second, func() bool { return len(r.link.cmds) == 0 })
	time.Sleep(500 * time.Millisecond)
	for len(cm.replies["unlock"]) > 0 {
		<-cm.replies["unlock"]
	}
	bb := cm.body(0, 0)
	cm.send(t, "unlock", cm.signed(t, "unlock", bb), false)
	for {
		rep := cm.reply(t, "unlock")
		if rep.RequestID == bb.RequestID {
			if !rep.OK {
				t.Fatalf("valid unlock after the flood: %+v", rep)
			}
			break
		}
	}
	if r.door.State().Locked {
		t.Fatal("valid unlock after the flood did not energise the relay")
	}
}

// TestJunkFloodKeepsValidCommands: 2,000 junk commands (malformed, wrongly
// signed, unknown names) from someone without the key, with six valid signed
// unlocks inside the burst. Every valid unlock is executed and answered, the
// junk is refused and counted but stored only as per-reason summaries, and it
// writes no nonces.
func TestJunkFloodKeepsValidCommands(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t, "max_queued_messages 0", "max_inflight_messages 0") // the broker itself drops nothing
	r := startRig(t, testConfig(b.URL, 5), nil, shortRejectWindow)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	cm := newCommander(t, b.URL)

	var mu sync.Mutex
	okReplies := map[string]bool{}
	watch := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("reply-watch").SetOrderMatters(false))
	if tok := watch.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer watch.Disconnect(50)
	if tok := watch.Subscribe(prefix+"/cmd/unlock/reply", 1, func(_ mqtt.Client, m mqtt.Message) {
		var rep Reply
		if json.Unmarshal(m.Payload(), &rep) == nil && rep.OK {
			mu.Lock()
			okReplies[rep.RequestID] = true
			mu.Unlock()
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	other, _ := signedcmd.ParseKey("ffeeddccbbaa99887766554433221100")
	var valid []string
	var toks []mqtt.Token
	const junk = 2000
	for i := 0; i < junk; i++ {
		if i%333 == 100 {
			bb := cm.body(1, 0)
			valid = append(valid, bb.RequestID)
			toks = append(toks, cm.c.Publish(signedcmd.Topic(prefix, "unlock"), 1, false, cm.signed(t, "unlock", bb)))
		}
		var topic string
		var payload []byte
		switch i % 3 {
		case 0:
			topic, payload = signedcmd.Topic(prefix, "unlock"), []byte(fmt.Sprintf(`{"junk":%d}`, i))
		case 1:
			topic = signedcmd.Topic(prefix, "unlock")
			payload, _ = signedcmd.Build(other, topic, cm.body(0, 0))
		case 2:
			topic, payload = signedcmd.Topic(prefix, "open"), []byte(`{}`)
		}
		toks = append(toks, cm.c.Publish(topic, 1, false, payload))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publishing the burst: %v", tok.Error())
		}
	}
	if len(valid) != 6 {
		t.Fatalf("test sends %d valid unlocks, want 6", len(valid))
	}
	testenv.WaitFor(t, "every valid unlock answered ok", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range valid {
			if !okReplies[id] {
				return false
			}
		}
		return true
	})
	evs, err := r.db.Events(context.Background(), facedb.EventFilter{Type: "remote_unlock", Limit: 100})
	if err != nil || len(evs) != 6 {
		t.Fatalf("remote_unlock events = %d (%v), want 6", len(evs), err)
	}
	testenv.WaitFor(t, "every junk message counted in the summaries", 20*time.Second, func() bool {
		got := rejections(t, r.db)
		return got["malformed"]+got["bad_signature"] == junk
	})
	rej, _ := r.db.Events(context.Background(), facedb.EventFilter{Type: "command_rejected", Limit: 10000})
	if len(rej) > 100 {
		t.Fatalf("%d command_rejected rows for %d junk messages: junk is stored per message", len(rej), junk)
	}
	audit, _ := r.db.AuditLog(context.Background(), 10000)
	if len(audit) > 100+6 {
		t.Fatalf("%d audit rows for %d junk messages and 6 commands", len(audit), junk)
	}
	raw, err := sql.Open("sqlite3", "file:"+r.db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var nonces int
	if err := raw.QueryRow("SELECT count(*) FROM nonces").Scan(&nonces); err != nil || nonces != 6 {
		t.Fatalf("nonces stored = %d (%v), want 6: junk must not reach the nonce table", nonces, err)
	}
}

package mqttlink

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/internal/testenv"
)

func TestPlanKeepAliveStaysBelowK(t *testing.T) {
	for _, k := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 12 * time.Second, 60 * time.Second, 1200 * time.Second, 65535 * time.Second} {
		p := planKeepAlive(k, 10*time.Second)
		worst := p.idle + p.tick // ping sent at the first check after idle
		if worst >= k || p.tick <= 0 {
			t.Errorf("K=%s: ping after up to %s of silence (idle %s, tick %s)", k, worst, p.idle, p.tick)
		}
	}
	if p := planKeepAlive(0, time.Second); p.keepAlive != 0 || p.tick != 0 {
		t.Errorf("K=0 must disable the pinger, got %+v", p)
	}
}

// TestKeepAliveCompliance records every packet the client sends on an idle
// link through a TCP proxy: no silence may reach the keep-alive
// (MQTT 3.1.1, 3.1.2.10). For K = 12 s a bare paho client is measured the
// same way to show the gap the link closes.
func TestKeepAliveCompliance(t *testing.T) {
	for _, tc := range []struct {
		k      int
		window time.Duration
	}{{2, 10 * time.Second}, {12, 32 * time.Second}} {
		t.Run("K="+itoa(tc.k)+"s", func(t *testing.T) {
			t.Parallel()
			b := testenv.StartBroker(t)
			proxy := startProxy(t, b.Addr)
			r := startRig(t, testConfig("tcp://"+proxy.Addr, tc.k), nil)
			testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })

			var bare *recordingProxy
			if tc.k > 10 {
				bare = startProxy(t, b.Addr)
				c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + bare.Addr).SetClientID("bare-paho").
					SetKeepAlive(time.Duration(tc.k) * time.Second).SetPingTimeout(time.Second).SetWriteTimeout(2 * time.Second))
				if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					t.Fatal(tok.Error())
				}
				defer c.Disconnect(50)
			}
			time.Sleep(tc.window)
			now := time.Now()
			gap, n := proxy.maxGap(now)
			t.Logf("K=%ds: %d client writes in %s, longest silence %s, injected pings counted %d",
				tc.k, n, tc.window, gap.Round(time.Millisecond), int(metricValue(t, r.reg, "facegate_mqtt_keepalive_pings_total")))
			if gap >= time.Duration(tc.k)*time.Second {
				t.Errorf("client was silent for %s, keep-alive is %ds", gap, tc.k)
			}
			if n < int(tc.window/(time.Duration(tc.k)*time.Second)) {
				t.Errorf("only %d writes in %s: the link is not pinging", n, tc.window)
			}
			if st := r.link.Status(); st.Connects != 1 || !st.Connected {
				t.Errorf("link reconnected on an idle healthy broker: %+v", st)
			}
			if bare != nil {
				bgap, bn := bare.maxGap(now)
				t.Logf("bare paho K=%ds: %d writes, longest silence %s", tc.k, bn, bgap.Round(time.Millisecond))
				if bgap <= time.Duration(tc.k)*time.Second {
					t.Errorf("bare paho stayed within K (%s): the measurement no longer shows the paho v1.5.1 overshoot", bgap)
				}
			}
		})
	}
}

// TestKeepsPingingWhileAwaitingPingresp: with a ping timeout longer than the
// keep-alive and PINGRESPs lost on the way back, the client must still never
// be silent for K (the broker would drop it at 1.5 K and fire the will).
func TestKeepsPingingWhileAwaitingPingresp(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	proxy := startFilterProxy(t, b.Addr, func(h byte, _ []byte) bool { return h == 0xD0 }) // PINGRESP
	cfg := testConfig("tcp://"+proxy.Addr, 2)
	cfg.MQTT.PingTimeoutSeconds = 6
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	time.Sleep(5 * time.Second) // first PINGREQ after ~1.6 s, its timeout 6 s later
	gap, n := proxy.maxGap(time.Now())
	t.Logf("%d client writes, longest silence %s while no PINGRESP came back", n, gap.Round(time.Millisecond))
	if gap >= 2*time.Second {
		t.Fatalf("client was silent for %s awaiting a PINGRESP; keep-alive is 2 s", gap)
	}
	if !r.link.Status().Connected {
		t.Fatalf("link dropped before the 6 s ping timeout: %+v", r.link.Status())
	}
}

// TestFrozenBrokerDetected freezes the broker (SIGSTOP): the link must see
// the dead link within keepalive + ping timeout + the check interval, and
// come back by itself after SIGCONT.
func TestFrozenBrokerDetected(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	cfg := testConfig(b.URL, 2)
	cfg.MQTT.PingTimeoutSeconds = 1
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	time.Sleep(1500 * time.Millisecond) // idle link

	b.Freeze()
	frozen := time.Now()
	testenv.WaitFor(t, "loss detected", 15*time.Second, func() bool { return !r.link.Status().Connected })
	took := time.Since(frozen)
	k, pt := 2*time.Second, time.Second
	bound := k + pt + k/4 // paho's check interval for K <= 10 s is K/4
	t.Logf("frozen broker detected after %s (bound %s)", took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("detection took %s, more than keepalive + ping timeout + check interval = %s", took, bound)
	}
	if got := r.link.Status().Losses[reasonPingTimeout]; got != 1 {
		t.Errorf("losses by ping timeout = %d, want 1 (%v)", got, r.link.Status().Losses)
	}
	if c := r.health.Report().Components[HealthComponent]; c.OK {
		t.Errorf("health still OK while the link is down: %+v", c)
	}
	if v := metricValue(t, r.reg, "facegate_mqtt_outage_seconds"); v <= 0 {
		t.Errorf("outage gauge = %v during the outage", v)
	}

	b.Thaw()
	testenv.WaitFor(t, "reconnect after SIGCONT", 20*time.Second, func() bool { return r.link.Status().Connected })
	if st := r.link.Status(); st.Connects != 2 {
		t.Errorf("connects = %d, want 2", st.Connects)
	}
	if c := r.health.Report().Components[HealthComponent]; !c.OK {
		t.Errorf("health not OK after reconnect: %+v", c)
	}
}

// TestKeepAliveZeroDisables: K = 0 is accepted with a warning and the client
// sends no PINGREQ at all.
func TestKeepAliveZeroDisables(t *testing.T) {
	t.Parallel()
	b := testenv.StartBroker(t)
	proxy := startProxy(t, b.Addr)
	var logBuf testenv.SyncBuffer
	cfg := testConfig("tcp://"+proxy.Addr, 0)
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
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return l.Status().Connected })
	time.Sleep(time.Second) // connect burst: CONNECT, SUBSCRIBE, online, state
	_, before := proxy.maxGap(time.Now())
	time.Sleep(3 * time.Second)
	if _, after := proxy.maxGap(time.Now()); after != before {
		t.Fatalf("client wrote %d times on an idle link with keep-alive 0", after-before)
	}
	if !strings.Contains(logBuf.String(), "keepalive_seconds = 0 disables keep-alive") {
		t.Fatalf("no warning about keep-alive 0 in the log:\n%s", logBuf.String())
	}
}

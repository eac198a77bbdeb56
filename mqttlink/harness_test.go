package mqttlink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
)

const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testConfig(brokerURL string, keepalive int) config.Config {
	cfg := config.Default()
	cfg.DeviceID = "door-1"
	cfg.MQTT.Broker = brokerURL
	cfg.MQTT.KeepaliveSeconds = keepalive
	cfg.MQTT.PingTimeoutSeconds = 1
	cfg.MQTT.WriteTimeoutSeconds = 2
	cfg.MQTT.MaxReconnectSeconds = 2
	cfg.MQTT.CommandKey = testKey
	cfg.Door.GPIO = "sim"
	cfg.Door.UnlockSeconds = 5
	return cfg
}

func openDB(t testing.TB, path string) *facedb.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "facegate.db")
	}
	db, err := facedb.Open(context.Background(), path, "door-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rig is a running link with a real database and a simulated door.
type rig struct {
	cfg    config.Config
	db     *facedb.DB
	door   *door.Controller
	link   *Link
	health *health.Tracker
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startRig starts a link; opts adjust it before it runs.
func startRig(t testing.TB, cfg config.Config, db *facedb.DB, opts ...func(*Link)) *rig {
	t.Helper()
	if db == nil {
		db = openDB(t, "")
	}
	d, err := door.Open(cfg.Door, db, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	h := health.New()
	reg := prometheus.NewRegistry()
	l, err := New(cfg, db, d, h, reg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	l.SetVersion("test-1.0")
	for _, o := range opts {
		o(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{cfg: cfg, db: db, door: d, link: l, health: h, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { _ = d.Run(ctx) }()
	go func() { r.done <- l.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels the link and waits for Run to return.
func (r *rig) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		panic("mqttlink: Run did not return 15 s after cancel")
	}
	r.done <- nil // later stop calls return at once
}

// observer is an independent MQTT client recording what the broker delivers.
type observer struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs map[string][][]byte // topic -> payloads
	seqs map[int64]int       // events/alarms seq -> copies received
}

// observe subscribes to filter with QoS1. persistent keeps a session on the
// broker (CleanSession false) so messages queued while it reconnects are kept.
func observe(t testing.TB, brokerURL, filter, clientID string, persistent bool) *observer {
	t.Helper()
	o := &observer{msgs: map[string][][]byte{}, seqs: map[int64]int{}}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).
		SetCleanSession(!persistent).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetKeepAlive(5 * time.Second).
		SetOrderMatters(false)
	subscribed := make(chan error, 1)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		tok := c.Subscribe(filter, 1, o.handle)
		// never wait inside a paho handler: the SUBACK is read by the
		// goroutine this handler holds up
		go func() {
			tok.Wait()
			select {
			case subscribed <- tok.Error():
			default:
			}
		}()
	})
	o.c = mqtt.NewClient(opts)
	tok := o.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	select { // the broker acknowledged the subscription: nothing published from now on is missed
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("observer subscribe %s: %v", filter, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("observer subscribe %s: no SUBACK", filter)
	}
	t.Cleanup(func() { o.c.Disconnect(100) })
	return o
}

func (o *observer) handle(_ mqtt.Client, m mqtt.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs[m.Topic()] = append(o.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
	var ev struct {
		Seq int64 `json:"seq"`
	}
	if json.Unmarshal(m.Payload(), &ev) == nil && ev.Seq > 0 {
		o.seqs[ev.Seq]++
	}
}

func (o *observer) last(topic string) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	ms := o.msgs[topic]
	if len(ms) == 0 {
		return nil
	}
	return ms[len(ms)-1]
}

func (o *observer) count(topic string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs[topic])
}

func (o *observer) distinctSeqs() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs)
}

// retained connects a fresh client, subscribes to topic and returns the
// retained payload delivered at once (nil if none within a second).
func retained(t testing.TB, brokerURL, topic string) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("ret-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("retained: connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			select {
			case got <- append([]byte(nil), m.Payload()...):
			default:
			}
		}
	})
	select {
	case p := <-got:
		return p
	case <-time.After(time.Second):
		return nil
	}
}

// recordingProxy forwards TCP between a client and the broker and timestamps
// every chunk the client sends.
type recordingProxy struct {
	Addr string
	mu   sync.Mutex
	sent []time.Time
	ln   net.Listener
}

func startProxy(t testing.TB, brokerAddr string) *recordingProxy {
	t.Helper()
	return startFilterProxy(t, brokerAddr, nil)
}

// copyPackets forwards MQTT packets from src to dst, leaving out those drop
// reports true for (given the fixed-header byte and the packet's body).
func copyPackets(dst io.Writer, src io.Reader, drop func(header byte, body []byte) bool) {
	r := bufio.NewReader(src)
	for {
		h, err := r.ReadByte()
		if err != nil {
			return
		}
		pkt := []byte{h}
		n, mul := 0, 1
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			pkt = append(pkt, b)
			n += int(b&0x7f) * mul
			mul *= 128
			if b&0x80 == 0 {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if drop(h, body) {
			continue
		}
		if _, err := dst.Write(append(pkt, body...)); err != nil {
			return
		}
	}
}

// startFilterProxy is startProxy whose broker-to-client direction leaves out
// the packets drop reports (nil: forward everything).
func startFilterProxy(t testing.TB, brokerAddr string, drop func(header byte, body []byte) bool) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{Addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", brokerAddr)
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				if drop == nil {
					_, _ = io.Copy(c, b)
				} else {
					copyPackets(c, b, drop)
				}
				c.Close()
			}()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.mu.Lock()
						p.sent = append(p.sent, time.Now())
						p.mu.Unlock()
						if _, werr := b.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				b.Close()
			}()
		}
	}()
	return p
}

// maxGap returns the longest time between two client writes, and from the
// last write to until.
func (p *recordingProxy) maxGap(until time.Time) (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(p.sent); i++ {
		gap = max(gap, p.sent[i].Sub(p.sent[i-1]))
	}
	if n := len(p.sent); n > 0 {
		gap = max(gap, until.Sub(p.sent[n-1]))
	}
	return gap, len(p.sent)
}

func itoa(i int) string { return strconv.Itoa(i) }

// shortRejectWindow summarises rejected commands every 300 ms instead of
// every minute.
func shortRejectWindow(l *Link) { l.rejects.window = 300 * time.Millisecond }

package standin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Rules are what one platform enforces.
type Rules struct {
	Name string
	// Auth checks CONNECT's client id, user name and password (nil: any).
	Auth func(clientID, username, password string) error
	// KeepAliveMin, KeepAliveMax bound the CONNECT keep-alive (0: none).
	KeepAliveMin, KeepAliveMax int
	NoWill, NoRetain           bool
	MaxQoS                     byte // highest QoS of a publish (0 means 2)
	// Publish and Subscribe are the topic allow-lists (nil: any topic).
	Publish, Subscribe []*regexp.Regexp
	// MaxTopicLevels bounds the levels of any topic (0: none).
	MaxTopicLevels int
	// RatePerSecond is the most publishes one client may send in any one
	// second; the next one drops its connection (0: no limit).
	RatePerSecond int
	// TLS, when set, makes the listener TLS (with its client certificate rules).
	TLS *tls.Config
}

// Violation is one rule the client broke.
type Violation struct {
	ClientID, Rule, Detail string
}

// Message is a publish the stand-in accepted from a client.
type Message struct {
	ClientID, Topic string
	Payload         []byte
	Retain          bool
	QoS             byte
	At              time.Time
}

// Connect is an accepted CONNECT.
type Connect struct {
	ClientID, Username, Password string
	Keepalive                    uint16
}

// Platform is a running stand-in.
type Platform struct {
	Addr  string // host:port it listens on
	rules Rules
	t     testing.TB

	mu          sync.Mutex
	srv         *mochi.Server
	violations  []Violation
	msgs        []Message
	connects    []Connect
	refused     []Connect
	recent      map[string][]time.Time // client id -> times of its publishes in the last second
	subscribing map[string]bool        // client id NUL filter of a SUBSCRIBE being checked
	notify      chan struct{}
}

// Start runs a stand-in on a free loopback port; it stops with the test.
func Start(t testing.TB, r Rules) *Platform {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Platform{Addr: addr, rules: r, t: t, recent: map[string][]time.Time{}, notify: make(chan struct{}, 1)}
	p.Restart()
	t.Cleanup(p.Stop)
	return p
}

// Stop closes the stand-in (every connection drops).
func (p *Platform) Stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart starts the stand-in again on the same address, empty (no
// sessions or retained messages survive, like a platform fail-over).
func (p *Platform) Restart() {
	p.t.Helper()
	p.Stop()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(&hook{p: p}, nil); err != nil {
		p.t.Fatal(err)
	}
	var err error
	for range 50 { // the old listener's port may take a moment to free
		err = srv.AddListener(listeners.NewTCP(listeners.Config{ID: "standin", Address: p.Addr, TLSConfig: p.rules.TLS}))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("standin %s: listen %s: %v", p.rules.Name, p.Addr, err)
	}
	go func() { _ = srv.Serve() }()
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

// Send publishes a message to the clients as the platform (a command).
func (p *Platform) Send(topic string, payload []byte) {
	p.t.Helper()
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv == nil {
		p.t.Fatal("standin: Send while stopped")
	}
	if err := srv.Publish(topic, payload, false, 1); err != nil {
		p.t.Fatal(err)
	}
}

// Kick drops every client connection (as a platform does on a
// credential rotation or a fail-over), keeping the stand-in up.
func (p *Platform) Kick() {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv == nil {
		return
	}
	for _, cl := range srv.Clients.GetAll() {
		if !cl.Net.Inline {
			cl.Stop(errors.New("standin: kicked"))
		}
	}
}

// Violations returns the rules broken so far.
func (p *Platform) Violations() []Violation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Violation(nil), p.violations...)
}

// Messages returns the accepted publishes on topics matching re (nil: all).
func (p *Platform) Messages(re *regexp.Regexp) []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Message
	for _, m := range p.msgs {
		if re == nil || re.MatchString(m.Topic) {
			out = append(out, m)
		}
	}
	return out
}

// Connects returns the accepted CONNECTs; Refused the refused ones.
func (p *Platform) Connects() []Connect {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Connect(nil), p.connects...)
}

// Refused returns the CONNECTs refused (bad credentials, will, keep-alive).
func (p *Platform) Refused() []Connect {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Connect(nil), p.refused...)
}

// Wait polls cond until it holds or timeout passes (then the test fails
// with what, the violations and the last messages).
func (p *Platform) Wait(what string, timeout time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("standin %s: timed out after %s waiting for %s; violations %v; connects %d, refused %d",
				p.rules.Name, timeout, what, p.Violations(), len(p.Connects()), len(p.Refused()))
		}
		select {
		case <-p.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Platform) violate(clientID, rule, format string, args ...any) {
	p.mu.Lock()
	p.violations = append(p.violations, Violation{ClientID: clientID, Rule: rule, Detail: fmt.Sprintf(format, args...)})
	p.mu.Unlock()
}

func allowed(res []*regexp.Regexp, topic string) bool {
	if res == nil {
		return true
	}
	for _, re := range res {
		if re.MatchString(topic) {
			return true
		}
	}
	return false
}

// hook enforces Rules on a mochi server.
type hook struct {
	mochi.HookBase
	p *Platform
}

func (h *hook) ID() string { return "standin" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnSubscribe, mochi.OnPublish:
		return true
	}
	return false
}

func (h *hook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	r, c := h.p.rules, pk.Connect
	conn := Connect{ClientID: c.ClientIdentifier, Username: string(c.Username), Password: string(c.Password), Keepalive: c.Keepalive}
	refuse := func(rule, format string, args ...any) error {
		h.p.violate(c.ClientIdentifier, rule, format, args...)
		h.p.mu.Lock()
		h.p.refused = append(h.p.refused, conn)
		h.p.mu.Unlock()
		return packets.ErrNotAuthorized
	}
	if r.NoWill && c.WillFlag {
		return refuse("will", "CONNECT carries a will on %s; %s has none", c.WillTopic, r.Name)
	}
	if r.KeepAliveMax > 0 && (int(c.Keepalive) < r.KeepAliveMin || int(c.Keepalive) > r.KeepAliveMax) {
		return refuse("keepalive", "keep-alive %d s outside %d..%d", c.Keepalive, r.KeepAliveMin, r.KeepAliveMax)
	}
	if r.Auth != nil {
		if err := r.Auth(conn.ClientID, conn.Username, conn.Password); err != nil {
			return refuse("auth", "%v", err)
		}
	}
	h.p.mu.Lock()
	h.p.connects = append(h.p.connects, conn)
	h.p.mu.Unlock()
	return nil
}

func (h *hook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

// OnSubscribe notes the filters of a SUBSCRIBE: mochi asks OnACLCheck
// about them, and about every delivery, with write false.
func (h *hook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.p.subscribing == nil {
		h.p.subscribing = map[string]bool{}
	}
	for _, f := range pk.Filters {
		h.p.subscribing[cl.ID+"\x00"+f.Filter] = true
	}
	return pk
}

// OnACLCheck applies the subscription allow-list; deliveries pass, and
// publishes are checked in OnPublish.
func (h *hook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if write || cl.Net.Inline {
		return true
	}
	h.p.mu.Lock()
	sub := h.p.subscribing[cl.ID+"\x00"+topic]
	delete(h.p.subscribing, cl.ID+"\x00"+topic)
	h.p.mu.Unlock()
	if !sub {
		return true // a delivery to an accepted subscription
	}
	if !allowed(h.p.rules.Subscribe, topic) {
		h.p.violate(cl.ID, "subscribe", "subscription to %s is not allowed", topic)
		return false
	}
	if n := h.p.rules.MaxTopicLevels; n > 0 && strings.Count(topic, "/")+1 > n {
		h.p.violate(cl.ID, "depth", "subscription %s deeper than %d levels", topic, n)
		return false
	}
	return true
}

func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	r := h.p.rules
	drop := func(rule, format string, args ...any) (packets.Packet, error) {
		h.p.violate(cl.ID, rule, format, args...)
		cl.Stop(fmt.Errorf("standin: %s", rule))
		return pk, packets.ErrRejectPacket
	}
	topic := pk.TopicName
	if r.NoRetain && pk.FixedHeader.Retain {
		return drop("retain", "retained publish on %s", topic)
	}
	if maxQoS := r.MaxQoS; maxQoS > 0 && pk.FixedHeader.Qos > maxQoS {
		return drop("qos", "QoS %d on %s", pk.FixedHeader.Qos, topic)
	}
	if !allowed(r.Publish, topic) {
		return drop("topic", "publish to %s is not allowed", topic)
	}
	if n := r.MaxTopicLevels; n > 0 && strings.Count(topic, "/")+1 > n {
		return drop("depth", "topic %s deeper than %d levels", topic, n)
	}
	now := time.Now()
	h.p.mu.Lock()
	if r.RatePerSecond > 0 {
		times := h.p.recent[cl.ID]
		i := 0
		for i < len(times) && now.Sub(times[i]) >= time.Second {
			i++
		}
		times = append(times[i:], now)
		h.p.recent[cl.ID] = times
		if len(times) > r.RatePerSecond {
			h.p.mu.Unlock()
			return drop("rate", "%d publishes within one second (limit %d)", len(times), r.RatePerSecond)
		}
	}
	h.p.msgs = append(h.p.msgs, Message{ClientID: cl.ID, Topic: topic, Payload: append([]byte(nil), pk.Payload...),
		Retain: pk.FixedHeader.Retain, QoS: pk.FixedHeader.Qos, At: now})
	h.p.mu.Unlock()
	select {
	case h.p.notify <- struct{}{}:
	default:
	}
	return pk, nil
}

package mqttlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/door"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/platform"
	"github.com/facegate/facegate/signedcmd"
)

// Door is what the link needs from the door controller (*door.Controller
// satisfies it).
type Door interface {
	Unlock(ctx context.Context, d time.Duration, source, actor string) error
	Lock(ctx context.Context, source, actor string) error
	State() door.State
	Subscribe() (<-chan door.State, func())
}

// ErrRunning is returned by a second concurrent Run.
var ErrRunning = errors.New("mqttlink: already running")

// HealthComponent is the name the link reports to the health tracker.
const HealthComponent = "mqtt"

// topics are the link's topics under its profile (package platform); an
// empty one is not used by the profile (no availability on IoTDA and
// ThingsBoard, whose own online state is the availability).
type topics struct {
	prefix, availability, state, events, alarms, cmd, haLockSet string
	platform                                                    platform.Topics
}

func newTopics(p string, prof platform.Profile, deviceID string) topics {
	pt := prof.Topics(p, deviceID)
	t := topics{prefix: p, availability: pt.Availability, state: pt.State, events: pt.Events,
		alarms: pt.Alarms, cmd: pt.Commands, platform: pt}
	if prof.Layout == platform.LayoutPrefix {
		t.haLockSet = p + "/ha/lock/set"
	}
	return t
}

// haStatusTopic is where Home Assistant announces its (re)start.
const haStatusTopic = "homeassistant/status"

// Link is the keep-alive-managed MQTT link of one appliance: availability,
// state, the durable outbox sender and remote commands.
type Link struct {
	cfg      config.Config
	db       *facedb.DB
	door     Door
	health   *health.Tracker
	log      *slog.Logger
	key      []byte
	plan     keepAlivePlan
	topics   topics
	prof     platform.Profile
	confirm  bool                 // delivery confirmed by echo (mqtt.confirm_delivery and the profile allows it)
	limiter  *rate.Limiter        // upstream publishes (nil: the profile has no limit)
	now      func() time.Time     // the clock of the connect credentials (tests move it)
	creds    platform.Credentials // of the current client
	opts     *mqtt.ClientOptions  // of the current client
	clientMu sync.Mutex
	client   mqtt.Client
	m        *metrics
	version  atomic.Value // string

	connMu sync.Mutex
	conn   *keepAliveConn // the current network connection

	mu          sync.Mutex
	up          bool
	upCh        chan struct{} // closed while connected
	upSince     time.Time
	downSince   time.Time
	connects    int64
	losses      map[string]int64
	outbox      facedb.OutboxStats
	backlog     bool // outbox_backlog alarm raised and not yet cleared
	delivery    facedb.DeliveryStats
	unconfirmed bool           // delivery_unconfirmed raised and not yet cleared
	subProblem  string         // why the echo subscription cannot confirm delivery ("" = fine)
	subConn     *keepAliveConn // the connection whose subscriptions the broker confirmed

	echoes     chan facedb.Echo // own events/alarms seen back, for echoLoop
	echoesSeen atomic.Int64
	subKick    chan struct{}

	lost      chan string    // connection-lost reasons from paho's handler
	cmds      chan queuedCmd // verified commands for commandLoop
	rejects   rejects
	stateKick chan struct{}
	haKick    chan struct{}
	running   atomic.Bool
}

// Status is a snapshot of the link for the state topic, metrics and tests.
type Status struct {
	Connected    bool
	Subscribed   bool          // the broker acknowledged this connection's subscriptions (commands are heard)
	Since        time.Time     // connected since, or down since
	Outage       time.Duration // length of the current outage, 0 while connected
	Connects     int64
	Losses       map[string]int64 // connection losses by reason
	OutboxDepth  int
	OutboxOldest time.Time
	Backlog      bool // outbox limits reached
	Delivery     facedb.DeliveryStats
}

// New checks the [mqtt] configuration and prepares a link; Run connects.
// h and reg may be nil. With an empty mqtt.broker the link is disabled: Run
// only waits for its context (events stay in the outbox).
func New(cfg config.Config, db *facedb.DB, d Door, h *health.Tracker, reg prometheus.Registerer, log *slog.Logger) (*Link, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if db == nil || d == nil {
		return nil, fmt.Errorf("%w: a database and a door are required", ErrConfig)
	}
	m := cfg.MQTT
	if m.KeepaliveSeconds < 0 || m.KeepaliveSeconds > 65535 {
		return nil, fmt.Errorf("%w: keepalive_seconds %d is outside 0..65535", ErrConfig, m.KeepaliveSeconds)
	}
	if m.PingTimeoutSeconds <= 0 || m.WriteTimeoutSeconds <= 0 || m.MaxReconnectSeconds <= 0 {
		return nil, fmt.Errorf("%w: ping_timeout_seconds, write_timeout_seconds and max_reconnect_seconds must be positive", ErrConfig)
	}
	key, err := signedcmd.ParseKey(m.CommandKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	prof, err := platform.Lookup(m.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: mqtt.profile: %w", ErrConfig, err)
	}
	if err := prof.CheckKeepAlive(m.KeepaliveSeconds); err != nil {
		return nil, fmt.Errorf("%w: %s: key mqtt.keepalive_seconds: %w", ErrConfig, cfg.File, err)
	}
	l := &Link{
		cfg: cfg, db: db, door: d, health: h, log: log.With("component", "mqtt"), key: key,
		plan:   planKeepAlive(time.Duration(m.KeepaliveSeconds)*time.Second, time.Duration(m.PingTimeoutSeconds)*time.Second),
		topics: newTopics(cfg.TopicPrefix(), prof, cfg.DeviceID), prof: prof,
		confirm: m.ConfirmDelivery && prof.Echo, now: credentialClock(),
		upCh: make(chan struct{}), losses: map[string]int64{}, downSince: time.Now(),
		lost: make(chan string, 1), cmds: make(chan queuedCmd, 64),
		stateKick: make(chan struct{}, 1), haKick: make(chan struct{}, 1),
		rejects: newRejects(rejectWindow),
		echoes:  make(chan facedb.Echo, 4096), subKick: make(chan struct{}, 1),
	}
	l.version.Store("dev")
	if prof.PublishRate > 0 {
		// 90% of the platform's limit, one at a time: no one-second window
		// ever holds more than the limit.
		l.limiter = rate.NewLimiter(rate.Limit(prof.PublishRate*0.9), 1)
	}
	l.m = newMetrics(l)
	if m.Broker == "" {
		return l, l.m.register(reg)
	}
	opts, err := l.clientOptions()
	if err != nil {
		return nil, err
	}
	if err := l.m.register(reg); err != nil {
		return nil, err
	}
	l.opts = opts
	l.creds = l.credentials()
	l.client = mqtt.NewClient(l.withCredentials(opts, l.creds))
	return l, nil
}

// SetVersion sets the version string published in the state topic and the
// Home Assistant device. Call it before Run.
func (l *Link) SetVersion(v string) { l.version.Store(v) }

// Status returns the current link status.
func (l *Link) Status() Status {
	conn := l.currentConn()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Status{Connected: l.up, Connects: l.connects, Losses: make(map[string]int64, len(l.losses)),
		OutboxDepth: l.outbox.Depth, OutboxOldest: l.outbox.Oldest, Backlog: l.backlog, Delivery: l.delivery,
		Subscribed: l.up && conn != nil && l.subConn == conn}
	for k, v := range l.losses {
		s.Losses[k] = v
	}
	if l.up {
		s.Since = l.upSince
	} else {
		s.Since = l.downSince
		s.Outage = time.Since(l.downSince)
	}
	return s
}

// Run connects and keeps the link up until ctx is cancelled: it reconnects
// with back-off, publishes availability and state on every connect, sends
// the outbox and serves commands. On return it has published a retained
// "offline" (when connected) and disconnected. It returns nil when ctx is
// cancelled.
func (l *Link) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer l.running.Store(false)
	if l.cli() == nil {
		l.log.Warn("mqtt.broker is empty: MQTT link disabled; events stay queued in the outbox")
		if l.health != nil {
			l.health.Remove(HealthComponent)
		}
		<-ctx.Done()
		return nil
	}
	if l.plan.keepAlive == 0 {
		l.log.Warn("mqtt.keepalive_seconds = 0 disables keep-alive: a dead network is only noticed when a write fails")
	}
	if len(l.key) == 0 && !l.prof.PlatformCommands {
		l.log.Warn("mqtt.command_key is empty: remote commands are refused")
	}
	if l.cfg.MQTT.ConfirmDelivery && !l.confirm {
		l.log.Info("mqtt delivery confirmed by PUBACK: the platform does not let a device subscribe to its own upstream topics", "profile", l.prof.Name)
	}
	l.setHealth(false, "connecting")

	var wg sync.WaitGroup
	for _, f := range []func(context.Context){l.sendLoop, l.stateLoop, l.commandLoop, l.rejectLoop, l.echoLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	l.connectLoop(ctx)
	wg.Wait()
	l.shutdown()
	return nil
}

// connectLoop connects, waits for the loss of the connection and reconnects
// with exponential back-off (1 s doubling, capped at max_reconnect_seconds,
// with jitter) until ctx is cancelled.
func (l *Link) connectLoop(ctx context.Context) {
	maxWait := time.Duration(l.cfg.MQTT.MaxReconnectSeconds) * time.Second
	wait := time.Duration(0)
	for {
		if wait > 0 {
			jittered := wait/2 + rand.N(wait/2+1)
			l.log.Info("mqtt reconnecting", "in", jittered.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return
			case <-time.After(jittered):
			}
		}
		t := l.freshClient().Connect()
		select {
		case <-t.Done():
		case <-ctx.Done():
			<-t.Done() // bounded by the connect timeout
		}
		err := t.Error()
		if err == nil {
			err = l.checkConnack()
		}
		if err != nil {
			l.m.connectFails.Inc()
			l.setHealth(false, "connect failed: "+err.Error())
			l.log.Warn("mqtt connect failed", "broker", l.cfg.MQTT.Broker, "err", err)
			wait = min(max(2*wait, time.Second), maxWait)
			continue
		}
		if ctx.Err() != nil {
			return // connected just as we stop: shutdown publishes offline
		}
		l.setUp()
		connectedAt := time.Now()
		select {
		case reason := <-l.lost:
			l.setDown(reason)
			wait = nextBackoff(wait, time.Since(connectedAt), maxWait)
		case <-ctx.Done():
			return
		}
	}
}

// stableConnection is how long a connection must have been up for the
// reconnect back-off to start again from the beginning: a broker restarted
// a few times in a row must not leave the door offline for the whole cap.
const stableConnection = 5 * time.Second

// nextBackoff is the wait before reconnecting after a connection that was up
// for upFor: none after a stable connection (the back-off starts again from
// the beginning), doubling from 1 s up to maxWait over connections that died
// young.
func nextBackoff(prev, upFor, maxWait time.Duration) time.Duration {
	if upFor >= stableConnection {
		return 0
	}
	return min(max(2*prev, time.Second), maxWait)
}

// connackNames are the CONNACK return codes beyond MQTT 3.1.1's 0..5 that
// brokers send (MQTT 5 reason codes) and paho v1.5.1 does not know.
var connackNames = map[int]string{
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
	0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8C: "bad authentication method",
	0x90: "topic name invalid", 0x95: "packet too large", 0x97: "quota exceeded",
	0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "QoS not supported",
	0x9C: "use another server", 0x9D: "server moved", 0x9F: "connection rate exceeded",
}

// ErrRefused is wrapped by the error of a connection the broker refused in
// its CONNACK.
var ErrRefused = errors.New("mqttlink: broker refused the connection")

// checkConnack looks at the CONNACK paho accepted: paho v1.5.1 turns return
// codes it does not know into a nil error, leaving a closed connection that
// would be logged as "connected" and loop. Such a refusal is reported as a
// failed connect (and backed off like one).
func (l *Link) checkConnack() error {
	kc := l.currentConn()
	if kc == nil {
		return nil
	}
	rc := kc.ConnackCode()
	if rc <= 0 {
		return nil
	}
	l.cli().Disconnect(0)
	select { // the closed connection's loss belongs to this failed attempt
	case <-l.lost:
	default:
	}
	name := connackNames[rc]
	if name == "" {
		name = "unknown code"
	}
	return fmt.Errorf("%w: CONNACK return code 0x%02X (%s)", ErrRefused, rc, name)
}

func (l *Link) setUp() {
	l.mu.Lock()
	l.up = true
	l.upSince = time.Now()
	l.connects++
	close(l.upCh)
	l.mu.Unlock()
	l.m.connects.Inc()
	l.setHealth(true, "connected to "+l.cfg.MQTT.Broker)
	l.log.Info("mqtt connected", "broker", l.cfg.MQTT.Broker, "profile", l.prof.Name, "keepalive", l.plan.keepAlive)
}

func (l *Link) setDown(reason string) {
	l.mu.Lock()
	if l.up {
		l.up = false
		l.downSince = time.Now()
		l.upCh = make(chan struct{})
		l.losses[reason]++
	}
	l.mu.Unlock()
	l.m.losses.WithLabelValues(reason).Inc()
	l.setHealth(false, "connection lost: "+reason)
}

// upChan returns a channel closed while the link is connected.
func (l *Link) upChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upCh
}

func (l *Link) isUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

func (l *Link) setHealth(ok bool, detail string) {
	if l.health != nil {
		l.health.Set(HealthComponent, ok, detail)
	}
}

// onLost is paho's connection-lost handler: it classifies the reason and
// hands it to connectLoop without blocking.
func (l *Link) onLost(_ mqtt.Client, err error) {
	reason := reasonNetwork
	kc := l.currentConn()
	switch {
	case kc != nil && kc.Reason() != "":
		reason = kc.Reason()
	case err != nil && strings.Contains(err.Error(), "pingresp not received"):
		reason = reasonPingTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason = reasonWriteTimeout
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		reason = reasonClosed
	}
	l.log.Warn("mqtt connection lost", "reason", reason, "err", err)
	select {
	case l.lost <- reason:
	default:
	}
}

// currentConn is the network connection paho uses now (nil before the first dial).
func (l *Link) currentConn() *keepAliveConn {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	return l.conn
}

// closeConn drops the current connection (paho then reports it lost).
func (l *Link) closeConn(reason string) {
	if kc := l.currentConn(); kc != nil {
		kc.dead(reason)
	}
}

// onConnect is paho's on-connect handler (paho runs it on its own
// goroutine): subscriptions (commands, and the device's own events and
// alarms when delivery is confirmed by echo), availability, state and
// discovery.
func (l *Link) onConnect(c mqtt.Client) {
	kc := l.currentConn()
	subs := map[string]byte{l.topics.cmd: 1}
	if l.confirm {
		subs[l.topics.events] = 1
		subs[l.topics.alarms] = 1
	}
	if l.cfg.MQTT.HomeAssistant {
		subs[haStatusTopic] = 1
		subs[l.topics.haLockSet] = 1
	}
	st := c.SubscribeMultiple(subs, l.onMessage)
	if l.topics.availability != "" {
		c.Publish(l.topics.availability, 1, l.prof.Retain, "online")
	}
	kick(l.stateKick)
	kick(l.haKick) // publish the discovery configs, or clear those published before
	if !st.WaitTimeout(l.connectTimeout()) || st.Error() != nil {
		l.log.Error("mqtt subscribe failed; reconnecting", "err", st.Error())
		l.closeConn("subscribe_failed")
		return
	}
	problem := ""
	for topic, code := range st.(*mqtt.SubscribeToken).Result() {
		if code != 0x80 {
			continue
		}
		if topic == l.topics.events || topic == l.topics.alarms {
			problem = "broker refused the subscription to " + topic + " (SUBACK 0x80): delivery cannot be confirmed by echo; " +
				"allow the device to subscribe to its own P/events and P/alarms, or set mqtt.confirm_delivery = false"
			l.log.Error("mqtt broker refused the echo subscription; rows stay acknowledged, not delivered", "topic", topic)
			continue
		}
		l.log.Error("mqtt broker refused subscription; commands will not work", "topic", topic)
		l.setHealth(false, "subscription to "+topic+" refused")
	}
	l.mu.Lock()
	l.subProblem = problem
	l.subConn = kc
	l.mu.Unlock()
	kick(l.subKick)
}

// subscribedConn is the connection whose subscriptions were confirmed.
func (l *Link) subscribedConn() *keepAliveConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.subConn
}

// onMessage is the subscription handler. It never blocks: commands are
// verified here (precheck), rejections are counted and summarised, and only
// verified commands are queued for commandLoop.
func (l *Link) onMessage(_ mqtt.Client, msg mqtt.Message) {
	if t := msg.Topic(); l.confirm && (t == l.topics.events || t == l.topics.alarms) {
		l.onEcho(msg.Payload())
		return
	}
	if msg.Topic() == haStatusTopic {
		if string(msg.Payload()) == "online" {
			kick(l.haKick)
		}
		return
	}
	precheck := l.precheck
	if l.prof.PlatformCommands {
		precheck = l.precheckPlatform
	}
	q, rej := precheck(msg.Topic(), msg.Payload(), msg.Retained())
	if rej != nil {
		l.rejected(*rej)
		return
	}
	if q.name == "" {
		return // not a command
	}
	select {
	case l.cmds <- q:
	default: // only verified commands queue: 64 of them waiting is a key holder's flood
		l.m.commands.WithLabelValues(metricName(q.name), "dropped").Inc()
		l.log.Warn("mqtt command dropped: too many verified commands waiting", "topic", msg.Topic())
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// shutdown publishes the retained "offline" (a graceful disconnect sends no
// will) and disconnects.
func (l *Link) shutdown() {
	if c := l.cli(); c.IsConnectionOpen() {
		if l.topics.availability != "" {
			t := c.Publish(l.topics.availability, 1, l.prof.Retain, "offline")
			if !t.WaitTimeout(2*time.Second) || t.Error() != nil {
				l.log.Warn("mqtt could not publish offline before disconnecting", "err", t.Error())
			}
		}
		c.Disconnect(500)
	}
	l.setDown(reasonShutdown)
	l.setHealth(false, "stopped")
	l.log.Info("mqtt disconnected")
}

// statePayload is the JSON of P/state.
type statePayload struct {
	Door          string    `json:"door"`
	Contact       string    `json:"contact"`
	People        int       `json:"people"`
	Outbox        int       `json:"outbox"` // events and alarms not yet delivered
	Link          linkState `json:"link"`
	Version       string    `json:"version"`
	TS            string    `json:"ts"`
	UnlockedUntil string    `json:"unlocked_until,omitempty"`
	ForcedOpen    bool      `json:"forced_open"`
	HeldOpen      bool      `json:"held_open"`
	Health        string    `json:"health,omitempty"`
}

type linkState struct {
	Connected bool   `json:"connected"`
	Since     string `json:"since"`
	Connects  int64  `json:"connects"`
	Keepalive int    `json:"keepalive"`
}

func (l *Link) statePayload(ctx context.Context, st door.State) []byte {
	people := 0
	if ps, err := l.db.People(ctx); err == nil {
		people = len(ps)
	} else {
		l.log.Warn("mqtt state: counting people", "err", err)
	}
	s := l.Status()
	p := statePayload{
		Door: st.DoorState(), Contact: st.Contact, People: people, Outbox: s.OutboxDepth,
		Link:    linkState{Connected: l.cli().IsConnectionOpen(), Since: s.Since.UTC().Format(time.RFC3339), Connects: s.Connects, Keepalive: l.cfg.MQTT.KeepaliveSeconds},
		Version: l.version.Load().(string), TS: time.Now().UTC().Format(time.RFC3339),
		ForcedOpen: st.ForcedOpen, HeldOpen: st.HeldOpen,
	}
	if p.Contact == "" {
		p.Contact = door.ContactUnknown
	}
	if !st.UnlockedUntil.IsZero() {
		p.UnlockedUntil = st.UnlockedUntil.UTC().Format(time.RFC3339)
	}
	if l.health != nil {
		p.Health = l.health.Report().Status
	}
	b, _ := json.Marshal(p)
	return b
}

// stateLoop publishes P/state on every door change, on every connect and
// when the number of people changes.
func (l *Link) stateLoop(ctx context.Context) {
	ch, cancel := l.door.Subscribe()
	defer cancel()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	rev, _ := l.db.LibraryRevision(ctx) // the connect publishes the count as of now
	lastDepth := l.Status().OutboxDepth // the outbox backlog sensor follows it
	publish := func(st door.State) {
		if !l.cli().IsConnectionOpen() {
			return // published again on connect
		}
		l.publish(ctx, l.topics.state, l.prof.Retain, l.platformState(l.statePayload(ctx, st)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case st, ok := <-ch:
			if !ok {
				ch = nil
				continue
			}
			publish(st)
		case <-l.stateKick:
			publish(l.door.State())
		case <-tick.C:
			r, err := l.db.LibraryRevision(ctx)
			depth := l.Status().OutboxDepth
			if err == nil && r != rev || depth != lastDepth {
				if err == nil {
					rev = r
				}
				lastDepth = depth
				publish(l.door.State())
			}
		}
	}
}

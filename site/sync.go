package site

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

// Status is what a door reports, retained, at Topics.Door: which site
// library it has applied and what it refused.
type Status struct {
	Device     string           `json:"device"`
	Site       string           `json:"site"`
	Model      string           `json:"model"`   // the templates this door matches
	People     int              `json:"people"`  // live records applied
	Deleted    int              `json:"deleted"` // tombstones applied
	MaxVersion int64            `json:"max_version"`
	Digest     string           `json:"digest"` // LibraryDigest of what is applied
	Applied    int64            `json:"applied"`
	Refused    map[string]int64 `json:"refused"` // by reason, since the daemon started
	TS         time.Time        `json:"ts"`
}

// LibraryDigest identifies a set of applied records: two doors (or a door
// and the retained records on the broker) with the same digest hold the
// same site library.
func LibraryDigest(states map[string]facedb.SiteState) string {
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s %d %x\n", id, states[id].Version, states[id].Digest)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// SyncOptions tune a Syncer; zero values take the defaults.
type SyncOptions struct {
	// Model is the embedding model the door runs (reported in the status).
	Model string
	// Settle is how long the syncer waits for more records after one
	// arrived before applying them together (default 300 ms): the retained
	// burst after a (re)connect becomes one transaction and one reload.
	Settle time.Duration
	// MaxDelay bounds how long a steady stream of records is held back
	// (default 5 s).
	MaxDelay time.Duration
	// OnApplied, if set, is called after each applied batch with its size,
	// after the transaction committed.
	OnApplied func(n int)
	// Health, if set, gets the "site" component: OK while the records are
	// being followed, not OK while the broker is out of reach (the door
	// then matches against its local copy).
	Health interface {
		Set(component string, ok bool, detail string)
	}
}

// HealthComponent is the health component name of the site sync.
const HealthComponent = "site"

func (s *Syncer) setHealth(ok bool, detail string) {
	if s.o.Health != nil {
		s.o.Health.Set(HealthComponent, ok, detail)
	}
}

// maxSeenBad bounds the memory of refused messages (a flood of distinct
// bad records is then counted again after a reconnect, never unbounded).
const maxSeenBad = 10000

// Syncer keeps a door's face library equal to its site's retained records.
type Syncer struct {
	cfg    config.Config
	pub    ed25519.PublicKey
	db     *facedb.DB
	log    *slog.Logger
	o      SyncOptions
	topics Topics

	mu      sync.Mutex
	queue   []inbound
	states  map[string]facedb.SiteState
	applied int64
	refused map[string]int64
	seenBad map[[32]byte]struct{} // refused messages already counted
	wake    chan struct{}
	// marker is the nonce of the end-of-burst marker awaited after a
	// connect ("" when none is awaited); burstDone is signalled when it
	// came back.
	marker      string
	markerUntil time.Time
	burstDone   chan struct{}
	client      mqtt.Client

	appliedC prometheus.Counter
	refusedC *prometheus.CounterVec
}

type inbound struct {
	topic   string
	payload []byte
}

// NewSyncer returns the syncer of a site door (cfg.Site.Name set); it
// reads the site's public key from site.public_key_file.
func NewSyncer(cfg config.Config, db *facedb.DB, log *slog.Logger, o SyncOptions) (*Syncer, error) {
	if cfg.Site.Name == "" {
		return nil, fmt.Errorf("site: %s: site.name is empty: this is a standalone door", cfg.File)
	}
	pub, err := config.LoadSitePublicKey(cfg.Site.PublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("site: %s: key site.public_key_file: %w", cfg.File, err)
	}
	if o.Settle <= 0 {
		o.Settle = 300 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Second
	}
	return &Syncer{
		cfg: cfg, pub: pub, db: db, log: log, o: o, topics: TopicsFor(cfg, cfg.Site.Name),
		refused: map[string]int64{}, seenBad: map[[32]byte]struct{}{}, wake: make(chan struct{}, 1), burstDone: make(chan struct{}, 1),
		appliedC: prometheus.NewCounter(prometheus.CounterOpts{Name: "facegate_site_records_applied_total",
			Help: "Site person records applied to the local face library."}),
		refusedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facegate_site_records_refused_total",
			Help: "Site person records refused, by reason (unsigned, bad_signature, malformed, stale)."}, []string{"reason"}),
	}, nil
}

// Register adds the syncer's metrics to reg.
func (s *Syncer) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.appliedC, s.refusedC} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("site: %w", err)
		}
	}
	return nil
}

// Run subscribes to the site's records and applies them until ctx is
// cancelled (it returns nil then). Broker outages are waited out: the door
// keeps its local copy and catches up from the retained records on
// reconnect.
func (s *Syncer) Run(ctx context.Context) error {
	states, err := s.db.SiteStates(ctx)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	s.mu.Lock()
	s.states = states
	s.mu.Unlock()

	o, err := clientOptions(s.cfg, "facegate-"+s.cfg.DeviceID+"-site")
	if err != nil {
		return err
	}
	o.SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second)
	o.SetOnConnectHandler(func(c mqtt.Client) { go s.onConnect(ctx, c) })
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.log.Warn("site: broker connection lost; the local library stays in use", "err", err)
		st := s.Status()
		s.setHealth(false, fmt.Sprintf("broker connection lost (%v); using the local copy of %d people", err, st.People))
	})
	s.setHealth(false, fmt.Sprintf("connecting to %s; using the local copy of %d people", s.cfg.MQTT.Broker, len(states)))
	c := mqtt.NewClient(o)
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
	c.Connect() // retried in the background (SetConnectRetry)
	defer c.Disconnect(250)
	s.log.Info("site: syncing the face library", "site", s.cfg.Site.Name, "people", len(states), "broker", s.cfg.MQTT.Broker)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		if !s.gather(ctx) {
			return nil
		}
		// Drop a wake-up that only announced messages of this batch.
		select {
		case <-s.wake:
		default:
		}
		s.apply(ctx, s.take())
	}
}

// gather waits until the queued records form a batch: after a connect,
// until the end-of-burst marker came back (every retained record of the
// subscription was delivered before it); otherwise until nothing new came
// for Settle, or MaxDelay passed in a steady stream. It returns false when
// ctx ended.
func (s *Syncer) gather(ctx context.Context) bool {
	first := time.Now()
	for {
		s.mu.Lock()
		syncing, until := s.marker != "", s.markerUntil
		s.mu.Unlock()
		if syncing {
			t := time.NewTimer(time.Until(until))
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-s.burstDone:
			case <-t.C:
				s.log.Warn("site: the end of the retained records did not come back; applying what arrived",
					"topic", s.topics.Marker(s.cfg.DeviceID), "waited", markerWait)
				s.mu.Lock()
				s.marker = ""
				s.mu.Unlock()
			}
			t.Stop()
			return true
		}
		n := s.queued()
		t := time.NewTimer(s.o.Settle)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.burstDone:
		case <-t.C:
		}
		t.Stop()
		if s.queued() == n || time.Since(first) > s.o.MaxDelay {
			return true
		}
	}
}

// markerWait bounds the wait for the end-of-burst marker (a broker ACL that
// drops the door's publish to its marker topic, or a queue overflow).
const markerWait = 15 * time.Second

// onConnect subscribes to the site's records, then publishes a marker to a
// topic of the door's own and subscribes to it: the broker delivers the
// retained records of the first subscription before the marker, so its echo
// ends the burst deterministically (one transaction, one gallery reload,
// however slowly the records trickle in).
func (s *Syncer) onConnect(ctx context.Context, c mqtt.Client) {
	// Await the marker before the first record can arrive.
	nonce := randHex(8)
	s.mu.Lock()
	s.marker, s.markerUntil = nonce, time.Now().Add(markerWait)
	s.mu.Unlock()
	if err := wait(ctx, c.Subscribe(s.topics.People(), 1, s.receive), 30*time.Second); err != nil {
		s.log.Error("site: subscribing to the site records failed", "topic", s.topics.People(), "err", err)
		s.mu.Lock()
		s.marker = ""
		s.mu.Unlock()
		return
	}
	marker := s.topics.Marker(s.cfg.DeviceID)
	if err := wait(ctx, c.Subscribe(marker, 1, s.receiveMarker), 30*time.Second); err != nil {
		s.log.Warn("site: subscribing to the marker topic failed", "topic", marker, "err", err)
	} else if err := wait(ctx, c.Publish(marker, 1, false, nonce), 30*time.Second); err != nil {
		s.log.Warn("site: publishing the marker failed", "topic", marker, "err", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.setHealth(true, fmt.Sprintf("following site %q", s.cfg.Site.Name))
	s.publishStatus()
}

func (s *Syncer) receiveMarker(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	match := s.marker != "" && string(m.Payload()) == s.marker
	if match {
		s.marker = ""
	}
	s.mu.Unlock()
	if match {
		select {
		case s.burstDone <- struct{}{}:
		default:
		}
	}
}

// receive is paho's message handler: it only queues (a blocking handler
// would stall paho's reading of PINGRESP).
func (s *Syncer) receive(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	s.queue = append(s.queue, inbound{topic: m.Topic(), payload: m.Payload()})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Syncer) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *Syncer) take() []inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// apply verifies a batch, refuses what must be refused and stores the
// winners in one transaction.
func (s *Syncer) apply(ctx context.Context, batch []inbound) {
	s.mu.Lock()
	view := make(map[string]facedb.SiteState, len(s.states))
	for k, v := range s.states {
		view[k] = v
	}
	s.mu.Unlock()
	winners := map[string]Signed{}
	var order []string
	for _, m := range batch {
		id := lastLevel(m.topic)
		if len(m.payload) == 0 {
			continue // a retained record cleared on the broker: not a change of the site
		}
		rec, err := Open(s.pub, s.cfg.Site.Name, id, m.payload)
		if err == nil {
			if cur, ok := view[id]; ok && !cur.Newer(rec.Version, rec.Digest) {
				if cur.Version == rec.Version && string(cur.Digest) == string(rec.Digest) {
					continue // the same record again (redelivered on reconnect)
				}
				err = refuse(ReasonStale, "version %d is not newer than the applied version %d", rec.Version, cur.Version)
			}
		}
		if err != nil {
			s.refuse(ctx, id, m.payload, err)
			continue
		}
		if _, ok := winners[id]; !ok {
			order = append(order, id)
		}
		winners[id] = rec
		view[id] = facedb.SiteState{UUID: id, Version: rec.Version, Digest: rec.Digest, Deleted: rec.Deleted}
	}
	if len(winners) == 0 {
		return
	}
	ps := make([]facedb.SitePerson, 0, len(winners))
	for _, id := range order {
		ps = append(ps, winners[id].sitePerson())
	}
	stored, err := s.db.ApplySitePeople(ctx, ps)
	if err != nil {
		// Nothing was changed: keep the batch and try again shortly.
		s.log.Error("site: applying site records failed; retrying", "records", len(ps), "err", err)
		s.mu.Lock()
		s.queue = append(batch, s.queue...)
		s.mu.Unlock()
		time.AfterFunc(5*time.Second, func() {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		})
		return
	}
	s.mu.Lock()
	for _, st := range stored {
		s.states[st.UUID] = st
	}
	s.applied += int64(len(stored))
	s.mu.Unlock()
	s.appliedC.Add(float64(len(stored)))
	_ = s.db.Audit(ctx, facedb.AuditEntry{Actor: "site:" + s.cfg.Site.Name, Action: "site_sync",
		Detail: fmt.Sprintf("applied %d record(s)", len(stored)), OK: true})
	s.log.Info("site: records applied", "records", len(stored))
	if s.o.OnApplied != nil {
		s.o.OnApplied(len(stored))
	}
	s.publishStatus()
}

func (s *Syncer) refuse(ctx context.Context, id string, payload []byte, err error) {
	reason := ReasonOf(err)
	if reason == "" {
		reason = ReasonMalformed
	}
	// The broker hands a retained bad record over again on every
	// reconnect: count and audit each distinct one once.
	key := sha256.Sum256(append([]byte(id+"\n"), payload...))
	s.mu.Lock()
	if _, seen := s.seenBad[key]; seen {
		s.mu.Unlock()
		return
	}
	if len(s.seenBad) >= maxSeenBad {
		clear(s.seenBad)
	}
	s.seenBad[key] = struct{}{}
	s.refused[reason]++
	s.mu.Unlock()
	s.refusedC.WithLabelValues(reason).Inc()
	s.log.Warn("site: record refused", "uuid", id, "reason", reason, "err", err)
	if aerr := s.db.Audit(ctx, facedb.AuditEntry{Actor: "site:" + s.cfg.Site.Name, Action: "site_record",
		Target: id, Detail: reason + ": " + err.Error(), OK: false}); aerr != nil {
		s.log.Error("site: auditing a refused record failed", "err", aerr)
	}
}

// Status returns what the door has applied.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Device: s.cfg.DeviceID, Site: s.cfg.Site.Name, Model: s.o.Model, Applied: s.applied,
		Refused: make(map[string]int64, len(s.refused)), Digest: LibraryDigest(s.states), TS: time.Now().UTC()}
	for k, v := range s.refused {
		st.Refused[k] = v
	}
	for _, v := range s.states {
		if v.Deleted {
			st.Deleted++
		} else {
			st.People++
		}
		st.MaxVersion = max(st.MaxVersion, v.Version)
	}
	return st
}

func (s *Syncer) publishStatus() {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return
	}
	b, _ := json.Marshal(s.Status())
	t := c.Publish(s.topics.Door(s.cfg.DeviceID), 1, true, b)
	go func() {
		if t.WaitTimeout(30*time.Second) && t.Error() != nil {
			s.log.Warn("site: publishing the door status failed", "err", t.Error())
		}
	}()
}

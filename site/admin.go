package site

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

// Admin manages a site's records from where the private key is kept
// (facegate site). It talks to the broker of cfg, and verifies what it reads
// with the site's public key (site.public_key_file).
type Admin struct {
	cfg     config.Config
	pub     ed25519.PublicKey
	topics  Topics
	client  mqtt.Client
	timeout time.Duration
	// Quiet is how long a read of retained messages waits after the last
	// one arrived (default 700 ms).
	Quiet time.Duration
}

// Dial connects to cfg's broker for the site cfg.Site.Name.
func Dial(ctx context.Context, cfg config.Config) (*Admin, error) {
	if cfg.Site.Name == "" {
		return nil, fmt.Errorf("site: %s: key site.name is empty: name the site this machine manages", cfg.File)
	}
	pub, err := config.LoadSitePublicKey(cfg.Site.PublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("site: %s: key site.public_key_file: %w", cfg.File, err)
	}
	o, err := clientOptions(cfg, "facegate-site-"+randHex(6))
	if err != nil {
		return nil, err
	}
	o.SetAutoReconnect(false)
	a := &Admin{cfg: cfg, pub: pub, topics: TopicsFor(cfg, cfg.Site.Name), timeout: 15 * time.Second, Quiet: 700 * time.Millisecond}
	a.client = mqtt.NewClient(o)
	if err := wait(ctx, a.client.Connect(), a.timeout); err != nil {
		return nil, fmt.Errorf("site: connect %s: %w", cfg.MQTT.Broker, err)
	}
	return a, nil
}

// Close disconnects.
func (a *Admin) Close() { a.client.Disconnect(250) }

// retained collects the retained messages under filter: it returns once
// nothing arrived for Quiet after the subscription was granted.
func (a *Admin) retained(ctx context.Context, filter string) (map[string][]byte, error) {
	var mu sync.Mutex
	got := map[string][]byte{}
	last := time.Now()
	h := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if len(m.Payload()) > 0 {
			got[m.Topic()] = m.Payload()
		} else {
			delete(got, m.Topic())
		}
		last = time.Now()
	}
	if err := wait(ctx, a.client.Subscribe(filter, 1, h), a.timeout); err != nil {
		return nil, fmt.Errorf("site: subscribe %s: %w", filter, err)
	}
	defer a.client.Unsubscribe(filter)
	mu.Lock()
	last = time.Now()
	mu.Unlock()
	for {
		mu.Lock()
		idle := time.Since(last)
		mu.Unlock()
		if idle >= a.Quiet {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(a.Quiet - idle):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	out := make(map[string][]byte, len(got))
	for k, v := range got {
		out[k] = v
	}
	return out, nil
}

// Records reads every retained person record of the site. Records that do
// not verify are returned in bad (by uuid) and are not in good.
func (a *Admin) Records(ctx context.Context) (good map[string]Signed, bad map[string]error, err error) {
	msgs, err := a.retained(ctx, a.topics.People())
	if err != nil {
		return nil, nil, err
	}
	good, bad = map[string]Signed{}, map[string]error{}
	for topic, b := range msgs {
		id := lastLevel(topic)
		s, err := Open(a.pub, a.cfg.Site.Name, id, b)
		if err != nil {
			bad[id] = err
			continue
		}
		good[id] = s
	}
	return good, bad, nil
}

// Get reads the retained record of one person.
func (a *Admin) Get(ctx context.Context, id string) (Signed, error) {
	msgs, err := a.retained(ctx, a.topics.Person(id))
	if err != nil {
		return Signed{}, err
	}
	b, ok := msgs[a.topics.Person(id)]
	if !ok {
		return Signed{}, fmt.Errorf("site: no record of person %s in site %q", id, a.cfg.Site.Name)
	}
	return Open(a.pub, a.cfg.Site.Name, id, b)
}

// Put signs r (site, format and updated_at filled in) with key and
// publishes it retained at QoS 1.
func (a *Admin) Put(ctx context.Context, key ed25519.PrivateKey, r Record) (Signed, error) {
	r.Site = a.cfg.Site.Name
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now().UTC()
	}
	if !key.Public().(ed25519.PublicKey).Equal(a.pub) {
		return Signed{}, fmt.Errorf("site: the private key does not belong to site.public_key_file %s: doors would refuse its records", a.cfg.Site.PublicKeyFile)
	}
	s, err := Sign(key, r)
	if err != nil {
		return Signed{}, err
	}
	if err := a.Publish(ctx, r.UUID, s.Message); err != nil {
		return Signed{}, err
	}
	return s, nil
}

// Publish publishes a retained record message as it is (Put signs first).
func (a *Admin) Publish(ctx context.Context, id string, msg []byte) error {
	if err := wait(ctx, a.client.Publish(a.topics.Person(id), 1, true, msg), a.timeout); err != nil {
		return fmt.Errorf("site: publish person %s: %w", id, err)
	}
	return nil
}

// Change reads the current record of id, lets edit change it and publishes
// it with the next version.
func (a *Admin) Change(ctx context.Context, key ed25519.PrivateKey, id string, edit func(*Record)) (Signed, error) {
	cur, err := a.Get(ctx, id)
	if err != nil {
		return Signed{}, err
	}
	if cur.Deleted {
		return Signed{}, fmt.Errorf("site: person %s was deleted", id)
	}
	r := cur.Record
	edit(&r)
	r.Version = NextVersion(cur.Version, time.Now())
	r.UpdatedAt = time.Time{}
	return a.Put(ctx, key, r)
}

// Delete publishes a tombstone for id (after its current record, so the
// tombstone's version is newer).
func (a *Admin) Delete(ctx context.Context, key ed25519.PrivateKey, id string) (Signed, error) {
	cur, err := a.Get(ctx, id)
	if err != nil {
		return Signed{}, err
	}
	return a.Put(ctx, key, Record{UUID: id, Deleted: true, Version: NextVersion(cur.Version, time.Now())})
}

// NewPerson returns the first record of a new person.
func NewPerson(name string, ts []Template, thumbnail []byte) (Record, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Record{}, fmt.Errorf("site: %w", err)
	}
	return Record{UUID: id.String(), Version: NextVersion(0, time.Now()), Name: name, Enabled: true, Templates: ts, Thumbnail: thumbnail}, nil
}

// Doors reads the retained status of every door of the site.
func (a *Admin) Doors(ctx context.Context) ([]Status, error) {
	msgs, err := a.retained(ctx, a.topics.Doors())
	if err != nil {
		return nil, err
	}
	var out []Status
	for topic, b := range msgs {
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			st = Status{Device: lastLevel(topic)}
		}
		out = append(out, st)
	}
	return out, nil
}

// Digest is the LibraryDigest of a set of records: a door whose status
// carries it has applied exactly these.
func Digest(recs map[string]Signed) string {
	states := make(map[string]facedb.SiteState, len(recs))
	for id, r := range recs {
		states[id] = facedb.SiteState{UUID: id, Version: r.Version, Digest: r.Digest}
	}
	return LibraryDigest(states)
}

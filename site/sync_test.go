package site

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/vision"
)

func refusedAudits(t *testing.T, db *facedb.DB, reason string) int {
	t.Helper()
	log, err := db.AuditLog(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range log {
		if e.Action == "site_record" && !e.OK && strings.HasPrefix(e.Detail, reason+":") {
			n++
		}
	}
	return n
}

// TestDoorFollowsTheSiteThroughABridge: a person enrolled, disabled and
// deleted on broker A reaches the door's library on broker B; forged,
// unsigned, malformed and replayed older records change nothing and are
// counted and audited.
func TestDoorFollowsTheSiteThroughABridge(t *testing.T) {
	ctx := context.Background()
	a, b := testenv.StartBridgedPair(t, "facegate/#")
	priv, pubPath := siteKeys(t)
	db := openDB(t)
	syncer, _ := startSyncer(t, doorConfig(t, "door-b", b.URL, pubPath), db, SyncOptions{Model: "fr512"})
	admin := dial(t, doorConfig(t, "admin", a.URL, pubPath))
	r := rand.New(rand.NewPCG(5, 6))

	rec, err := NewPerson("Ada", []Template{fr512(r), fr512(r)}, []byte{0xff, 0xd8, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	first, err := admin.Put(ctx, priv, rec)
	if err != nil {
		t.Fatal(err)
	}
	var ada facedb.Person
	eventually(t, "Ada reaches the door behind the bridge", func() bool {
		p, ok := personNamed(t, db, "Ada")
		ada = p
		return ok && p.Enabled && p.Templates == 2
	})
	if th, err := db.PersonThumbnail(ctx, ada.ID); err != nil || len(th) != 3 {
		t.Errorf("thumbnail = %v, %v; want the record's 3 bytes", th, err)
	}

	second, err := admin.Change(ctx, priv, rec.UUID, func(r *Record) { r.Enabled = false })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ada is disabled at the door", func() bool { p, _ := personNamed(t, db, "Ada"); return !p.Enabled })

	// A replayed older version (validly signed) is refused.
	if err := admin.Publish(ctx, rec.UUID, first.Message); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay is refused as stale", func() bool { return syncer.Status().Refused[ReasonStale] == 1 })
	// A forged newer version (another key) is refused.
	forger, _ := siteKeys(t)
	fr := rec
	fr.Site, fr.Enabled, fr.Version = "hq", true, first.Version+1_000_000
	forged, err := Sign(forger, fr)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Publish(ctx, rec.UUID, forged.Message); err != nil {
		t.Fatal(err)
	}
	var env envelope
	_ = json.Unmarshal(forged.Message, &env)
	env.Sig = nil
	unsigned, _ := json.Marshal(env)
	if err := admin.Publish(ctx, rec.UUID, unsigned); err != nil {
		t.Fatal(err)
	}
	if err := admin.Publish(ctx, rec.UUID, []byte(`{"body":"{\"format\":1}","sig":"AAAA"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "forged, unsigned and garbled records are refused", func() bool {
		st := syncer.Status().Refused
		return st[ReasonBadSignature] == 2 && st[ReasonUnsigned] == 1
	})
	if p, _ := personNamed(t, db, "Ada"); p.Enabled {
		t.Fatal("a refused record enabled Ada again")
	}
	for reason, want := range map[string]int{ReasonStale: 1, ReasonBadSignature: 2, ReasonUnsigned: 1} {
		if got := refusedAudits(t, db, reason); got != want {
			t.Errorf("%d audit entries for %s refusals, want %d", got, reason, want)
		}
	}

	// Restore the genuine record (the forgeries replaced it on the broker),
	// then delete: the door forgets Ada and keeps the tombstone.
	cur, _ := db.SiteStates(ctx)
	if err := admin.Publish(ctx, rec.UUID, mustRecord(t, db, rec.UUID)); err != nil {
		t.Fatal(err)
	}
	tomb, err := admin.Put(ctx, priv, Record{UUID: rec.UUID, Deleted: true, Version: NextVersion(cur[rec.UUID].Version, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ada is forgotten", func() bool { _, ok := personNamed(t, db, "Ada"); return !ok })
	// An old record replayed after the deletion does not bring her back.
	if err := admin.Publish(ctx, rec.UUID, second.Message); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay after the tombstone is refused", func() bool { return syncer.Status().Refused[ReasonStale] == 2 })
	if _, ok := personNamed(t, db, "Ada"); ok {
		t.Fatal("a replayed record brought a deleted person back")
	}
	st := syncer.Status()
	if st.People != 0 || st.Deleted != 1 || st.MaxVersion != tomb.Version {
		t.Errorf("status %+v, want 0 people, 1 tombstone at version %d", st, tomb.Version)
	}
	// The door's retained status is readable from the other broker.
	eventually(t, "door-b's status reaches broker A", func() bool {
		doors, err := admin.Doors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(doors) == 1 && doors[0].Device == "door-b" && doors[0].Digest == st.Digest
	})
}

func mustRecord(t *testing.T, db *facedb.DB, id string) []byte {
	t.Helper()
	p, err := db.SiteRecord(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTemplatesOfAnotherModelAreKeptNotMatched: an sface template travels
// with the record and is stored, but a fr512 gallery holds only fr512 ones.
func TestTemplatesOfAnotherModelAreKeptNotMatched(t *testing.T) {
	ctx := context.Background()
	br := testenv.StartBroker(t)
	priv, pubPath := siteKeys(t)
	db := openDB(t)
	startSyncer(t, doorConfig(t, "door", br.URL, pubPath), db, SyncOptions{})
	r := rand.New(rand.NewPCG(7, 8))
	sface := Template{Model: "sface", Embedding: Embedding(unitVector(r, 128))}
	rec, _ := NewPerson("Cy", []Template{fr512(r), sface}, nil)
	if _, err := dial(t, doorConfig(t, "admin", br.URL, pubPath)).Put(ctx, priv, rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Cy arrives", func() bool { _, ok := personNamed(t, db, "Cy"); return ok })
	g := vision.NewGallery("fr512")
	if _, err := enrol.LoadGallery(ctx, db, g); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Errorf("fr512 gallery holds %d templates, want 1 (the sface one is not matched)", g.Len())
	}
	ts, err := db.Templates(ctx, "sface")
	if err != nil || len(ts) != 1 {
		t.Errorf("sface templates kept: %d, %v; want 1", len(ts), err)
	}
}

// TestOfflineDoorConvergesToTheLastVersion: changes made while the door was
// down arrive as the one retained last version when it comes back.
func TestOfflineDoorConvergesToTheLastVersion(t *testing.T) {
	ctx := context.Background()
	br := testenv.StartBroker(t)
	priv, pubPath := siteKeys(t)
	db := openDB(t)
	cfg := doorConfig(t, "door", br.URL, pubPath)
	h := health.New()
	_, stop := startSyncer(t, cfg, db, SyncOptions{Health: h})
	admin := dial(t, doorConfig(t, "admin", br.URL, pubPath))
	r := rand.New(rand.NewPCG(9, 10))
	rec, _ := NewPerson("Dee", []Template{fr512(r)}, nil)
	if _, err := admin.Put(ctx, priv, rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Dee arrives", func() bool { _, ok := personNamed(t, db, "Dee"); return ok })
	if c := h.Report().Components[HealthComponent]; !c.OK {
		t.Errorf("site health %+v while following the broker, want ok", c)
	}
	br.Stop()
	eventually(t, "the door reports the broker out of reach", func() bool {
		c := h.Report().Components[HealthComponent]
		return !c.OK && strings.Contains(c.Detail, "local copy of 1 people")
	})
	br.Restart()
	stop()
	admin = dial(t, doorConfig(t, "admin", br.URL, pubPath)) // its connection ended with the broker
	if _, err := admin.Change(ctx, priv, rec.UUID, func(r *Record) { r.Name = "Dee Two" }); err != nil {
		t.Fatal(err)
	}
	last, err := admin.Change(ctx, priv, rec.UUID, func(r *Record) { r.Name = "Dee Three"; r.Enabled = false })
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startSyncer(t, cfg, db, SyncOptions{})
	eventually(t, "the door converges to the last version", func() bool {
		p, ok := personNamed(t, db, "Dee Three")
		return ok && !p.Enabled && s.Status().MaxVersion == last.Version
	})
	if ps, _ := db.People(ctx); len(ps) != 1 {
		t.Errorf("%d people, want 1 (the same person changed)", len(ps))
	}
}

// TestBurstOfRecordsIsAppliedOnce: 1,000 retained people reach a new door
// in one transaction, so its gallery reloads once.
func TestBurstOfRecordsIsAppliedOnce(t *testing.T) {
	ctx := context.Background()
	br := testenv.StartBroker(t)
	priv, pubPath := siteKeys(t)
	admin := dial(t, doorConfig(t, "admin", br.URL, pubPath))
	publishPeople(t, admin, priv, 1000)
	db := openDB(t)
	rev0, _ := db.LibraryRevision(ctx)
	var mu sync.Mutex
	var batches []int
	s, _ := startSyncer(t, doorConfig(t, "new-door", br.URL, pubPath), db, SyncOptions{OnApplied: func(n int) {
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	}})
	eventually(t, "1,000 people arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for _, n := range batches {
			sum += n
		}
		return sum == 1000 && s.Status().People == 1000
	})
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 1 || batches[0] != 1000 {
		t.Errorf("applied in batches %v, want one batch of 1000", batches)
	}
	if ps, _ := db.People(ctx); len(ps) != 1000 {
		t.Errorf("%d people in the library, want 1000", len(ps))
	}
	if rev, _ := db.LibraryRevision(ctx); rev == rev0 {
		t.Error("library revision unchanged: the camera loop would not reload")
	}
}

func publishPeople(t testing.TB, admin *Admin, priv ed25519.PrivateKey, n int) []Signed {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	out := make([]Signed, 0, n)
	for i := range n {
		rec, err := NewPerson(fmt.Sprintf("Person %04d", i), []Template{fr512(r), fr512(r), fr512(r)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := admin.Put(context.Background(), priv, rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestEqualVersionsResolveAlikeOnEveryDoor: two different records with the
// same version end the same on doors that saw them in opposite order.
func TestEqualVersionsResolveAlikeOnEveryDoor(t *testing.T) {
	ctx := context.Background()
	priv, pubPath := siteKeys(t)
	r := rand.New(rand.NewPCG(13, 14))
	rec, _ := NewPerson("Eve", []Template{fr512(r)}, nil)
	rec.Site = "hq"
	x, _ := Sign(priv, rec)
	rec.Name = "Eve Other"
	y, _ := Sign(priv, rec)
	topic := TopicsFor(doorConfig(t, "d", "tcp://127.0.0.1:1", pubPath), "hq").Person(rec.UUID)
	var names []string
	for _, order := range [][]Signed{{x, y}, {y, x}} {
		db := openDB(t)
		s, err := NewSyncer(doorConfig(t, "d", "tcp://127.0.0.1:1", pubPath), db, quietLog(), SyncOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.states = map[string]facedb.SiteState{}
		for _, m := range order {
			s.apply(ctx, []inbound{{topic: topic, payload: m.Message}})
		}
		ps, _ := db.People(ctx)
		if len(ps) != 1 {
			t.Fatalf("%d people, want 1", len(ps))
		}
		names = append(names, ps[0].Name)
	}
	if names[0] != names[1] {
		t.Errorf("doors disagree on a tie: %q vs %q", names[0], names[1])
	}
}

// TestRefusedRecordIsAuditedOnce: a forged retained record comes back on
// every reconnect; the door counts and audits it once, not per reconnect.
func TestRefusedRecordIsAuditedOnce(t *testing.T) {
	ctx := context.Background()
	br := testenv.StartBroker(t)
	_, pubPath := siteKeys(t)
	priv, _ := siteKeys(t) // not the site's key
	db := openDB(t)
	s, _ := startSyncer(t, doorConfig(t, "door", br.URL, pubPath), db, SyncOptions{})
	r := rand.New(rand.NewPCG(15, 16))
	rec, _ := NewPerson("Mallory", []Template{fr512(r)}, nil)
	rec.Site = "hq"
	forged, err := Sign(priv, rec)
	if err != nil {
		t.Fatal(err)
	}
	admin := dial(t, doorConfig(t, "admin", br.URL, pubPath))
	if err := admin.Publish(ctx, rec.UUID, forged.Message); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the forgery is refused", func() bool { return s.Status().Refused[ReasonBadSignature] == 1 })
	br.Restart()
	// A genuine record published after the restart arrives in the same
	// retained burst as the forgery when the door resubscribes.
	sitePriv, genuine := mustSiteKey(t, pubPath), rand.New(rand.NewPCG(17, 18))
	ok, _ := NewPerson("Olivia", []Template{fr512(genuine)}, nil)
	if _, err := dial(t, doorConfig(t, "admin2", br.URL, pubPath)).Put(ctx, sitePriv, ok); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the door reconnects and applies Olivia", func() bool { _, found := personNamed(t, db, "Olivia"); return found })
	if n := s.Status().Refused[ReasonBadSignature]; n != 1 {
		t.Errorf("forgery counted %d times, want once", n)
	}
	if n := refusedAudits(t, db, ReasonBadSignature); n != 1 {
		t.Errorf("forgery audited %d times, want once", n)
	}
}

// TestDocumentedACL: with the ACL of docs/install-pi.md ("Many doors"), a
// door receives the people and reports its status, but cannot publish a
// person record nor another door's status.
func TestDocumentedACL(t *testing.T) {
	ctx := context.Background()
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte(`user site-admin
topic write facegate/site/hq/people/#
topic read facegate/site/hq/#

pattern read facegate/site/hq/people/#
pattern write facegate/site/hq/doors/%u
pattern readwrite facegate/%u/#
`), 0o644); err != nil {
		t.Fatal(err)
	}
	br := testenv.StartBroker(t, "acl_file "+acl)
	priv, pubPath := siteKeys(t)
	adminCfg := doorConfig(t, "admin", br.URL, pubPath)
	adminCfg.MQTT.Username = "site-admin"
	admin := dial(t, adminCfg)
	doorCfg := doorConfig(t, "door-1", br.URL, pubPath)
	doorCfg.MQTT.Username = "door-1"
	db := openDB(t)
	startSyncer(t, doorCfg, db, SyncOptions{})
	r := rand.New(rand.NewPCG(19, 20))
	rec, _ := NewPerson("Ada", []Template{fr512(r)}, nil)
	if _, err := admin.Put(ctx, priv, rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the door receives Ada under the ACL", func() bool { _, ok := personNamed(t, db, "Ada"); return ok })
	eventually(t, "the door's status is published under the ACL", func() bool {
		doors, err := admin.Doors(ctx)
		return err == nil && len(doors) == 1 && doors[0].Device == "door-1" && doors[0].People == 1
	})
	// The door's credentials cannot write the site's people or another
	// door's status (mosquitto acknowledges and drops the publish).
	door := dial(t, doorCfg)
	rogue, _ := NewPerson("Rogue", []Template{fr512(r)}, nil)
	rogue.Site = "hq"
	s, _ := Sign(priv, rogue)
	if err := door.Publish(ctx, rogue.UUID, s.Message); err != nil {
		t.Fatal(err)
	}
	if err := wait(ctx, door.client.Publish(door.topics.Door("door-2"), 1, true, []byte(`{"device":"door-2"}`)), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	recs, _, err := admin.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs[rogue.UUID]; ok || len(recs) != 1 {
		t.Errorf("a door's credentials published a person record: %d records", len(recs))
	}
	if doors, _ := admin.Doors(ctx); len(doors) != 1 {
		t.Errorf("a door's credentials published another door's status: %d doors", len(doors))
	}
}

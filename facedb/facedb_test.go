package facedb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/migrations"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "facegate.db")
	db, err := Open(context.Background(), path, "door-1")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenEmptyFileMigratesToNewest(t *testing.T) {
	db, path := openTemp(t)
	all, _ := migrations.All()
	v, err := db.SchemaVersion(context.Background())
	if err != nil || v != len(all) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(all))
	}
	if db.Backup != "" {
		t.Errorf("a new database got a backup %q", db.Backup)
	}
	var mode string
	db.sql.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk, sync int
	db.sql.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	db.sql.QueryRow("PRAGMA synchronous").Scan(&sync)
	if fk != 1 || sync != 2 {
		t.Errorf("foreign_keys=%d synchronous=%d, want 1 and 2 (FULL)", fk, sync)
	}
	db.Close()
	// Reopening an up-to-date file makes no backup.
	db2, err := Open(context.Background(), path, "door-1")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if db2.Backup != "" {
		t.Errorf("reopening made a backup %q", db2.Backup)
	}
}

func TestMigrateOlderFileKeepsDataAndBacksUp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	all, _ := migrations.All()
	if len(all) < 2 {
		t.Fatal("need at least two migrations for this test")
	}
	// Build a version-1 database as an older facegate would have left it.
	old := &DB{path: path}
	var err error
	old.sql, err = sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, old, all, 1); err != nil {
		t.Fatalf("migrate to 1: %v", err)
	}
	if _, err := old.sql.Exec("INSERT INTO people (name, enabled, created_at) VALUES ('Alice', 1, 1)"); err != nil {
		t.Fatal(err)
	}
	old.sql.Close()

	db, err := Open(ctx, path, "door-1")
	if err != nil {
		t.Fatalf("Open older file: %v", err)
	}
	defer db.Close()
	if db.Backup == "" {
		t.Fatal("no backup made before migrating an existing file")
	}
	if _, err := os.Stat(db.Backup); err != nil {
		t.Fatalf("backup missing: %v", err)
	}
	people, err := db.People(ctx)
	if err != nil || len(people) != 1 || people[0].Name != "Alice" {
		t.Fatalf("people after migration = %+v, %v", people, err)
	}
	if _, err := db.Record(ctx, Record{Kind: "event", Type: "door_opened"}); err != nil {
		t.Fatalf("new table unusable after migration: %v", err)
	}
	// The backup is the old schema with the old data.
	b, _ := sql.Open("sqlite3", "file:"+db.Backup+"?mode=ro")
	defer b.Close()
	var v int
	var name string
	b.QueryRow("PRAGMA user_version").Scan(&v)
	b.QueryRow("SELECT name FROM people").Scan(&name)
	if v != 1 || name != "Alice" {
		t.Errorf("backup has version %d, person %q; want 1, Alice", v, name)
	}
}

func TestRefusesNewerDatabaseUntouched(t *testing.T) {
	_, path := openTemp(t)
	s, _ := sql.Open("sqlite3", path)
	if _, err := s.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	_, err := Open(context.Background(), path, "door-1")
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open newer = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("error does not name the version: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("refused database file was modified")
	}
	matches, _ := filepath.Glob(path + ".*.bak")
	if len(matches) != 0 {
		t.Errorf("backups made for a refused file: %v", matches)
	}
}

func TestRefusesForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	s, _ := sql.Open("sqlite3", other)
	s.Exec("CREATE TABLE cats (name TEXT)")
	s.Close()
	if _, err := Open(context.Background(), other, "d"); !errors.Is(err, ErrForeign) {
		t.Fatalf("Open foreign = %v, want ErrForeign", err)
	}
	tagged := filepath.Join(dir, "tagged.db")
	s, _ = sql.Open("sqlite3", tagged)
	s.Exec("PRAGMA application_id = 1234")
	s.Close()
	if _, err := Open(context.Background(), tagged, "d"); !errors.Is(err, ErrForeign) {
		t.Fatalf("Open other application_id = %v, want ErrForeign", err)
	}
	notDB := filepath.Join(dir, "text.db")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o644)
	if _, err := Open(context.Background(), notDB, "d"); err == nil {
		t.Fatal("Open of a text file succeeded")
	}
}

func TestPeopleAndTemplates(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	rev0, _ := db.LibraryRevision(ctx)
	emb := []float32{0.6, 0.8, 0}
	p, err := db.AddPerson(ctx, "  Alice ", []Template{{Model: "fr512", Embedding: emb, Quality: 0.9, Thumbnail: []byte{0xff, 0xd8}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Alice" || !p.Enabled || p.Templates != 1 {
		t.Fatalf("AddPerson = %+v", p)
	}
	if _, err := db.AddPerson(ctx, "Bob", []Template{{Model: "", Embedding: emb}}); err == nil {
		t.Fatal("a template without model was accepted")
	}
	people, _ := db.People(ctx)
	if len(people) != 1 {
		t.Fatalf("failed AddPerson left a person behind: %+v", people)
	}
	if err := db.AddTemplates(ctx, p.ID, []Template{{Model: "sface", Embedding: []float32{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddTemplates(ctx, 999, []Template{{Model: "fr512", Embedding: emb}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddTemplates to missing person = %v", err)
	}
	ts, _ := db.Templates(ctx, "fr512")
	if len(ts) != 1 || ts[0].PersonID != p.ID || ts[0].Embedding[1] != 0.8 || ts[0].Thumbnail != nil {
		t.Fatalf("Templates(fr512) = %+v", ts)
	}
	if th, err := db.PersonThumbnail(ctx, p.ID); err != nil || len(th) != 2 {
		t.Fatalf("PersonThumbnail = %v, %v", th, err)
	}
	if rev, _ := db.LibraryRevision(ctx); rev <= rev0 {
		t.Errorf("library revision did not move: %d -> %d", rev0, rev)
	}

	now := time.Now()
	if err := db.SetEnabled(ctx, p.ID, false); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Person(ctx, p.ID)
	if ok, _ := got.MayEnter(now); ok {
		t.Error("disabled person is active")
	}
	db.SetEnabled(ctx, p.ID, true)
	if err := db.SetValidity(ctx, p.ID, now.Add(time.Hour), now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Person(ctx, p.ID)
	if ok, _ := got.MayEnter(now); ok || !mayEnter(got, now.Add(90*time.Minute)) || mayEnter(got, now.Add(3*time.Hour)) {
		t.Errorf("validity window not honoured: %+v", got)
	}
	if err := db.SetValidity(ctx, p.ID, now, now.Add(-time.Hour)); err == nil {
		t.Error("until before from accepted")
	}
	if err := db.DeletePerson(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.Templates(ctx, "fr512"); len(ts) != 0 {
		t.Errorf("templates survived their person: %+v", ts)
	}
	if _, err := db.PersonThumbnail(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("thumbnail survived its person: %v", err)
	}
	if err := db.DeletePerson(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
}

func TestRecordSeqOutboxAndRestart(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	r1, err := db.Record(ctx, Record{Kind: "event", Type: "access_granted", PersonID: 7, Name: "Alice", Score: 0.7812, Source: "face", Snapshot: "/x.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.Recorded():
	default:
		t.Error("Recorded not signalled")
	}
	r2, _ := db.Record(ctx, Record{Kind: "alarm", Type: "unknown_face", Detail: map[string]any{"faces": 1}})
	if r1.Seq != 1 || r2.Seq != 2 || r1.ID == r2.ID || r1.ID == "" {
		t.Fatalf("seq/id = %d %q, %d %q", r1.Seq, r1.ID, r2.Seq, r2.ID)
	}
	var p map[string]any
	if err := json.Unmarshal(r1.Payload(), &p); err != nil {
		t.Fatal(err)
	}
	if p["type"] != "access_granted" || p["person_id"].(float64) != 7 || p["name"] != "Alice" || p["score"].(float64) != 0.7812 || p["seq"].(float64) != 1 {
		t.Errorf("payload = %s", r1.Payload())
	}
	if _, err := time.Parse(event.TSFormat, p["ts"].(string)); err != nil || !strings.Contains(p["ts"].(string), ".") {
		t.Errorf("ts %q is not RFC 3339 with ms", p["ts"])
	}
	if _, err := db.Record(ctx, Record{Kind: "bogus", Type: "x"}); err == nil {
		t.Error("bogus kind accepted")
	}

	pend, _ := db.PendingOutbox(ctx, 10)
	if len(pend) != 2 || pend[0].Seq != 1 || pend[1].Kind != "alarm" || string(pend[0].Payload) != string(r1.Payload()) {
		t.Fatalf("pending = %+v", pend)
	}
	db.NoteAttempt(ctx, 1)
	db.MarkSent(ctx, 1)
	st, _ := db.OutboxStats(ctx)
	if st.Depth != 1 {
		t.Errorf("depth = %d, want 1", st.Depth)
	}
	if n, _ := db.PruneSent(ctx, -time.Second); n != 1 {
		t.Errorf("pruned %d sent rows, want 1", n)
	}
	evs, _ := db.Events(ctx, EventFilter{})
	if len(evs) != 2 || evs[0].Seq != 2 || evs[1].Snapshot != "/x.jpg" || evs[0].Detail["faces"].(float64) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	if a, _ := db.Events(ctx, EventFilter{Kind: "alarm"}); len(a) != 1 {
		t.Errorf("alarm filter gave %d", len(a))
	}
	if a, _ := db.Events(ctx, EventFilter{PersonID: 7}); len(a) != 1 || a[0].Name != "Alice" {
		t.Errorf("person filter gave %+v", a)
	}
	db.Close()

	// seq continues after a restart.
	db2, err := Open(ctx, path, "door-1")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	r3, _ := db2.Record(ctx, Record{Kind: "event", Type: "door_closed"})
	if r3.Seq != 3 {
		t.Errorf("seq after restart = %d, want 3", r3.Seq)
	}
}

func TestUsersNoncesAudit(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	if n, _ := db.UserCount(ctx); n != 0 {
		t.Fatal("users at start")
	}
	if _, err := db.UserHash(ctx, "admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user = %v", err)
	}
	db.SetUserPassword(ctx, "admin", "h1")
	db.SetUserPassword(ctx, "admin", "h2")
	if h, _ := db.UserHash(ctx, "admin"); h != "h2" {
		t.Errorf("hash = %q", h)
	}
	now := time.Now()
	if fresh, _ := db.UseNonce(ctx, "n1", now, 30*time.Second); !fresh {
		t.Error("first nonce not fresh")
	}
	if fresh, _ := db.UseNonce(ctx, "n1", now.Add(time.Second), 30*time.Second); fresh {
		t.Error("replayed nonce accepted")
	}
	db.Audit(ctx, AuditEntry{Actor: "web:admin", Action: "unlock", Target: "relay", OK: true})
	log, _ := db.AuditLog(ctx, 10)
	if len(log) != 1 || log[0].Actor != "web:admin" || !log[0].OK {
		t.Errorf("audit = %+v", log)
	}
}

// TestRecordCommittedAfterCancel: a decision recorded while the daemon stops
// (its context already cancelled) is committed, not rolled back.
func TestRecordCommittedAfterCancel(t *testing.T) {
	db, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := db.Record(ctx, Record{Kind: "event", Type: "access_granted", PersonID: 7, Name: "Ada", Score: 0.7})
	if err != nil {
		t.Fatalf("Record with a cancelled context: %v", err)
	}
	evs, err := db.Events(context.Background(), EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Seq != r.Seq || evs[0].Name != "Ada" {
		t.Fatalf("events after the cancelled Record = %+v", evs)
	}
	if p, err := db.PendingOutbox(context.Background(), 10); err != nil || len(p) != 1 {
		t.Fatalf("outbox after the cancelled Record = %v, %v", p, err)
	}
}

func TestPruneAuditAndNoncesByAge(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	now := time.Now()
	for i, age := range []time.Duration{400 * 24 * time.Hour, 2 * time.Hour, 0} {
		db.Audit(ctx, AuditEntry{TS: now.Add(-age), Actor: "mqtt", Action: fmt.Sprintf("cmd.%d", i), OK: true})
		if _, err := db.UseNonce(ctx, fmt.Sprintf("n%d", i), now.Add(-age), time.Hour*24*365*10); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.PruneAudit(ctx, now.Add(-365*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneAudit removed %d (%v), want the one entry older than a year", n, err)
	}
	if log, _ := db.AuditLog(ctx, 10); len(log) != 2 {
		t.Fatalf("audit entries left = %d, want 2", len(log))
	}
	if n, err := db.PruneNonces(ctx, now.Add(-time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneNonces removed %d (%v), want 2", n, err)
	}
	if fresh, _ := db.UseNonce(ctx, "n2", now, time.Minute); fresh {
		t.Fatal("the recent nonce was pruned")
	}
}

func mayEnter(p Person, t time.Time) bool { ok, _ := p.MayEnter(t); return ok }

// TestMayEnterSaysWhy is the one validity rule the camera loop, the web page
// and facegate people share: the reason is the access_denied event's.
func TestMayEnterSaysWhy(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		p      Person
		ok     bool
		why    string
		status string
	}{
		{Person{Enabled: true, Templates: 2}, true, "", "active"},
		{Person{Enabled: true}, true, "", "no_photos"},
		{Person{Enabled: false, Templates: 1, ValidFrom: now.Add(time.Hour)}, false, DenyDisabled, "disabled"},
		{Person{Enabled: true, Templates: 1, ValidFrom: now.Add(time.Minute)}, false, DenyNotYetValid, "not_yet_valid"},
		{Person{Enabled: true, Templates: 1, ValidFrom: now}, true, "", "active"},
		{Person{Enabled: true, Templates: 1, ValidUntil: now}, false, DenyExpired, "expired"},
		{Person{Enabled: true, Templates: 1, ValidUntil: now.Add(time.Second)}, true, "", "active"},
	} {
		ok, why := c.p.MayEnter(now)
		if ok != c.ok || why != c.why || c.p.Status(now) != c.status {
			t.Errorf("%+v at %v: MayEnter %v %q, Status %q; want %v %q, %q", c.p, now, ok, why, c.p.Status(now), c.ok, c.why, c.status)
		}
	}
}

// TestFullDiskKeepsRecords runs the database on a real 3 MB file system
// that fills up: the reserve file lets the next record through, later ones
// are queued in memory (health told), and once space is freed they are all
// written, in order, and the reserve is back.
func TestFullDiskKeepsRecords(t *testing.T) {
	ctx := context.Background()
	dir := testenv.SmallFS(t, 3<<20)
	db, err := Open(ctx, filepath.Join(dir, "facegate.db"), "door-1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fi, err := os.Stat(filepath.Join(dir, "facegate.db.reserve")); err != nil || fi.Size() != ReserveBytes {
		t.Fatalf("reserve file: %v, %v", fi, err)
	}
	type state struct {
		ok     bool
		detail string
	}
	states := make(chan state, 100)
	db.SetWriteStateHook(func(ok bool, detail string) { states <- state{ok, detail} })
	if s := <-states; !s.ok {
		t.Fatalf("initial write state %+v", s)
	}

	testenv.FillFS(t, filepath.Join(dir, "filler1"))
	var queued, written int
	for i := 0; i < 40; i++ {
		_, err := db.Record(ctx, Record{Kind: "event", Type: "access_granted", Name: fmt.Sprintf("p%d", i), Detail: map[string]any{"i": i}})
		switch {
		case err == nil:
			written++
		case errors.Is(err, ErrQueued):
			queued++
		default:
			t.Fatalf("record %d: %v", i, err)
		}
		if err := db.Audit(ctx, AuditEntry{Actor: "door", Action: "relay", Detail: fmt.Sprint(i), OK: true}); err != nil && !errors.Is(err, ErrQueued) {
			t.Fatalf("audit %d: %v", i, err)
		}
		if i == 5 { // the reserve let the first ones through; fill what it gave back
			testenv.FillFS(t, filepath.Join(dir, "filler2"))
		}
	}
	if written == 0 {
		t.Fatal("no record written on the full disk although the reserve was released")
	}
	if queued == 0 {
		t.Fatal("no record queued: the disk never filled up")
	}
	if s := <-states; s.ok || !strings.Contains(s.detail, "waiting to be written") {
		t.Fatalf("write state while records are queued = %+v", s)
	}
	if n, _ := db.WriteBacklog(); n == 0 {
		t.Fatal("write backlog 0 while records are queued")
	}

	os.Remove(filepath.Join(dir, "filler1"))
	os.Remove(filepath.Join(dir, "filler2"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := db.WriteBacklog(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("queued records not written 10 s after space was freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := <-states; !s.ok {
		t.Fatalf("write state after the queue drained = %+v", s)
	}
	evs, err := db.Events(ctx, EventFilter{Limit: 100})
	if err != nil || len(evs) != 40 {
		t.Fatalf("events after the disk-full episode = %d (%v), want all 40", len(evs), err)
	}
	for i, e := range evs { // newest first, seq order = the order recorded
		if want := fmt.Sprintf("p%d", 39-i); e.Name != want || e.Seq != int64(40-i) {
			t.Fatalf("event %d = %s seq %d, want %s seq %d", i, e.Name, e.Seq, want, 40-i)
		}
	}
	if log, _ := db.AuditLog(ctx, 100); len(log) != 40 {
		t.Fatalf("audit entries = %d, want 40", len(log))
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(filepath.Join(dir, "facegate.db.reserve")); err == nil && fi.Size() == ReserveBytes {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("ls", "-la", dir).CombinedOutput()
			df, _ := exec.Command("df", dir).CombinedOutput()
			t.Fatalf("reserve file not recreated after space was freed:\n%s\n%s", out, df)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

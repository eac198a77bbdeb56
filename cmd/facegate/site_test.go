package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/site"
)

// siteDoor is a real facegate daemon of site "hq" on one broker.
type siteDoor struct {
	t      *testing.T
	device string
	cfg    string
	dir    string
	cmd    *exec.Cmd
	out    *testenv.SyncBuffer
}

// siteConfig writes the configuration of a site machine: a door when
// frames is set, else the managing machine (no camera loop is run there).
func siteConfig(t *testing.T, device, broker, pubKey, frames string) (cfgPath, dir string) {
	dir = t.TempDir()
	if frames == "" {
		frames = dir
	}
	return writeConfig(t, dir, fmt.Sprintf(`
device_id = %q
data_dir = %q
models_dir = %q
log_level = "debug"
[camera]
source = "dir:%s"
fps = 4
[access]
cooldown_seconds = 0.5
stranger_alarm_seconds = 0
[mqtt]
broker = %q
keepalive_seconds = 5
[web]
listen = ""
[site]
name = "hq"
public_key_file = %q
`, device, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, broker, pubKey)), dir
}

func startSiteDoor(t *testing.T, device, broker, pubKey, frames string) *siteDoor {
	cfg, dir := siteConfig(t, device, broker, pubKey, frames)
	d := &siteDoor{t: t, device: device, cfg: cfg, dir: dir}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *siteDoor) start() {
	d.t.Helper()
	d.out = &testenv.SyncBuffer{}
	d.cmd = exec.Command(testenv.FacegateBinary(d.t), "run", "-config", d.cfg)
	d.cmd.Env = append(os.Environ(), "OPENCV_LOG_LEVEL=ERROR")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.waitFor("daemon running", func() bool { return strings.Contains(d.out.String(), "facegate running") })
}

func (d *siteDoor) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Errorf("%s exited with %v:\n%s", d.device, err, d.out.String())
		}
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
		d.t.Errorf("%s did not stop on SIGTERM", d.device)
	}
}

func (d *siteDoor) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: never happened: %s\n%s", d.device, what, d.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// events returns the door's events after seq, oldest first.
func (d *siteDoor) events(after float64) []map[string]any {
	d.t.Helper()
	out, errOut, err := visionRun(d.t, "events", "-config", d.cfg, "-limit", "200", "-json")
	if err != nil {
		d.t.Fatalf("events: %v %s", err, errOut)
	}
	var evs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["seq"].(float64) > after {
			evs = append([]map[string]any{e}, evs...)
		}
	}
	return evs
}

func (d *siteDoor) lastSeq() float64 {
	var s float64
	for _, e := range d.events(0) {
		s = math.Max(s, e["seq"].(float64))
	}
	return s
}

// awaitEvent waits for an event of typ for name after the door's current seq.
func (d *siteDoor) awaitEvent(typ, name string) {
	d.t.Helper()
	after := d.lastSeq()
	d.waitFor(typ+" "+name, func() bool {
		for _, e := range d.events(after) {
			if e["type"] == typ && (name == "" || e["name"] == name) {
				return true
			}
		}
		return false
	})
}

func (d *siteDoor) db() *facedb.DB {
	d.t.Helper()
	cfg, err := config.Load(d.cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { db.Close() })
	return db
}

func siteRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := visionRun(t, append([]string{"site"}, args...)...)
	if err != nil {
		t.Fatalf("facegate site %v: %v\n%s%s", args, err, out, errOut)
	}
	return out
}

var versionRe = regexp.MustCompile(`version (\d+)`)

func versionOf(t *testing.T, out string) int64 {
	m := versionRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no version in %q", out)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// TestSiteEnrolOnceRecognisedAtAnotherDoor: two brokers joined by a bridge,
// the site managed on broker A, door B on broker B playing real photos of
// the person (not the enrolled ones).
func TestSiteEnrolOnceRecognisedAtAnotherDoor(t *testing.T) {
	ctx := context.Background()
	brokerA, brokerB := testenv.StartBridgedPair(t, "facegate/#")
	keys := t.TempDir()
	siteRun(t, "init", "-dir", keys)
	pub, key := filepath.Join(keys, "site.pub"), filepath.Join(keys, "site.key")
	admin, _ := siteConfig(t, "admin", brokerA.URL, pub, "")

	frames := t.TempDir()
	for _, f := range []string{"img1.jpg", "img6.jpg", "img10.jpg"} {
		if err := os.Symlink(testenv.Face(t, "df01", f), filepath.Join(frames, f)); err != nil {
			t.Fatal(err)
		}
	}
	doorA := startSiteDoor(t, "door-a", brokerA.URL, pub, frames)
	doorB := startSiteDoor(t, "door-b", brokerB.URL, pub, frames)
	doorB.awaitEvent("unknown_face", "") // nobody enrolled yet: a stranger

	uuid := strings.TrimSpace(siteRun(t, "enrol", "-config", admin, "-key", key, "-name", "Alice",
		testenv.Face(t, "df01", "img2.jpg"), testenv.Face(t, "df01", "img4.jpg"), testenv.Face(t, "df01", "img5.jpg")))
	doorB.awaitEvent("access_granted", "Alice")
	doorA.awaitEvent("access_granted", "Alice") // enrolled once, recognised at both doors
	doorA.stop()                                // the rest is about the door behind the bridge
	// At the door the site's people are read-only.
	if _, e, err := visionRun(t, "people", "-config", doorB.cfg, "disable", "1"); err == nil || !strings.Contains(e+err.Error(), "facegate site disable") {
		t.Errorf("people disable of a site person at the door: %v %s, want a refusal naming facegate site", err, e)
	}
	if _, e, err := visionRun(t, "enrol", "-config", doorB.cfg, "-name", "Bob", testenv.Face(t, "df02", "img8.jpg")); err == nil || !strings.Contains(e+err.Error(), "facegate site enrol") {
		t.Errorf("enrol at a site door: %v %s, want a refusal naming facegate site enrol", err, e)
	}

	siteRun(t, "disable", "-config", admin, "-key", key, uuid)
	doorB.awaitEvent("access_denied", "Alice")

	// Door B is down while Alice is changed twice; it converges to the last version.
	doorB.stop()
	siteRun(t, "enable", "-config", admin, "-key", key, uuid)
	last := versionOf(t, siteRun(t, "enable", "-config", admin, "-key", key, uuid))
	doorB.start()
	doorB.awaitEvent("access_granted", "Alice")
	dbB := doorB.db()
	if st, _ := dbB.SiteStates(ctx); st[uuid].Version != last {
		t.Errorf("door B applied version %d, want the last one %d", st[uuid].Version, last)
	}
	status := siteRun(t, "status", "-config", admin)
	if !regexp.MustCompile(`(?m)^door-b\s+1\s+0\s+` + strconv.FormatInt(last, 10) + `\s+\S+\s+yes`).MatchString(status) {
		t.Errorf("site status does not show door-b in sync at version %d:\n%s", last, status)
	}

	// A forged record (another key) and a replayed older version change nothing.
	cfgA, err := config.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	a, err := site.Dial(ctx, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cur, err := a.Get(ctx, uuid)
	if err != nil {
		t.Fatal(err)
	}
	forgedKeys := t.TempDir()
	siteRun(t, "init", "-dir", forgedKeys)
	forger, err := site.LoadPrivateKey(filepath.Join(forgedKeys, "site.key"))
	if err != nil {
		t.Fatal(err)
	}
	fr := cur.Record
	fr.Enabled, fr.Version = false, cur.Version+1000
	forged, err := site.Sign(forger, fr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, uuid, forged.Message); err != nil {
		t.Fatal(err)
	}
	old := cur.Record
	old.Enabled, old.Version = false, cur.Version-1
	older, err := site.Sign(mustKey(t, key), old)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, uuid, older.Message); err != nil {
		t.Fatal(err)
	}
	audited := func(reason string) bool {
		log, _ := dbB.AuditLog(ctx, 100)
		for _, e := range log {
			if e.Action == "site_record" && !e.OK && e.Target == uuid && strings.HasPrefix(e.Detail, reason) {
				return true
			}
		}
		return false
	}
	doorB.waitFor("forged and replayed records audited", func() bool {
		return audited(site.ReasonBadSignature) && audited(site.ReasonStale)
	})
	doorB.awaitEvent("access_granted", "Alice")
	if st, _ := dbB.SiteStates(ctx); st[uuid].Version != last {
		t.Errorf("door B moved to version %d after a forged and a replayed record, want %d", st[uuid].Version, last)
	}
	// Put the genuine record back on the broker before deleting.
	if err := a.Publish(ctx, uuid, cur.Message); err != nil {
		t.Fatal(err)
	}

	siteRun(t, "delete", "-config", admin, "-key", key, uuid)
	doorB.awaitEvent("unknown_face", "")
	doorB.waitFor("Alice forgotten", func() bool { ps, _ := dbB.People(ctx); return len(ps) == 0 })
	list := siteRun(t, "list", "-config", admin)
	if !strings.Contains(list, uuid) || !strings.Contains(list, "deleted") {
		t.Errorf("site list does not show the tombstone:\n%s", list)
	}
}

func mustKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	k, err := site.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSiteNewDoorLoadsThousandPeopleOnce: 1,000 people replicate to a door
// that joins the site, and its gallery loads them in one reload.
func TestSiteNewDoorLoadsThousandPeopleOnce(t *testing.T) {
	ctx := context.Background()
	brokerA, brokerB := testenv.StartBridgedPair(t, "facegate/#")
	keys := t.TempDir()
	siteRun(t, "init", "-dir", keys)
	pub, key := filepath.Join(keys, "site.pub"), filepath.Join(keys, "site.key")
	admin, _ := siteConfig(t, "admin", brokerA.URL, pub, "")
	cfgA, err := config.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	a, err := site.Dial(ctx, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	priv := mustKey(t, key)
	r := rand.New(rand.NewPCG(1, 1000))
	for i := range 1000 {
		emb := make([]float32, 512)
		var n float64
		for j := range emb {
			emb[j] = float32(r.NormFloat64())
			n += float64(emb[j] * emb[j])
		}
		for j := range emb {
			emb[j] /= float32(math.Sqrt(n))
		}
		rec, err := site.NewPerson(fmt.Sprintf("Person %04d", i), []site.Template{{Model: "fr512", Embedding: site.Embedding(emb)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Put(ctx, priv, rec); err != nil {
			t.Fatal(err)
		}
	}
	frames := t.TempDir()
	if err := os.Symlink(testenv.Face(t, "_noface", "fruits.jpg"), filepath.Join(frames, "0001.jpg")); err != nil {
		t.Fatal(err)
	}
	door := startSiteDoor(t, "door-new", brokerB.URL, pub, frames)
	loaded := regexp.MustCompile(`face library loaded.*people=(\d+)`)
	door.waitFor("the library of 1,000 people loaded", func() bool {
		return strings.Contains(door.out.String(), "people=1000 ")
	})
	door.stop()
	var counts []string
	for _, m := range loaded.FindAllStringSubmatch(door.out.String(), -1) {
		if m[1] != "0" {
			counts = append(counts, m[1])
		}
	}
	if len(counts) != 1 || counts[0] != "1000" {
		t.Errorf("gallery loads with people: %v, want exactly one load of 1000\n%s", counts, bytes.TrimSpace([]byte(door.out.String())))
	}
}

// TestSiteEnrolNameRule: facegate site enrol applies the enrolment name
// rule before computing or publishing anything.
func TestSiteEnrolNameRule(t *testing.T) {
	keys := t.TempDir()
	siteRun(t, "init", "-dir", keys)
	admin, _ := siteConfig(t, "admin", "tcp://127.0.0.1:1", filepath.Join(keys, "site.pub"), "")
	_, _, err := visionRun(t, "site", "enrol", "-config", admin, "-key", filepath.Join(keys, "site.key"), "-name", "Ali\u200bce", testenv.Face(t, "df01", "img2.jpg"))
	if err == nil || !strings.Contains(err.Error(), "invisible character") {
		t.Fatalf("site enrol with a zero-width space in the name: %v", err)
	}
}

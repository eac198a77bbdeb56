package site

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

// siteKeys makes a site key pair in a temporary directory.
func siteKeys(t testing.TB) (ed25519.PrivateKey, string) {
	t.Helper()
	_, pubPath, err := InitKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return mustSiteKey(t, pubPath), pubPath
}

// mustSiteKey loads the private key beside the public key pubPath.
func mustSiteKey(t testing.TB, pubPath string) ed25519.PrivateKey {
	t.Helper()
	priv, err := LoadPrivateKey(filepath.Join(filepath.Dir(pubPath), PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// doorConfig is the configuration of a site door on broker url.
func doorConfig(t testing.TB, device, url, pubPath string) config.Config {
	cfg := config.Default()
	cfg.File = filepath.Join(t.TempDir(), "facegate.toml")
	cfg.DeviceID = device
	cfg.MQTT.Broker = url
	cfg.MQTT.KeepaliveSeconds = 5
	cfg.Site = config.Site{Name: "hq", PublicKeyFile: pubPath}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openDB(t testing.TB) *facedb.DB {
	t.Helper()
	db, err := facedb.Open(context.Background(), filepath.Join(t.TempDir(), "facegate.db"), "door")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLog() *slog.Logger {
	if os.Getenv("SITE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// unitVector is a random L2-normalised embedding of dims values.
func unitVector(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	var n float64
	for i := range v {
		v[i] = float32(r.NormFloat64())
		n += float64(v[i]) * float64(v[i])
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

func fr512(r *rand.Rand) Template {
	return Template{Model: "fr512", Embedding: Embedding(unitVector(r, 512)), Quality: 0.9}
}

// startSyncer runs a syncer until the test ends (or stop is called).
func startSyncer(t testing.TB, cfg config.Config, db *facedb.DB, o SyncOptions) (s *Syncer, stop func()) {
	t.Helper()
	s, err := NewSyncer(cfg, db, quietLog(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("syncer: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dial(t testing.TB, cfg config.Config) *Admin {
	t.Helper()
	a, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func personNamed(t testing.TB, db *facedb.DB, name string) (facedb.Person, bool) {
	t.Helper()
	ps, err := db.People(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return facedb.Person{}, false
}

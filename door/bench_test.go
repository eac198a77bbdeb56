package door

import (
	"context"
	"testing"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

// BenchmarkUnlockLock measures one Unlock plus one Lock (two relay writes,
// two audit entries queued) with a real facedb journal, against writing the
// same audit entry synchronously: the relay path must not pay for SQLite.
func BenchmarkUnlockLock(b *testing.B) {
	ctx := context.Background()
	cfg := testCfg()
	cfg.ContactPin, cfg.ExitPin = "", ""
	b.Run("door", func(b *testing.B) {
		db, err := facedb.Open(ctx, b.TempDir()+"/f.db", "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		c, err := New(cfg, &gpiotest.Pin{N: "GPIO17"}, nil, nil, db, clockwork.NewFakeClock(), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Unlock(ctx, 0, event.SourceFace, "bench"); err != nil {
				b.Fatal(err)
			}
			if err := c.Lock(ctx, event.SourceWeb, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		// SQLite writes far slower than this loop unlocks: b.N pairs queue
		// 2*b.N entries. Stop waiting for them; they fail fast once the
		// database is closed.
		b.ReportMetric(float64(c.rec.close(0))/float64(b.N), "queued/op")
		db.Close()
		<-c.rec.done // do not let the drain disturb the next benchmark
	})
	b.Run("sync-audit", func(b *testing.B) {
		db, err := facedb.Open(ctx, b.TempDir()+"/f.db", "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.ReportAllocs()
		for b.Loop() {
			for range 2 {
				if err := db.Audit(ctx, facedb.AuditEntry{Actor: "bench", Action: "unlock", Target: "relay", OK: true}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

package site

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// BenchmarkNewDoorConverges measures how long a new door takes to converge
// to a site of 1,000 and 10,000 people (3 fr512 templates each, no
// thumbnail): connect, receive the retained records, verify them and apply
// them. One op = one new door; the 300 ms settle wait is included. The
// broker runs with max_queued_messages 0: mosquitto's default (1000) drops
// retained messages beyond about 1,020 for one new subscriber
// (docs/install-pi.md, "Many doors").
func BenchmarkNewDoorConverges(b *testing.B) {
	for _, people := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("people=%d", people), func(b *testing.B) { benchNewDoor(b, people) })
	}
}

func benchNewDoor(b *testing.B, people int) {
	br := testenv.StartBroker(b, "max_queued_messages 0")
	priv, pubPath := siteKeys(b)
	admin := dial(b, doorConfig(b, "admin", br.URL, pubPath))
	recs := publishPeople(b, admin, priv, people)
	size := 0
	for _, r := range recs {
		size += len(r.Message)
	}
	cfg := doorConfig(b, "new-door", br.URL, pubPath)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := openDB(b)
		applied := make(chan int, 16)
		s, err := NewSyncer(cfg, db, quietLog(), SyncOptions{OnApplied: func(n int) { applied <- n }})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- s.Run(ctx) }()
		got := 0
		for got < people {
			select {
			case n := <-applied:
				got += n
			case <-time.After(2 * time.Minute):
				b.Fatalf("only %d of %d people applied", got, people)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/door")
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/float64(people), "bytes/record")
}

// BenchmarkChangeReachesDoor measures how long one change (a disable or
// enable, from its publication) takes to be applied at an online door, the
// 300 ms gathering of further changes included. (facegate site disable
// first reads the current record: add about 0.7 s for that.)
func BenchmarkChangeReachesDoor(b *testing.B) {
	ctx := context.Background()
	br := testenv.StartBroker(b)
	priv, pubPath := siteKeys(b)
	admin := dial(b, doorConfig(b, "admin", br.URL, pubPath))
	rec := publishPeople(b, admin, priv, 1)[0]
	applied := make(chan int, 16)
	startSyncer(b, doorConfig(b, "door", br.URL, pubPath), openDB(b), SyncOptions{OnApplied: func(n int) { applied <- n }})
	<-applied
	cur := rec.Record
	b.ResetTimer()
	for range b.N {
		cur.Enabled = !cur.Enabled
		cur.Version = NextVersion(cur.Version, time.Now())
		cur.UpdatedAt = time.Time{}
		if _, err := admin.Put(ctx, priv, cur); err != nil {
			b.Fatal(err)
		}
		select {
		case <-applied:
		case <-time.After(time.Minute):
			b.Fatal("the change never reached the door")
		}
	}
}

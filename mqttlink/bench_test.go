package mqttlink

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/testenv"
)

// BenchmarkOutboxThroughput measures how fast the link drains a backlog of
// b.N queued events to a local mosquitto: each op is one event published
// QoS1, acknowledged and marked sent in SQLite (synchronous=FULL).
// Reports events/s and the mean publish-to-PUBACK latency.
func BenchmarkOutboxThroughput(b *testing.B) {
	broker := testenv.StartBroker(b)
	db := openDB(b, "")
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if _, err := db.Record(ctx, facedb.Record{Kind: "event", Type: "unknown_face", Source: "face"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	r := startRig(b, testConfig(broker.URL, 30), db)
	for {
		st, err := db.OutboxStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Depth == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "facegate_mqtt_publish_ack_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			b.ReportMetric(1000*h.GetSampleSum()/float64(max(h.GetSampleCount(), 1)), "ack-ms-mean")
			b.ReportMetric(1000*quantile(h, 0.5), "ack-ms-p50")
		}
	}
}

// quantile estimates a quantile from histogram buckets (upper bound of the
// bucket that holds it).
func quantile(h *dto.Histogram, q float64) float64 {
	want := uint64(q * float64(h.GetSampleCount()))
	for _, bk := range h.GetBucket() {
		if bk.GetCumulativeCount() >= want {
			return bk.GetUpperBound()
		}
	}
	return 0
}

// BenchmarkSingleEventLatency measures one event on an idle link, from
// db.Record to the row marked sent after its PUBACK (the sender is woken by
// db.Recorded). Reports the mean publish-to-PUBACK part as ack-ms-mean.
func BenchmarkSingleEventLatency(b *testing.B) {
	broker := testenv.StartBroker(b)
	db := openDB(b, "")
	r := startRig(b, testConfig(broker.URL, 30), db)
	for !r.link.Status().Connected {
		time.Sleep(5 * time.Millisecond)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Record(ctx, facedb.Record{Kind: "event", Type: "unknown_face", Source: "face"}); err != nil {
			b.Fatal(err)
		}
		for {
			st, err := db.OutboxStats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if st.Depth == 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "facegate_mqtt_publish_ack_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			b.ReportMetric(1000*h.GetSampleSum()/float64(max(h.GetSampleCount(), 1)), "ack-ms-mean")
		}
	}
}

package mqttlink

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the link's Prometheus collectors (namespace facegate_mqtt_).
type metrics struct {
	connects     prometheus.Counter
	connectFails prometheus.Counter
	losses       *prometheus.CounterVec
	connected    prometheus.GaugeFunc
	outage       prometheus.GaugeFunc
	depth        prometheus.Gauge
	oldestAge    prometheus.Gauge
	published    prometheus.Counter
	delivered    prometheus.Counter
	awaitingEcho prometheus.Gauge
	unconfirmed  prometheus.Gauge
	parked       prometheus.Gauge
	ackLatency   prometheus.Histogram
	pings        prometheus.Counter
	commands     *prometheus.CounterVec
}

func newMetrics(l *Link) *metrics {
	const ns, sub = "facegate", "mqtt"
	return &metrics{
		connects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connects_total", Help: "Successful connections to the broker."}),
		connectFails: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connect_failures_total", Help: "Connection attempts that failed."}),
		losses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connection_losses_total", Help: "Established connections lost, by reason."}, []string{"reason"}),
		connected: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connected", Help: "1 while the connection to the broker is open."}, func() float64 {
			if l.Status().Connected {
				return 1
			}
			return 0
		}),
		outage: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outage_seconds", Help: "Length of the current outage (0 while connected)."}, func() float64 {
			return l.Status().Outage.Seconds()
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_depth", Help: "Events and alarms not yet acknowledged by the broker."}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_oldest_age_seconds", Help: "Age of the oldest unacknowledged outbox message (0 when empty)."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_published_total", Help: "Outbox messages acknowledged by the broker (PUBACK)."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_delivered_total", Help: "Outbox messages delivered: seen back on the device's own subscription (or acknowledged, with confirm_delivery off)."}),
		awaitingEcho: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_awaiting_echo", Help: "Messages acknowledged by the broker and not yet seen back."}),
		unconfirmed: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_unconfirmed", Help: "Messages acknowledged but not seen back within mqtt.echo_timeout_seconds (delivery_unconfirmed)."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_parked", Help: "Messages parked after repeated refusals (outbox_blocked), retried every 10 minutes."}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_ack_seconds", Help: "Time from publishing an outbox message to its PUBACK.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		pings: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "keepalive_pings_total", Help: "PINGREQs injected by the link to keep within the keep-alive."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commands_total", Help: "Remote commands by name and result (ok, failed, or the rejection reason)."}, []string{"command", "result"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.connects, m.connectFails, m.losses, m.connected, m.outage,
		m.depth, m.oldestAge, m.published, m.delivered, m.awaitingEcho, m.unconfirmed, m.parked, m.ackLatency, m.pings, m.commands} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mqttlink: register metrics: %w", err)
	}
	return nil
}

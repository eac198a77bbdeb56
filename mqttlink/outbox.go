package mqttlink

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/facedb"
)

// Outbox sender parameters.
const (
	outboxBatch    = 100              // rows read and published per round
	outboxPoll     = time.Second      // poll for rows written by other processes
	statsEvery     = time.Second      // refresh of depth/age metrics and limit checks
	pruneEvery     = time.Hour        // removal of acknowledged outbox rows
	pruneKeep      = 24 * time.Hour   // acknowledged rows are kept this long
	retryMax       = 30 * time.Second // cap of the retry back-off while connected
	typeBacklog    = "outbox_backlog"
	kindAlarm      = "alarm"
	kindEvent      = "event"
	errNoAckPrefix = "no PUBACK"
)

// errNoAck is returned when a publish is not acknowledged in time.
var errNoAck = errors.New("mqttlink: " + errNoAckPrefix)

// ackTimeout is how long the sender waits for one PUBACK before it declares
// the connection broken: a healthy broker acks within milliseconds, and the
// keep-alive closes a dead link well within this time anyway.
func (l *Link) ackTimeout() time.Duration {
	m := l.cfg.MQTT
	return time.Duration(m.WriteTimeoutSeconds+m.PingTimeoutSeconds+max(m.KeepaliveSeconds, 10)) * time.Second
}

// sendLoop is the single outbox sender: it publishes unsent rows QoS1 in seq
// order and marks each sent only when its PUBACK arrived. A failure stops
// the round; the next round starts again from the lowest unsent seq, so a
// consumer may see duplicates but never a gap.
func (l *Link) sendLoop(ctx context.Context) {
	poll := time.NewTicker(outboxPoll)
	defer poll.Stop()
	var lastStats, lastPrune time.Time
	retry := time.Duration(0)
	for {
		if time.Since(lastStats) >= statsEvery {
			l.checkOutbox(ctx)
			lastStats = time.Now()
		}
		if time.Since(lastPrune) >= pruneEvery {
			if n, err := l.db.PruneSent(ctx, pruneKeep); err != nil {
				l.log.Warn("mqtt outbox prune", "err", err)
			} else if n > 0 {
				l.log.Debug("mqtt outbox pruned", "rows", n)
			}
			lastPrune = time.Now()
		}
		if !l.isUp() {
			// Down: keep the depth/age figures and the limits current.
			select {
			case <-ctx.Done():
				return
			case <-l.upChan():
			case <-poll.C:
			}
			continue
		}
		msgs, err := l.db.PendingOutbox(ctx, outboxBatch)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Error("mqtt outbox read", "err", err)
			msgs = nil
		}
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-l.db.Recorded():
			case <-poll.C:
			}
			continue
		}
		if err := l.publishBatch(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return
			}
			retry = min(max(2*retry, 250*time.Millisecond), retryMax)
			l.log.Warn("mqtt outbox publish failed; will retry", "err", err, "in", retry)
			l.checkOutbox(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			continue
		}
		retry = 0
	}
}

type inflight struct {
	msg facedb.OutboxMsg
	tok mqtt.Token
	at  time.Time
}

// publishBatch publishes msgs in order, then collects their PUBACKs in order.
func (l *Link) publishBatch(ctx context.Context, msgs []facedb.OutboxMsg) error {
	conn := l.currentConn()
	fl := make([]inflight, 0, len(msgs))
	for _, m := range msgs {
		topic := l.topics.events
		if m.Kind == kindAlarm {
			topic = l.topics.alarms
		}
		fl = append(fl, inflight{msg: m, tok: l.client.Publish(topic, 1, false, m.Payload), at: time.Now()})
	}
	// Collect the PUBACKs first (so the latency is publish-to-ack, not
	// inflated by database writes), then mark the acknowledged prefix sent.
	timeout := l.ackTimeout()
	acked := 0
	var failure error
	for _, f := range fl {
		if failure = waitToken(ctx, f.tok, timeout); failure != nil {
			break
		}
		l.m.ackLatency.Observe(time.Since(f.at).Seconds())
		acked++
	}
	for _, f := range fl[:acked] {
		// MarkSent must not be lost to shutdown: the PUBACK arrived.
		if err := l.db.MarkSent(context.WithoutCancel(ctx), f.msg.Seq); err != nil {
			return fmt.Errorf("mqttlink: mark seq %d sent: %w", f.msg.Seq, err)
		}
		l.m.published.Inc()
	}
	if failure == nil {
		return nil
	}
	f := fl[acked]
	if err := l.db.NoteAttempt(context.WithoutCancel(ctx), f.msg.Seq); err != nil {
		l.log.Warn("mqtt outbox note attempt", "seq", f.msg.Seq, "err", err)
	}
	if errors.Is(failure, errNoAck) && conn != nil && conn == l.currentConn() {
		// Connected but unacknowledged for this long: treat the link as
		// broken and start over on a fresh connection (never a newer one).
		conn.dead("ack_timeout")
	}
	return fmt.Errorf("mqttlink: publish seq %d: %w", f.msg.Seq, failure)
}

func waitToken(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("%w within %s", errNoAck, timeout)
	}
}

// checkOutbox refreshes the depth/age figures and raises the outbox_backlog
// alarm once when a limit is reached (cleared below 90% of both limits).
// Rows are never dropped: the limits bound how long the backlog may grow
// unnoticed, not what is kept.
func (l *Link) checkOutbox(ctx context.Context) {
	st, err := l.db.OutboxStats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("mqtt outbox stats", "err", err)
		}
		return
	}
	age := time.Duration(0)
	if st.Depth > 0 && !st.Oldest.IsZero() {
		age = time.Since(st.Oldest)
	}
	l.m.depth.Set(float64(st.Depth))
	l.m.oldestAge.Set(age.Seconds())
	maxRows := l.cfg.MQTT.OutboxMaxRows
	maxAge := time.Duration(l.cfg.MQTT.OutboxMaxAgeHours * float64(time.Hour))
	over := st.Depth >= maxRows || age >= maxAge
	under := st.Depth < maxRows*9/10 && age < maxAge*9/10

	l.mu.Lock()
	l.outbox = st
	raise := over && !l.backlog
	if raise {
		l.backlog = true
	} else if l.backlog && under {
		l.backlog = false
	}
	l.mu.Unlock()
	if !raise {
		return
	}
	l.log.Error("mqtt outbox backlog limit reached", "depth", st.Depth, "oldest_age", age.Round(time.Second),
		"max_rows", maxRows, "max_age", maxAge)
	if _, err := l.db.Record(context.WithoutCancel(ctx), facedb.Record{
		Kind: kindAlarm, Type: typeBacklog, Source: "system",
		Reason: fmt.Sprintf("outbox holds %d unsent messages, oldest %s old", st.Depth, age.Round(time.Second)),
		Detail: map[string]any{"depth": st.Depth, "oldest_age_s": int64(age.Seconds()), "max_rows": maxRows, "max_age_h": l.cfg.MQTT.OutboxMaxAgeHours},
	}); err != nil {
		l.log.Error("mqtt outbox backlog alarm", "err", err)
	}
}

package mqttlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/event"
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
	parkAfter      = 5                // failures as the first unacknowledged row before it is parked
	parkRetry      = 10 * time.Minute // a parked row is tried again this often
	echoBatch      = 200              // echoes marked delivered per transaction
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
	var lastConn *keepAliveConn
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
		if conn := l.currentConn(); l.confirm && conn != lastConn {
			// Publish only once the echo subscription of this connection
			// is confirmed; rows acknowledged on an earlier connection may
			// have lost their echo with it: publish them again.
			if l.subscribedConn() != conn {
				select {
				case <-ctx.Done():
					return
				case <-l.subKick:
				case <-poll.C:
				}
				continue
			}
			if n, err := l.db.RequeueAcked(context.WithoutCancel(ctx)); err != nil {
				l.log.Warn("mqtt outbox requeue", "err", err)
				continue
			} else if n > 0 {
				l.log.Info("mqtt outbox: publishing again rows acknowledged but not seen back before the reconnect", "rows", n)
			}
			lastConn = conn
		}
		msgs, err := l.db.PendingOutbox(ctx, l.batchSize())
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
	c := l.cli()
	for _, m := range msgs {
		topic := l.topics.events
		if m.Kind == event.KindAlarm {
			topic = l.topics.alarms
		}
		if err := l.wait(ctx); err != nil {
			break // the rows not published stay unsent
		}
		fl = append(fl, inflight{msg: m, tok: c.Publish(topic, 1, false, l.platformEvent(m.Payload)), at: time.Now()})
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
	if l.confirm {
		// Acknowledged only: delivered when the echo comes back (echoLoop).
		seqs := make([]int64, acked)
		for i, f := range fl[:acked] {
			seqs[i] = f.msg.Seq
		}
		if err := l.db.MarkAcked(ctx, seqs); err != nil {
			return fmt.Errorf("mqttlink: %w", err)
		}
		l.m.published.Add(float64(acked))
	} else {
		for _, f := range fl[:acked] {
			// MarkSent must not be lost to shutdown: the PUBACK arrived.
			if err := l.db.MarkSent(context.WithoutCancel(ctx), f.msg.Seq); err != nil {
				return fmt.Errorf("mqttlink: mark seq %d sent: %w", f.msg.Seq, err)
			}
			l.m.published.Inc()
			l.m.delivered.Inc()
		}
	}
	if failure == nil {
		return nil
	}
	f := fl[acked]
	l.noteFailure(ctx, f.msg, failure)
	if errors.Is(failure, errNoAck) && conn != nil && conn == l.currentConn() {
		// Connected but unacknowledged for this long: treat the link as
		// broken and start over on a fresh connection (never a newer one).
		conn.dead("ack_timeout")
	}
	return fmt.Errorf("mqttlink: publish seq %d: %w", f.msg.Seq, failure)
}

// noteFailure counts a failed publish of the first unacknowledged row and
// parks the row once it failed parkAfter times: a broker that drops the
// connection on a publish its ACL denies would otherwise have the sender
// retry that lowest seq forever while every row behind it waits. A parked
// row is kept and tried again every parkRetry; consumers see the gap in seq
// and the outbox_blocked alarm names the seq.
func (l *Link) noteFailure(ctx context.Context, m facedb.OutboxMsg, failure error) {
	ctx = context.WithoutCancel(ctx)
	n, err := l.db.NoteFailure(ctx, m.Seq)
	if err != nil {
		l.log.Warn("mqtt outbox note failure", "seq", m.Seq, "err", err)
		return
	}
	if n < parkAfter {
		return
	}
	first, err := l.db.Park(ctx, m.Seq, time.Now().Add(parkRetry))
	if err != nil {
		l.log.Error("mqtt outbox park", "seq", m.Seq, "err", err)
		return
	}
	l.log.Error("mqtt outbox row parked after repeated failures; the rows behind it flow", "seq", m.Seq,
		"failures", n, "retry_in", parkRetry, "err", failure)
	if !first {
		return
	}
	if _, err := l.db.Record(ctx, facedb.Record{
		Kind: event.KindAlarm, Type: event.OutboxBlocked, Source: event.SourceSystem,
		Reason: fmt.Sprintf("seq %d failed %d times (%v); parked and retried every %s, later rows are sent", m.Seq, n, failure, parkRetry),
		Detail: map[string]any{"seq": m.Seq, "failures": n, "kind": m.Kind, "retry_s": int64(parkRetry.Seconds())},
	}); err != nil {
		l.log.Error("mqtt outbox_blocked alarm", "err", err)
	}
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
	l.checkDelivery(ctx)
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
		Kind: event.KindAlarm, Type: event.OutboxBacklog, Source: event.SourceSystem,
		Reason: fmt.Sprintf("outbox holds %d unsent messages, oldest %s old", st.Depth, age.Round(time.Second)),
		Detail: map[string]any{"depth": st.Depth, "oldest_age_s": int64(age.Seconds()), "max_rows": maxRows, "max_age_h": l.cfg.MQTT.OutboxMaxAgeHours},
	}); err != nil {
		l.log.Error("mqtt outbox backlog alarm", "err", err)
	}
}

// checkDelivery flags rows acknowledged but not seen back within the echo
// timeout, raises delivery_unconfirmed once per episode (re-armed when no
// row is unconfirmed any more), and reports the delivery state in metrics
// and the health tracker's "delivery" component.
func (l *Link) checkDelivery(ctx context.Context) {
	var flagged []int64
	if l.confirm {
		timeout := time.Duration(l.cfg.MQTT.EchoTimeoutSeconds) * time.Second
		var err error
		if flagged, err = l.db.FlagUnconfirmed(ctx, time.Now().Add(-timeout)); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("mqtt delivery check", "err", err)
			}
			return
		}
	}
	ds, err := l.db.DeliveryStats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("mqtt delivery check", "err", err)
		}
		return
	}
	l.m.awaitingEcho.Set(float64(ds.Acked))
	l.m.unconfirmed.Set(float64(ds.Unconfirmed))
	l.m.parked.Set(float64(ds.Parked))

	l.mu.Lock()
	l.delivery = ds
	raise := len(flagged) > 0 && !l.unconfirmed
	if raise {
		l.unconfirmed = true
	} else if ds.Unconfirmed == 0 {
		l.unconfirmed = false
	}
	subProblem := l.subProblem
	l.mu.Unlock()
	l.setDeliveryHealth(ds, subProblem)
	if !raise {
		return
	}
	seen := l.echoesSeen.Load()
	why := "the broker acknowledged them (PUBACK) but they never came back on the device's own subscription: an ACL may deny publishing them"
	if seen == 0 {
		why = "no message at all came back on the device's own subscription: the broker may deny that subscription (set mqtt.confirm_delivery = false if the platform forbids it)"
	}
	if subProblem != "" {
		why = subProblem
	}
	shown := flagged[:min(len(flagged), 20)]
	l.log.Error("mqtt delivery unconfirmed", "seqs", shown, "rows", len(flagged), "why", why)
	if _, err := l.db.Record(context.WithoutCancel(ctx), facedb.Record{
		Kind: event.KindAlarm, Type: event.DeliveryUnconfirmed, Source: event.SourceSystem,
		Reason: fmt.Sprintf("%d messages not seen back within %d s (seq %v): %s", len(flagged), l.cfg.MQTT.EchoTimeoutSeconds, shown, why),
		Detail: map[string]any{"seqs": shown, "rows": len(flagged), "echo_timeout_s": l.cfg.MQTT.EchoTimeoutSeconds, "echoes_seen": seen},
	}); err != nil {
		l.log.Error("mqtt delivery_unconfirmed alarm", "err", err)
	}
}

// deliveryHealth is the health tracker component of end-to-end delivery.
const deliveryHealth = "delivery"

func (l *Link) setDeliveryHealth(ds facedb.DeliveryStats, subProblem string) {
	if l.health == nil {
		return
	}
	var bad []string
	if subProblem != "" {
		bad = append(bad, subProblem)
	}
	if ds.Unconfirmed > 0 {
		bad = append(bad, fmt.Sprintf("%d messages acknowledged but never seen back (delivery_unconfirmed)", ds.Unconfirmed))
	}
	if ds.Parked > 0 {
		bad = append(bad, fmt.Sprintf("%d messages parked after repeated refusals, seq %v (outbox_blocked)", ds.Parked, ds.ParkedSeqs))
	}
	if len(bad) == 0 {
		detail := "messages confirmed by their echo"
		if !l.confirm {
			detail = "messages confirmed by PUBACK only (mqtt.confirm_delivery = false, or a profile that forbids the echo subscription)"
		}
		l.health.Set(deliveryHealth, true, detail)
		return
	}
	l.health.Set(deliveryHealth, false, strings.Join(bad, "; "))
}

// echoLoop marks the messages seen back on the device's own subscription
// delivered, in batches.
func (l *Link) echoLoop(ctx context.Context) {
	for {
		var batch []facedb.Echo
		select {
		case <-ctx.Done():
			return
		case e := <-l.echoes:
			batch = append(batch, e)
		}
	more:
		for len(batch) < echoBatch {
			select {
			case e := <-l.echoes:
				batch = append(batch, e)
			default:
				break more
			}
		}
		n, err := l.db.MarkDelivered(ctx, batch)
		if err != nil {
			l.log.Error("mqtt outbox: marking echoed messages delivered", "err", err)
			continue
		}
		l.m.delivered.Add(float64(n))
	}
}

// onEcho takes one of the device's own events or alarms seen back from the
// broker (paho's handler goroutine: it never blocks; an echo dropped here
// leaves its row acknowledged, published again after the next reconnect).
func (l *Link) onEcho(payload []byte) {
	var ev struct {
		Seq int64 `json:"seq"`
	}
	if json.Unmarshal(payload, &ev) != nil || ev.Seq <= 0 {
		return
	}
	l.echoesSeen.Add(1)
	select {
	case l.echoes <- facedb.Echo{Seq: ev.Seq, Payload: append([]byte(nil), payload...)}:
	default:
		l.log.Warn("mqtt echo dropped: too many waiting", "seq", ev.Seq)
	}
}

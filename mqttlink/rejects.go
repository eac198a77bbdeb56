package mqttlink

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/facegate/facegate/event"
	"github.com/facegate/facegate/facedb"
)

// rejectWindow is the summary period of refused commands: at most one
// command_rejected record (and audit entry) per reason per window, carrying
// the count, so a flood from anyone who can publish to the broker costs
// counters, not rows.
const rejectWindow = time.Minute

// rejection is one refused command.
type rejection struct {
	name, requestID, reason, detail string
	respond                         string // platform command: its response topic (cmdRef)
}

// rejectSummary accumulates the rejections of one reason since its last record.
type rejectSummary struct {
	count        int64
	first        time.Time // first rejection counted in count
	recorded     time.Time // last record written
	command, rid string    // the latest rejected command and request id
	detail       string
}

// rejects is the per-reason summary and the queue of ok:false replies.
type rejects struct {
	window  time.Duration
	mu      sync.Mutex
	sums    map[string]*rejectSummary
	replies chan rejection // ok:false replies, published by rejectLoop
	kick    chan struct{}
}

func newRejects(window time.Duration) rejects {
	return rejects{window: window, sums: map[string]*rejectSummary{},
		replies: make(chan rejection, 64), kick: make(chan struct{}, 1)}
}

// rejected counts a refused command and queues its ok:false reply. It never
// blocks or touches the database (it runs on paho's handler goroutine): when
// replies back up, the reply to junk is dropped; the count is kept.
func (l *Link) rejected(r rejection) {
	l.m.commands.WithLabelValues(metricName(r.name), r.reason).Inc()
	l.log.Debug("mqtt command rejected", "command", r.name, "request_id", r.requestID, "reason", r.reason, "detail", r.detail)
	rj := &l.rejects
	now := time.Now()
	rj.mu.Lock()
	s := rj.sums[r.reason]
	if s == nil {
		s = &rejectSummary{}
		rj.sums[r.reason] = s
	}
	if s.count == 0 {
		s.first = now
	}
	s.count++
	s.command, s.rid, s.detail = r.name, r.requestID, r.detail
	due := now.Sub(s.recorded) >= rj.window
	rj.mu.Unlock()
	if due {
		kick(rj.kick)
	}
	select {
	case rj.replies <- r:
	default:
	}
}

// rejectLoop publishes the ok:false replies and writes the summaries: the
// first rejection of a reason is recorded at once, later ones within the
// window are added up and recorded when it ends (and when the link stops).
func (l *Link) rejectLoop(ctx context.Context) {
	rj := &l.rejects
	tick := time.NewTicker(min(time.Second, rj.window/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flushRejects(ctx, true)
			return
		case r := <-rj.replies:
			if r.respond != "" {
				// A platform command: the platform authenticated its
				// sender (and bounds its rate), so each refusal has its
				// own audit entry besides the summary.
				l.audit(ctx, r.name, r.requestID, false, r.reason+": "+r.detail)
			}
			l.reply(cmdRef{name: r.name, requestID: r.requestID, respond: r.respond}, Reply{RequestID: r.requestID, OK: false, Error: r.reason})
		case <-rj.kick:
			l.flushRejects(ctx, false)
		case <-tick.C:
			l.flushRejects(ctx, false)
		}
	}
}

// flushRejects records one command_rejected event and one audit entry per
// reason whose window is over (every pending one when all is set).
func (l *Link) flushRejects(ctx context.Context, all bool) {
	rj := &l.rejects
	type due struct {
		reason string
		s      rejectSummary
	}
	var out []due
	now := time.Now()
	rj.mu.Lock()
	for reason, s := range rj.sums {
		if s.count > 0 && (all || now.Sub(s.recorded) >= rj.window) {
			out = append(out, due{reason, *s})
			s.count, s.recorded = 0, now
		}
	}
	rj.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].reason < out[j].reason })
	for _, d := range out {
		l.log.Warn("mqtt commands rejected", "reason", d.reason, "count", d.s.count, "since", d.s.first.UTC().Format(time.RFC3339),
			"last_command", d.s.command, "last_request_id", d.s.rid, "last_detail", d.s.detail)
		l.record(ctx, facedb.Record{Kind: event.KindEvent, Type: event.CommandRejected, Reason: d.reason, Source: event.SourceRemote,
			Detail: map[string]any{"command": d.s.command, "request_id": d.s.rid, "count": d.s.count,
				"first_ts": event.Stamp(d.s.first)}})
		l.audit(ctx, d.s.command, d.s.rid, false, fmt.Sprintf("%s: %d rejected since %s, last: %s",
			d.reason, d.s.count, d.s.first.UTC().Format(time.RFC3339), d.s.detail))
	}
}

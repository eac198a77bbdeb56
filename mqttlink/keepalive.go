package mqttlink

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pingreq is the whole MQTT 3.1.1 PINGREQ packet.
var pingreq = []byte{0xC0, 0x00}

// Loss reasons reported by the keep-alive connection and the link metrics.
const (
	reasonPingTimeout  = "ping_timeout"
	reasonWriteTimeout = "write_timeout"
	reasonClosed       = "closed_by_broker"
	reasonNetwork      = "network_error"
	reasonShutdown     = "shutdown"
)

// keepAlivePlan is when the keep-alive connection pings and checks.
type keepAlivePlan struct {
	keepAlive   time.Duration // K as sent in CONNECT; 0 disables everything
	pingTimeout time.Duration // no byte received this long after a PINGREQ = dead link
	idle        time.Duration // send a PINGREQ after this long without a write (or read)
	tick        time.Duration // how often the idle time is checked
}

// planKeepAlive derives the ping schedule for keep-alive k: a PINGREQ goes
// out once nothing was written for k - min(k/4, 5 s), checked every quarter
// of that margin, so the longest silence is k - 3/4*margin: always below k,
// with room for timer and scheduling delays. k = 12 s: ping after 9 s of
// silence, check every 750 ms, longest silence 9.75 s (paho alone: 15 s).
func planKeepAlive(k, pingTimeout time.Duration) keepAlivePlan {
	if k <= 0 {
		return keepAlivePlan{}
	}
	margin := min(k/4, 5*time.Second)
	return keepAlivePlan{keepAlive: k, pingTimeout: pingTimeout, idle: k - margin, tick: margin / 4}
}

// keepAliveConn wraps the connection paho uses so that the client never stays
// silent for the whole keep-alive (MQTT 3.1.1 section 3.1.2.10): paho v1.5.1
// checks only every 5 s (K/4 when K <= 10 s) and pings only once K has
// already passed. The wrapper knows the time of every write and read, injects
// a PINGREQ when the link has been idle close to K, and closes the connection
// when nothing at all arrives within the ping timeout after such a PINGREQ
// (the broker answers with PINGRESP, which paho accepts unsolicited).
// paho's own pinger keeps running as a second line of defence.
type keepAliveConn struct {
	net.Conn
	plan   keepAlivePlan
	onDead func(reason string)
	pings  func() // counts injected PINGREQs (metrics); may be nil

	wmu       sync.Mutex // serialises writes: paho's writer, paho's pinger and ours
	lastWrite atomic.Int64
	lastRead  atomic.Int64
	pingSent  atomic.Int64 // unix nanos of our outstanding PINGREQ, 0 if none
	started   atomic.Bool  // CONNACK seen: injection allowed
	head      [4]byte      // the first bytes read: the CONNACK (reader goroutine only)
	headN     int
	connackRC atomic.Int32 // CONNACK return code, -1 until all four bytes were read
	reason    atomic.Value // string: why we closed the connection
	done      chan struct{}
	closeOnce sync.Once
}

func newKeepAliveConn(c net.Conn, plan keepAlivePlan, onDead func(string), pings func()) *keepAliveConn {
	k := &keepAliveConn{Conn: c, plan: plan, onDead: onDead, pings: pings, done: make(chan struct{})}
	k.connackRC.Store(-1)
	now := time.Now().UnixNano()
	k.lastWrite.Store(now)
	k.lastRead.Store(now)
	if plan.keepAlive > 0 {
		go k.watch()
	}
	return k
}

func (k *keepAliveConn) Write(p []byte) (int, error) {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	n, err := k.Conn.Write(p)
	if n > 0 {
		k.lastWrite.Store(time.Now().UnixNano())
	}
	return n, err
}

func (k *keepAliveConn) Read(p []byte) (int, error) {
	if r := k.Reason(); r != "" {
		return 0, &deadError{reason: r}
	}
	n, err := k.Conn.Read(p)
	if r := k.Reason(); r != "" && err != nil {
		return n, &deadError{reason: r}
	}
	if n > 0 {
		k.lastRead.Store(time.Now().UnixNano())
		k.pingSent.Store(0)
		k.started.Store(true) // the first bytes read are the CONNACK
		if k.headN < len(k.head) {
			k.headN += copy(k.head[k.headN:], p[:n])
			if k.headN == len(k.head) && k.head[0] == 0x20 && k.head[1] == 0x02 {
				k.connackRC.Store(int32(k.head[3]))
			}
		}
	}
	return n, err
}

// ConnackCode is the return code of the CONNACK read on this connection, -1
// when none was read (yet). paho v1.5.1 maps codes it does not know (MQTT 5
// reason codes 0x80 and up, e.g. 0x9A "retain not supported") to a nil
// error, so the link checks the code itself.
func (k *keepAliveConn) ConnackCode() int {
	return int(k.connackRC.Load())
}

func (k *keepAliveConn) Close() error {
	k.closeOnce.Do(func() { close(k.done) })
	return k.Conn.Close()
}

// Reason is why the wrapper closed the connection, "" if it did not.
func (k *keepAliveConn) Reason() string {
	r, _ := k.reason.Load().(string)
	return r
}

func (k *keepAliveConn) watch() {
	t := time.NewTicker(k.plan.tick)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case now := <-t.C:
			if !k.started.Load() {
				continue
			}
			nowN := now.UnixNano()
			sent := k.pingSent.Load()
			if sent != 0 && time.Duration(nowN-sent) >= k.plan.pingTimeout {
				k.dead(reasonPingTimeout)
				return
			}
			// Nothing received for K + ping timeout although we keep
			// pinging (or could not, because a write is stuck): dead.
			if time.Duration(nowN-k.lastRead.Load()) >= k.plan.keepAlive+k.plan.pingTimeout {
				k.dead(reasonPingTimeout)
				return
			}
			// While a PINGRESP is awaited only our own silence counts:
			// another PINGREQ goes out once nothing was written for idle,
			// so a ping timeout longer than K never silences the client
			// for K (the broker would drop it at 1.5 K and fire the will).
			sinceWrite := time.Duration(nowN - k.lastWrite.Load())
			if sinceWrite < k.plan.idle && (sent != 0 || time.Duration(nowN-k.lastRead.Load()) < k.plan.idle) {
				continue
			}
			// A write in progress means the link is not idle; never block
			// behind it (a stuck write is ended by paho's WriteTimeout).
			if !k.wmu.TryLock() {
				continue
			}
			if sent == 0 {
				k.pingSent.Store(time.Now().UnixNano())
			}
			_, err := k.Conn.Write(pingreq)
			if err == nil {
				k.lastWrite.Store(time.Now().UnixNano())
			}
			k.wmu.Unlock()
			if err != nil {
				k.dead(reasonNetwork)
				return
			}
			if k.pings != nil {
				k.pings()
			}
		}
	}
}

// dead ends paho's read with a deadError. Closing the connection instead
// would not do: paho treats "use of closed network connection" as its own
// deliberate close and does not report the connection lost.
func (k *keepAliveConn) dead(reason string) {
	if !k.reason.CompareAndSwap(nil, reason) {
		return
	}
	if k.onDead != nil {
		k.onDead(reason)
	}
	if err := k.Conn.SetReadDeadline(time.Now()); err != nil {
		_ = k.Close()
	}
}

// deadError is what paho's reader gets once the wrapper declared the link dead.
type deadError struct{ reason string }

func (e *deadError) Error() string { return "mqttlink: link declared dead: " + e.reason }

package mqttlink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/internal/standin"
	"github.com/facegate/facegate/internal/testenv"
	"github.com/facegate/facegate/signedcmd"
)

// These tests run the real daemon against a local stand-in of each IoT
// platform (internal/standin) that enforces the platform's rules.

// newProfileDaemon is newDaemon with the given device id and [mqtt] keys.
func newProfileDaemon(t *testing.T, deviceID, mqttKeys string) *daemon {
	t.Helper()
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	if err := os.MkdirAll(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.Face(t, "_noface", "fruits.jpg"), filepath.Join(frames, "0001.jpg")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "facegate.toml")
	body := fmt.Sprintf(`device_id = %q
data_dir = %q
models_dir = %q
log_level = "info"
[camera]
source = "dir:%s"
fps = 2
[door]
gpio = "sim"
[mqtt]
ping_timeout_seconds = 1
write_timeout_seconds = 2
max_reconnect_seconds = 2
%s
[web]
listen = ""
`, deviceID, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, mqttKeys)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, bin: testenv.FacegateBinary(t), cfg: cfg, dir: dir}
	t.Cleanup(func() { d.kill() })
	return d
}

// clockFile is the daemon's credential clock (ClockFileEnv), set to at.
type clockFile string

func newClockFile(t *testing.T, at time.Time) clockFile {
	c := clockFile(filepath.Join(t.TempDir(), "clock"))
	c.set(t, at)
	t.Setenv(ClockFileEnv, string(c))
	return c
}

func (c clockFile) set(t *testing.T, at time.Time) {
	if err := os.WriteFile(string(c), []byte(at.UTC().Format(time.RFC3339)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c clockFile) now() time.Time {
	b, _ := os.ReadFile(string(c))
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Now()
	}
	return at
}

// generate records n events in the daemon's database from this process.
func generate(t *testing.T, db *facedb.DB, n int) []int64 {
	t.Helper()
	var seqs []int64
	for i := 0; i < n; i++ {
		rec, err := db.Record(context.Background(), facedb.Record{Kind: "event", Type: "unknown_face", Source: "face", Detail: map[string]any{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, rec.Seq)
	}
	return seqs
}

// seqsOf returns the seqs of the event payloads in arrival order, first
// copies only, and whether they arrived in increasing order.
func seqsOf(_ *testing.T, msgs []standin.Message, unwrap func([]byte) []byte) (map[int64]bool, bool) {
	seen := map[int64]bool{}
	inOrder, last := true, int64(0)
	for _, m := range msgs {
		p := m.Payload
		if unwrap != nil {
			p = unwrap(p)
		}
		var ev struct {
			Seq  int64  `json:"seq"`
			Type string `json:"type"`
		}
		if json.Unmarshal(p, &ev) != nil || ev.Seq == 0 {
			continue
		}
		if seen[ev.Seq] {
			continue
		}
		seen[ev.Seq] = true
		if ev.Seq < last {
			inOrder = false
		}
		last = ev.Seq
	}
	return seen, inOrder
}

// waitAll waits until every seq of want arrived on topics matching re.
func waitAll(p *standin.Platform, what string, timeout time.Duration, msgs func(*regexp.Regexp) []standin.Message,
	re *regexp.Regexp, unwrap func([]byte) []byte, want []int64) {
	p.Wait(what, timeout, func() bool {
		s, _ := seqsOf(nil, msgs(re), unwrap)
		for _, q := range want {
			if !s[q] {
				return false
			}
		}
		return true
	})
}

func noViolations(t *testing.T, p *standin.Platform) {
	t.Helper()
	for _, v := range p.Violations() {
		t.Errorf("platform rule broken: %s by %s: %s", v.Rule, v.ClientID, v.Detail)
	}
}

func auditHas(t *testing.T, db *facedb.DB, action, detail string, ok bool) bool {
	t.Helper()
	entries, err := db.AuditLog(context.Background(), 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action && strings.Contains(e.Detail, detail) && e.OK == ok {
			return true
		}
	}
	return false
}

// TestIoTDAProfile: against a stand-in that enforces IoTDA's rules, the
// daemon connects with the hourly client id and HMAC password, reports its
// state as properties, sends 300 events in order within 50 messages per
// second and without retain or will, answers a platform command with
// result_code (and refuses and audits a replayed and a stale one),
// reconnects with fresh credentials after the hour changes, and loses
// nothing across a restart of the platform.
func TestIoTDAProfile(t *testing.T) {
	const dev, secret = "660a_door1", "12345678"
	clock := newClockFile(t, time.Date(2025, 4, 14, 1, 30, 0, 0, time.UTC))
	p := standin.Start(t, standin.IoTDA(dev, secret, clock.now))
	d := newProfileDaemon(t, dev, fmt.Sprintf("profile = \"huaweicloud-iotda\"\nbroker = \"tcp://%s\"\npassword = %q\nkeepalive_seconds = 30\n", p.Addr, secret))
	d.start()

	base := "$oc/devices/" + dev + "/sys/"
	report := regexp.MustCompile(`^` + regexp.QuoteMeta(base+"properties/report") + `$`)
	up := regexp.MustCompile(`^` + regexp.QuoteMeta(base+"messages/up") + `$`)
	responses := func(id string) []standin.Message {
		return p.Messages(regexp.MustCompile(`^` + regexp.QuoteMeta(base+"commands/response/request_id="+id) + `$`))
	}
	p.Wait("the state property report", 60*time.Second, func() bool { return len(p.Messages(report)) > 0 })
	var rep struct {
		Services []struct {
			ServiceID  string         `json:"service_id"`
			Properties map[string]any `json:"properties"`
		} `json:"services"`
	}
	if err := json.Unmarshal(p.Messages(report)[0].Payload, &rep); err != nil || len(rep.Services) != 1 ||
		rep.Services[0].ServiceID != "door" || rep.Services[0].Properties["door"] != "locked" {
		t.Fatalf("property report = %s (%v)", p.Messages(report)[0].Payload, err)
	}
	if c := p.Connects()[0]; c.ClientID != dev+"_0_1_2025041401" {
		t.Fatalf("client id = %s", c.ClientID)
	}

	db := openDB(t, d.dbPath())
	want := generate(t, db, 300)
	p.Wait("300 events", 90*time.Second, func() bool { s, _ := seqsOf(t, p.Messages(up), nil); return len(s) >= len(want) })
	if _, ordered := seqsOf(t, p.Messages(up), nil); !ordered {
		t.Errorf("events arrived out of seq order")
	}

	// A platform command and its response; then the same request again
	// (replay) and a stale one: refused, answered with result_code 1, audited.
	now := time.Now().Unix()
	p.Send(base+"commands/request_id=r-1", []byte(fmt.Sprintf(`{"object_device_id":%q,"service_id":"door","command_name":"unlock","paras":{"ts":%d,"seconds":2}}`, dev, now)))
	p.Wait("the response to r-1", 30*time.Second, func() bool { return len(responses("r-1")) > 0 })
	var resp struct {
		ResultCode   int    `json:"result_code"`
		ResponseName string `json:"response_name"`
		Paras        Reply  `json:"paras"`
	}
	if err := json.Unmarshal(responses("r-1")[0].Payload, &resp); err != nil || resp.ResultCode != 0 || resp.ResponseName != "unlock" || !resp.Paras.OK {
		t.Fatalf("response to unlock = %s (%v)", responses("r-1")[0].Payload, err)
	}
	p.Wait("remote_unlock event", 30*time.Second, func() bool {
		for _, m := range p.Messages(up) {
			if strings.Contains(string(m.Payload), `"remote_unlock"`) {
				return true
			}
		}
		return false
	})
	p.Send(base+"commands/request_id=r-1", []byte(fmt.Sprintf(`{"command_name":"unlock","paras":{"ts":%d}}`, now)))
	p.Send(base+"commands/request_id=r-2", []byte(fmt.Sprintf(`{"command_name":"unlock","paras":{"ts":%d}}`, now-3600)))
	p.Send(base+"commands/request_id=r-3", []byte(`{"command_name":"unlock","paras":{}}`))
	for id, reason := range map[string]string{"r-2": "expired", "r-3": "malformed"} {
		p.Wait("the response to "+id, 30*time.Second, func() bool { return len(responses(id)) > 0 })
		if err := json.Unmarshal(responses(id)[0].Payload, &resp); err != nil || resp.ResultCode != 1 || resp.Paras.Error != reason {
			t.Errorf("response to %s = %s, want result_code 1 and %s", id, responses(id)[0].Payload, reason)
		}
	}
	p.Wait("the replayed r-1 refused", 30*time.Second, func() bool { return len(responses("r-1")) > 1 })
	if err := json.Unmarshal(responses("r-1")[1].Payload, &resp); err != nil || resp.ResultCode != 1 || resp.Paras.Error != "replay" {
		t.Errorf("response to the replayed r-1 = %s", responses("r-1")[1].Payload)
	}
	testenv.WaitFor(t, "audit entries", 30*time.Second, func() bool {
		return auditHas(t, db, "cmd.unlock", "request_id=r-1", true) && auditHas(t, db, "cmd.unlock", "request_id=r-1 replay", false) &&
			auditHas(t, db, "cmd.unlock", "request_id=r-2 expired", false) && auditHas(t, db, "cmd.unlock", "request_id=r-3 malformed", false)
	})

	// The hour changes and the platform drops the connection: the daemon
	// comes back with the new hour's client id and password.
	clock.set(t, time.Date(2025, 4, 14, 2, 0, 5, 0, time.UTC))
	p.Kick()
	p.Wait("a connect with the next hour's credentials", 30*time.Second, func() bool {
		cs := p.Connects()
		return cs[len(cs)-1].ClientID == dev+"_0_1_2025041402"
	})
	if n := len(p.Refused()); n != 0 {
		t.Errorf("%d connects refused: the daemon reused stale credentials", n)
	}

	// The platform restarts while events keep coming: nothing is lost.
	p.Stop()
	more := generate(t, db, 100)
	p.Restart()
	want = append(want, more...)
	want = append(want, generate(t, db, 50)...)
	waitAll(p, "every event after the restart", 90*time.Second, p.Messages, up, nil, want)
	for _, m := range p.Messages(nil) {
		if m.Retain || m.QoS != 1 {
			t.Errorf("publish on %s retain=%v qos=%d", m.Topic, m.Retain, m.QoS)
		}
	}
	noViolations(t, p)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.out.String())
	}
}

// TestThingsBoardProfile: against a stand-in with ThingsBoard's rules
// (access token as user name, no will, v1/devices/me topics only), the
// daemon reports its state as client attributes, events as timestamped
// telemetry in order, answers a server-side RPC on its response topic and
// loses nothing across a restart of the platform.
func TestThingsBoardProfile(t *testing.T) {
	t.Parallel()
	const token = "A1_TEST_TOKEN"
	p := standin.Start(t, standin.ThingsBoard(token))
	d := newProfileDaemon(t, "door-1", fmt.Sprintf("profile = \"thingsboard\"\nbroker = \"tcp://%s\"\nusername = %q\nkeepalive_seconds = 30\n", p.Addr, token))
	d.start()
	attrs := regexp.MustCompile(`^v1/devices/me/attributes$`)
	telemetry := regexp.MustCompile(`^v1/devices/me/telemetry$`)
	unwrap := func(b []byte) []byte {
		var tv struct {
			TS     int64           `json:"ts"`
			Values json.RawMessage `json:"values"`
		}
		if json.Unmarshal(b, &tv) != nil || tv.TS == 0 {
			return nil
		}
		return tv.Values
	}
	p.Wait("the state attributes", 60*time.Second, func() bool { return len(p.Messages(attrs)) > 0 })
	var st map[string]any
	if err := json.Unmarshal(p.Messages(attrs)[0].Payload, &st); err != nil || st["door"] != "locked" {
		t.Fatalf("attributes = %s (%v)", p.Messages(attrs)[0].Payload, err)
	}

	db := openDB(t, d.dbPath())
	want := generate(t, db, 100)
	p.Wait("100 events", 60*time.Second, func() bool { s, _ := seqsOf(t, p.Messages(telemetry), unwrap); return len(s) >= len(want) })
	if _, ordered := seqsOf(t, p.Messages(telemetry), unwrap); !ordered {
		t.Errorf("events arrived out of seq order")
	}

	p.Send("v1/devices/me/rpc/request/7", []byte(fmt.Sprintf(`{"method":"status","params":{"ts":%d}}`, time.Now().Unix())))
	resp := regexp.MustCompile(`^v1/devices/me/rpc/response/7$`)
	p.Wait("the RPC response", 30*time.Second, func() bool { return len(p.Messages(resp)) > 0 })
	var r Reply
	if err := json.Unmarshal(p.Messages(resp)[0].Payload, &r); err != nil || !r.OK || len(r.State) == 0 {
		t.Fatalf("RPC response = %s (%v)", p.Messages(resp)[0].Payload, err)
	}
	testenv.WaitFor(t, "the RPC audited", 30*time.Second, func() bool { return auditHas(t, db, "cmd.status", "request_id=7", true) })

	p.Stop()
	want = append(want, generate(t, db, 50)...)
	p.Restart()
	waitAll(p, "every event after the restart", 60*time.Second, p.Messages, telemetry, unwrap, want)
	noViolations(t, p)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.out.String())
	}
}

// TestAWSIoTProfile: against a stand-in with AWS IoT Core's rules (TLS
// with a verified client certificate, keep-alive 30..1200 s, QoS 0/1, topic
// depth, 100 publishes per second), the daemon connects with its client
// certificate and the endpoint's name as SNI, publishes state and events in
// order (confirmed by echo), serves a signed command and loses nothing
// across a restart of the platform.
func TestAWSIoTProfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pk := newPKI(t, dir, "aws")
	serverCert, err := tls.LoadX509KeyPair(pk.serverCert, pk.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(pk.ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	var sniMu sync.Mutex
	var snis []string
	tc := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS12}
	tc.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sniMu.Lock()
		snis = append(snis, h.ServerName)
		sniMu.Unlock()
		return nil, nil
	}
	p := standin.Start(t, standin.AWSIoT(tc))
	_, port, _ := net.SplitHostPort(p.Addr)
	broker := "ssl://localhost:" + port
	keys := fmt.Sprintf("profile = \"aws-iot\"\nbroker = %q\nca_file = %q\ncert_file = %q\nkey_file = %q\nkeepalive_seconds = 30\ncommand_key = %q\n",
		broker, pk.ca, pk.clientCert, pk.clientKey, testKey)
	d := newProfileDaemon(t, "door-1", keys)
	d.start()
	events := regexp.MustCompile(`^facegate/door-1/events$`)
	p.Wait("the retained state", 60*time.Second, func() bool {
		for _, m := range p.Messages(regexp.MustCompile(`^facegate/door-1/state$`)) {
			if m.Retain {
				return true
			}
		}
		return false
	})
	sniMu.Lock()
	if len(snis) == 0 || snis[0] != "localhost" {
		t.Errorf("SNI = %v, want the endpoint's host name", snis)
	}
	sniMu.Unlock()

	db := openDB(t, d.dbPath())
	want := generate(t, db, 150)
	p.Wait("150 events", 60*time.Second, func() bool { s, _ := seqsOf(t, p.Messages(events), nil); return len(s) >= len(want) })
	if _, ordered := seqsOf(t, p.Messages(events), nil); !ordered {
		t.Errorf("events arrived out of seq order")
	}
	testenv.WaitFor(t, "events confirmed by their echo", 30*time.Second, func() bool {
		ds, err := db.DeliveryStats(context.Background())
		return err == nil && ds.Acked == 0 && ds.Unconfirmed == 0
	})

	cfg, err := config.Load(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MQTT.Profile = "generic" // facegate cmd's own connection (the stand-in allows it)
	r, err := SendCommand(context.Background(), cfg, "status", 0, 20*time.Second)
	if err != nil || !r.OK {
		t.Fatalf("signed status over aws-iot: %+v, %v", r, err)
	}

	p.Stop()
	want = append(want, generate(t, db, 50)...)
	p.Restart()
	waitAll(p, "every event after the restart", 60*time.Second, p.Messages, events, nil, want)
	for _, m := range p.Messages(nil) {
		if m.QoS > 1 {
			t.Errorf("QoS %d on %s", m.QoS, m.Topic)
		}
	}
	noViolations(t, p)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.out.String())
	}
}

// TestIoTDAProductModelMatchesState: the product model in docs declares
// exactly the properties the property report carries, and the commands the
// link serves.
func TestIoTDAProductModelMatchesState(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "docs", "iotda-product-model.json"))
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		Services []struct {
			ServiceID  string `json:"service_id"`
			Properties []struct {
				Name string `json:"property_name"`
			} `json:"properties"`
			Commands []struct {
				Name  string `json:"command_name"`
				Paras []struct {
					Name     string `json:"para_name"`
					Required bool   `json:"required"`
				} `json:"paras"`
			} `json:"commands"`
		} `json:"services"`
	}
	if err := json.Unmarshal(b, &model); err != nil || len(model.Services) != 1 || model.Services[0].ServiceID != iotdaService {
		t.Fatalf("product model: %v, services %+v", err, model.Services)
	}
	var declared []string
	for _, p := range model.Services[0].Properties {
		declared = append(declared, p.Name)
	}
	var want []string
	st := reflect.TypeOf(statePayload{})
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		want = append(want, name)
	}
	slices.Sort(declared)
	slices.Sort(want)
	if !slices.Equal(declared, want) {
		t.Errorf("product model properties %v, state payload fields %v", declared, want)
	}
	var cmds []string
	for _, c := range model.Services[0].Commands {
		cmds = append(cmds, c.Name)
		if len(c.Paras) == 0 || c.Paras[0].Name != "ts" || !c.Paras[0].Required {
			t.Errorf("command %s: ts is not its first, required parameter", c.Name)
		}
	}
	if want := append([]string(nil), signedcmd.Names...); !slices.Equal(sortedCopy(cmds), sortedCopy(want)) {
		t.Errorf("product model commands %v, link serves %v", cmds, want)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	slices.Sort(c)
	return c
}

// TestSendCommandRefusesPlatformCommandProfiles: facegate cmd says where
// commands come from on platforms that authenticate them themselves.
func TestSendCommandRefusesPlatformCommandProfiles(t *testing.T) {
	for _, profile := range []string{"huaweicloud-iotda", "thingsboard"} {
		cfg := testConfig("tcp://127.0.0.1:1", 60)
		cfg.MQTT.Profile = profile
		_, err := SendCommand(context.Background(), cfg, "status", 0, time.Second)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "platform") {
			t.Errorf("%s: SendCommand = %v, want a configuration error naming the platform", profile, err)
		}
	}
}

// TestDaemonRefusesKeepAliveOutsideProfile: facegate run does not start
// with a keep-alive the platform would refuse, and says which key of which
// file to change.
func TestDaemonRefusesKeepAliveOutsideProfile(t *testing.T) {
	d := newProfileDaemon(t, "660a_door1", "profile = \"huaweicloud-iotda\"\nbroker = \"tcp://127.0.0.1:1\"\npassword = \"s\"\nkeepalive_seconds = 20\n")
	d.start()
	select {
	case err := <-d.done:
		d.cmd = nil
		out := d.out.String()
		if err == nil || !strings.Contains(out, "mqtt.keepalive_seconds") || !strings.Contains(out, d.cfg) || !strings.Contains(out, "30..1200") {
			t.Fatalf("exit %v, output:\n%s", err, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon started with keep-alive 20 s under huaweicloud-iotda:\n%s", d.out.String())
	}
}

package platform

import (
	"strings"
	"testing"
	"time"
)

// The test vector Huawei publishes for the IoTDA device password.
func TestIoTDAPasswordVector(t *testing.T) {
	got := IoTDAPassword("12345678", "2025041401")
	if want := "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"; got != want {
		t.Fatalf("IoTDAPassword = %s, want %s", got, want)
	}
}

func TestIoTDACredentialsFollowTheHour(t *testing.T) {
	p, err := Lookup(HuaweiIoTDA)
	if err != nil {
		t.Fatal(err)
	}
	a := Account{DeviceID: "660a_door1", Password: "12345678"}
	at := time.Date(2025, 4, 14, 1, 59, 59, 0, time.UTC)
	c := p.Credentials(a, at)
	if c.ClientID != "660a_door1_0_1_2025041401" || c.Username != "660a_door1" ||
		c.Password != "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a" {
		t.Fatalf("credentials at %s = %+v", at, c)
	}
	// Another time zone, same instant: the timestamp is UTC.
	if c2 := p.Credentials(a, at.In(time.FixedZone("CST", 8*3600))); c2 != c {
		t.Fatalf("credentials depend on the time zone: %+v vs %+v", c2, c)
	}
	next := p.Credentials(a, at.Add(time.Second))
	if next.ClientID != "660a_door1_0_1_2025041402" || next.Password == c.Password {
		t.Fatalf("credentials after the hour changed = %+v", next)
	}
	if next.Password != IoTDAPassword("12345678", "2025041402") {
		t.Fatalf("password of the next hour is not the HMAC of its timestamp")
	}
}

func TestGenericCredentialsAreTheConfiguredOnes(t *testing.T) {
	p, _ := Lookup("")
	if p.Name != Generic {
		t.Fatalf("empty profile = %s", p.Name)
	}
	c := p.Credentials(Account{DeviceID: "door-1", Username: "u", Password: "pw"}, time.Now())
	if c != (Credentials{ClientID: "facegate-door-1", Username: "u", Password: "pw"}) {
		t.Fatalf("generic credentials = %+v", c)
	}
	tb, _ := Lookup(ThingsBoard)
	if c := tb.Credentials(Account{DeviceID: "door-1", Username: "TOKEN", Password: "ignored"}, time.Now()); c.Username != "TOKEN" || c.Password != "" {
		t.Fatalf("thingsboard credentials = %+v", c)
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("azure")
	if err == nil || !strings.Contains(err.Error(), "huaweicloud-iotda") {
		t.Fatalf("Lookup(azure) = %v, want an error listing the profiles", err)
	}
}

func TestKeepAliveRange(t *testing.T) {
	for _, name := range []string{HuaweiIoTDA, AWSIoT} {
		p, _ := Lookup(name)
		for _, k := range []int{0, 29, 1201} {
			if err := p.CheckKeepAlive(k); err == nil || !strings.Contains(err.Error(), "30..1200") {
				t.Errorf("%s keep-alive %d: %v", name, k, err)
			}
		}
		for _, k := range []int{30, 120, 1200} {
			if err := p.CheckKeepAlive(k); err != nil {
				t.Errorf("%s keep-alive %d: %v", name, k, err)
			}
		}
	}
	g, _ := Lookup(Generic)
	if err := g.CheckKeepAlive(0); err != nil {
		t.Errorf("generic keep-alive 0: %v", err)
	}
}

func TestTopics(t *testing.T) {
	iot, _ := Lookup(HuaweiIoTDA)
	tp := iot.Topics("facegate/d1", "d1")
	if tp.State != "$oc/devices/d1/sys/properties/report" || tp.Events != "$oc/devices/d1/sys/messages/up" || tp.Availability != "" {
		t.Fatalf("iotda topics = %+v", tp)
	}
	if id := tp.RequestID("$oc/devices/d1/sys/commands/request_id=abc-1"); id != "abc-1" {
		t.Fatalf("iotda request id = %q", id)
	}
	if id := tp.RequestID("$oc/devices/d2/sys/commands/request_id=abc-1"); id != "" {
		t.Fatalf("another device's command gave request id %q", id)
	}
	if r := tp.Response("abc-1"); r != "$oc/devices/d1/sys/commands/response/request_id=abc-1" {
		t.Fatalf("iotda response = %s", r)
	}
	tb, _ := Lookup(ThingsBoard)
	tt := tb.Topics("facegate/d1", "d1")
	if tt.RequestID("v1/devices/me/rpc/request/7") != "7" || tt.Response("7") != "v1/devices/me/rpc/response/7" || tt.Events != "v1/devices/me/telemetry" {
		t.Fatalf("thingsboard topics = %+v", tt)
	}
	aws, _ := Lookup(AWSIoT)
	at := aws.Topics("facegate/d1", "d1")
	if err := aws.CheckDepth(at.All("facegate/d1/cmd/unlock/reply")); err != nil {
		t.Fatal(err)
	}
	deep := aws.Topics("a/b/c/d/e/d1", "d1")
	if err := aws.CheckDepth(deep.All("a/b/c/d/e/d1/cmd/unlock/reply")); err == nil || !strings.Contains(err.Error(), "allows 8") {
		t.Fatalf("deep prefix under aws-iot: %v", err)
	}
}

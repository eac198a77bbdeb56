package signedcmd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

const topic = "facegate/door-1/cmd/unlock"

func build(t *testing.T, topic string, b Body) []byte {
	t.Helper()
	p, err := Build(key, topic, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignKnownVector(t *testing.T) {
	// Computed with: printf 'facegate/door-1/cmd/unlock\n{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	const want = "a680d0127db827c51119938d66b3777758a367f1795408fa9c976a3c65d70a42"
	if got := Sign(key, topic, []byte(`{"a":1}`)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifyAccepts(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := build(t, topic, Body{RequestID: "r1", TS: now.Unix() - 5, Nonce: "n1", Seconds: 7})
	c, err := Verify(key, topic, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != Unlock || c.RequestID != "r1" || c.Nonce != "n1" || c.Seconds != 7 {
		t.Fatalf("got %+v", c)
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := Body{RequestID: "r1", TS: now.Unix(), Nonce: "n1"}
	signed := func(topic, body string) []byte {
		b, _ := json.Marshal(Envelope{Body: body, Sig: Sign(key, topic, []byte(body))})
		return b
	}
	cases := []struct {
		name    string
		key     []byte
		topic   string
		payload []byte
		want    error
	}{
		{"no key", nil, topic, build(t, topic, good), ErrDisabled},
		{"wrong key", []byte("another-key-of-16-bytes"), topic, build(t, topic, good), ErrBadSignature},
		{"signed for another topic", key, "facegate/door-2/cmd/unlock", build(t, topic, good), ErrBadSignature},
		{"signed for lock, sent to unlock", key, topic, build(t, "facegate/door-1/cmd/lock", good), ErrBadSignature},
		{"tampered body", key, topic, []byte(strings.Replace(string(build(t, topic, good)), `r1`, `r2`, 1)), ErrBadSignature},
		{"sig not hex", key, topic, []byte(`{"body":"{}","sig":"zz"}`), ErrBadSignature},
		{"expired past", key, topic, build(t, topic, Body{RequestID: "r", TS: now.Unix() - 31, Nonce: "n"}), ErrExpired},
		{"expired future", key, topic, build(t, topic, Body{RequestID: "r", TS: now.Unix() + 31, Nonce: "n"}), ErrExpired},
		{"not json", key, topic, []byte(`unlock please`), ErrMalformed},
		{"empty", key, topic, []byte(``), ErrMalformed},
		{"envelope extra field", key, topic, []byte(`{"body":"{}","sig":"00","x":1}`), ErrMalformed},
		{"body not json", key, topic, signed(topic, `not json`), ErrMalformed},
		{"body missing nonce", key, topic, signed(topic, `{"request_id":"r","ts":1800000000}`), ErrMalformed},
		{"body ts float", key, topic, signed(topic, `{"request_id":"r","ts":1.5,"nonce":"n"}`), ErrMalformed},
		{"body unknown field", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n","door":"all"}`), ErrMalformed},
		{"seconds too long", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n","seconds":61}`), ErrMalformed},
		{"seconds negative", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n","seconds":-1}`), ErrMalformed},
		{"seconds on lock", key, "facegate/door-1/cmd/lock", signed("facegate/door-1/cmd/lock", `{"request_id":"r","ts":1800000000,"nonce":"n","seconds":3}`), ErrMalformed},
		{"trailing data", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n"} {}`), ErrMalformed},
		{"unknown command", key, "facegate/door-1/cmd/open", signed("facegate/door-1/cmd/open", `{"request_id":"r","ts":1800000000,"nonce":"n"}`), ErrMalformed},
		{"duplicate key in body", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n","seconds":1,"seconds":60}`), ErrMalformed},
		{"case-variant key in body", key, topic, signed(topic, `{"request_id":"r","ts":1800000000,"nonce":"n","seconds":1,"SECONDS":60}`), ErrMalformed},
		{"case-variant key alone", key, topic, signed(topic, `{"Request_ID":"r","ts":1800000000,"nonce":"n"}`), ErrMalformed},
		{"duplicate body in envelope", key, topic, []byte(strings.Replace(string(build(t, topic, good)), `{"body":`, `{"body":"{}","BODY":`, 1)), ErrMalformed},
		{"huge", key, topic, []byte(`{"body":"` + strings.Repeat("a", MaxPayload) + `","sig":"00"}`), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.key, c.topic, c.payload, now)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if Reason(err) != Reason(c.want) {
				t.Fatalf("reason %q, want %q", Reason(err), Reason(c.want))
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	for err, want := range map[error]string{
		ErrRetained: "retained", ErrDisabled: "disabled", ErrBadSignature: "bad_signature",
		ErrExpired: "expired", ErrReplay: "replay", ErrMalformed: "malformed", errors.New("x"): "malformed",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestTopics(t *testing.T) {
	if n := NameFromTopic("facegate/door-1", "facegate/door-1/cmd/status"); n != Status {
		t.Fatalf("got %q", n)
	}
	for _, bad := range []string{"facegate/door-1/cmd/open", "facegate/door-2/cmd/unlock", "facegate/door-1/cmd/unlock/reply", "x"} {
		if n := NameFromTopic("facegate/door-1", bad); n != "" {
			t.Errorf("NameFromTopic(%q) = %q", bad, n)
		}
	}
	if ReplyTopic("p/d", "lock") != "p/d/cmd/lock/reply" {
		t.Fatal(ReplyTopic("p/d", "lock"))
	}
}

func TestRequestIDHint(t *testing.T) {
	p := build(t, topic, Body{RequestID: "abc-1", TS: 5, Nonce: "n"})
	if h := RequestIDHint(p); h != "abc-1" {
		t.Fatalf("hint %q", h)
	}
	if h := RequestIDHint([]byte(`{"body":"{\"request_id\":\"\\u0001\"}"}`)); h != "" {
		t.Fatalf("control character accepted as hint: %q", h)
	}
}

func TestBuildRefusesBadBody(t *testing.T) {
	if _, err := Build(key, topic, Body{RequestID: "r", TS: 1, Nonce: "n", Seconds: 600}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Build(nil, topic, Body{RequestID: "r", TS: 1, Nonce: "n"}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseKey(t *testing.T) {
	if k, err := ParseKey(""); err != nil || k != nil {
		t.Fatal(k, err)
	}
	if _, err := ParseKey("abcd"); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseKey("zz"); err == nil {
		t.Fatal("non-hex key accepted")
	}
	if k, err := ParseKey("000102030405060708090a0b0c0d0e0f"); err != nil || len(k) != 16 {
		t.Fatal(k, err)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(topic, []byte(`{"body":"{}","sig":"00"}`))
	p, _ := Build(key, topic, Body{RequestID: "r", TS: now.Unix(), Nonce: "n", Seconds: 3})
	f.Add(topic, p)
	f.Add("facegate/door-1/cmd/lock", []byte(`{"body":"{\"request_id\":\"r\",\"ts\":1,\"nonce\":\"n\"}","sig":""}`))
	f.Add(topic, []byte(`[]`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		c, err := Verify(key, topic, payload, now)
		_ = RequestIDHint(payload)
		if err != nil {
			if Reason(err) == "" {
				t.Fatal("empty reason")
			}
			return
		}
		// Anything accepted must be well-formed and correctly signed.
		if c.RequestID == "" || c.Nonce == "" || c.Seconds < 0 || c.Seconds > MaxUnlockSeconds {
			t.Fatalf("accepted bad command %+v", c)
		}
		var env Envelope
		if json.Unmarshal(payload, &env) != nil || Sign(key, topic, []byte(env.Body)) != strings.ToLower(env.Sig) {
			t.Fatalf("accepted payload whose signature does not match")
		}
	})
}

// BenchmarkVerify is the cost of checking one signed command (envelope,
// HMAC, body), the work the device does per command before the database.
func BenchmarkVerify(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	p, err := Build(key, topic, Body{RequestID: "r-1", TS: now.Unix(), Nonce: "0123456789abcdef", Seconds: 5})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(key, topic, p, now); err != nil {
			b.Fatal(err)
		}
	}
}

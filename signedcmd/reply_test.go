package signedcmd

import (
	"errors"
	"strings"
	"testing"
)

const replyTopic = "facegate/door-1/cmd/unlock/reply"

func TestReplySignKnownVector(t *testing.T) {
	// printf 'facegate/door-1/cmd/unlock/reply\nr-1\n{"request_id":"r-1","ok":true}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	const want = `{"request_id":"r-1","ok":true,"sig":"7727c108d813fff77c30215bb7961e0c214babce035397f2dfe5041d71bc85e0"}`
	p, err := SignReply(key, replyTopic, "r-1", []byte(`{"request_id":"r-1","ok":true}`))
	if err != nil || string(p) != want {
		t.Fatalf("SignReply = %s, %v; want %s", p, err, want)
	}
}

func TestVerifyReply(t *testing.T) {
	body := `{"request_id":"r-1","ok":true,"state":{"door":"unlocked"}}`
	good, err := SignReply(key, replyTopic, "r-1", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyReply(key, replyTopic, "r-1", good)
	if err != nil || string(got) != body {
		t.Fatalf("VerifyReply = %s, %v", got, err)
	}
	signedOther := func(id, b string) []byte {
		p, err := SignReply(key, replyTopic, id, []byte(b))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		key     []byte
		topic   string
		id      string
		payload []byte
		want    error
	}{
		{"forged unsigned ok", key, replyTopic, "r-1", []byte(`{"request_id":"r-1","ok":true}`), ErrUnsignedReply},
		{"forged with a made-up sig", key, replyTopic, "r-1", []byte(`{"request_id":"r-1","ok":true,"sig":"` + strings.Repeat("ab", 32) + `"}`), ErrBadSignature},
		{"another key", []byte("another-key-of-16-bytes"), replyTopic, "r-1", good, ErrBadSignature},
		{"another topic", key, "facegate/door-2/cmd/unlock/reply", "r-1", good, ErrBadSignature},
		{"another request", key, replyTopic, "r-2", good, ErrBadSignature},
		{"ok:false turned into ok:true", key, replyTopic, "r-1", []byte(strings.Replace(string(signedOther("r-1", `{"request_id":"r-1","ok":false}`)), "false", "true", 1)), ErrBadSignature},
		{"signed for another id in the body", key, replyTopic, "r-1", signedOther("r-1", `{"request_id":"r-9","ok":true}`), ErrMalformed},
		{"duplicate ok", key, replyTopic, "r-1", signedOther("r-1", `{"request_id":"r-1","ok":false,"OK":true}`), ErrMalformed},
		{"no key", nil, replyTopic, "r-1", good, ErrDisabled},
		{"garbage", key, replyTopic, "r-1", []byte(`ok`), ErrUnsignedReply},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := VerifyReply(c.key, c.topic, c.id, c.payload); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSignReplyWithoutKeyIsUnchanged(t *testing.T) {
	p, err := SignReply(nil, replyTopic, "r", []byte(`{"request_id":"r","ok":false,"error":"disabled"}`))
	if err != nil || string(p) != `{"request_id":"r","ok":false,"error":"disabled"}` {
		t.Fatalf("%s %v", p, err)
	}
	if _, err := SignReply(key, replyTopic, "r", []byte(`[]`)); err == nil {
		t.Fatal("non-object body signed")
	}
}

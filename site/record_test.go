package site

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestSignedRecordOpensAndTamperingIsRefused(t *testing.T) {
	priv, _ := siteKeys(t)
	pub := priv.Public().(ed25519.PublicKey)
	r := rand.New(rand.NewPCG(1, 2))
	rec, err := NewPerson("Ada", []Template{fr512(r)}, []byte{0xff, 0xd8})
	if err != nil {
		t.Fatal(err)
	}
	rec.Site = "hq"
	s, err := Sign(priv, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(pub, "hq", rec.UUID, s.Message)
	if err != nil {
		t.Fatalf("a signed record does not open: %v", err)
	}
	if got.Name != "Ada" || got.Version != rec.Version || string(got.Digest) != string(s.Digest) {
		t.Fatalf("opened %+v, want Ada version %d", got.Record, rec.Version)
	}

	var env envelope
	if err := json.Unmarshal(s.Message, &env); err != nil {
		t.Fatal(err)
	}
	tampered := env
	var body Record
	_ = json.Unmarshal([]byte(env.Body), &body)
	body.Enabled = false
	b, _ := json.Marshal(body)
	tampered.Body = string(b)
	unsigned := env
	unsigned.Sig = nil

	otherKey, _ := siteKeys(t)
	forged, err := Sign(otherKey, rec)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(e envelope) []byte { b, _ := json.Marshal(e); return b }
	cases := []struct {
		name, site, id string
		msg            []byte
		reason         string
	}{
		{"body changed after signing", "hq", rec.UUID, enc(tampered), ReasonBadSignature},
		{"signed with another key", "hq", rec.UUID, forged.Message, ReasonBadSignature},
		{"no signature", "hq", rec.UUID, enc(unsigned), ReasonUnsigned},
		{"not JSON", "hq", rec.UUID, []byte("hello"), ReasonMalformed},
		{"published under another person", "hq", "0190a000-0000-7000-8000-000000000000", s.Message, ReasonMalformed},
		{"published under another site", "lab", rec.UUID, s.Message, ReasonMalformed},
	}
	for _, c := range cases {
		_, err := Open(pub, c.site, c.id, c.msg)
		if !errors.Is(err, ErrRefused) || ReasonOf(err) != c.reason {
			t.Errorf("%s: got %v (reason %q), want a %s refusal", c.name, err, ReasonOf(err), c.reason)
		}
	}
}

func TestMalformedRecordsCannotBeSigned(t *testing.T) {
	priv, _ := siteKeys(t)
	r := rand.New(rand.NewPCG(3, 4))
	r2 := rand.New(rand.NewPCG(30, 40))
	good := func() Record {
		rec, _ := NewPerson("Bob", []Template{fr512(r)}, nil)
		rec.Site = "hq"
		return rec
	}
	nan := fr512(r)
	v := floats(nan.Embedding)
	v[7] = float32(math.NaN())
	nan.Embedding = Embedding(v)
	long := fr512(r)
	v = floats(long.Embedding)
	for i := range v {
		v[i] *= 2
	}
	long.Embedding = Embedding(v)
	edits := map[string]func(*Record){
		"empty name":          func(r *Record) { r.Name = " " },
		"no templates":        func(r *Record) { r.Templates = nil },
		"NaN in template":     func(r *Record) { r.Templates = []Template{nan} },
		"not normalised":      func(r *Record) { r.Templates = []Template{long} },
		"zero version":        func(r *Record) { r.Version = 0 },
		"upper-case uuid":     func(r *Record) { r.UUID = "0190A000-0000-7000-8000-000000000000" },
		"tombstone with name": func(r *Record) { r.Deleted = true },
		"site with slash":     func(r *Record) { r.Site = "a/b" },
		"fr512 of 128 values": func(r *Record) {
			r.Templates[0].Model = "fr512"
			r.Templates[0].Embedding = Embedding(unitVector(r2, 128))
		},
	}
	for name, edit := range edits {
		rec := good()
		edit(&rec)
		if _, err := Sign(priv, rec); ReasonOf(err) != ReasonMalformed {
			t.Errorf("%s: Sign gave %v, want a malformed refusal", name, err)
		}
	}
}

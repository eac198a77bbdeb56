package signedcmd

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Command names of the contract.
const (
	Unlock = "unlock"
	Lock   = "lock"
	Status = "status"
)

// Names lists the command names the daemon subscribes to.
var Names = []string{Unlock, Lock, Status}

// MaxSkew is the largest |now - ts| accepted; also the nonce window.
const MaxSkew = 30 * time.Second

// MaxUnlockSeconds caps the "seconds" of an unlock command.
const MaxUnlockSeconds = 60

// MaxPayload is the largest envelope accepted, in bytes.
const MaxPayload = 4096

// maxID is the longest request_id or nonce accepted.
const maxID = 128

// Rejection reasons of the contract, used in replies and command_rejected events.
const (
	ReasonRetained     = "retained"
	ReasonDisabled     = "disabled"
	ReasonBadSignature = "bad_signature"
	ReasonExpired      = "expired"
	ReasonReplay       = "replay"
	ReasonMalformed    = "malformed"
)

// Sentinel errors; each maps to one contract reason (see Reason).
var (
	ErrRetained     = errors.New("signedcmd: retained command")
	ErrDisabled     = errors.New("signedcmd: no command key configured")
	ErrBadSignature = errors.New("signedcmd: bad signature")
	ErrExpired      = errors.New("signedcmd: timestamp outside the accepted window")
	ErrReplay       = errors.New("signedcmd: nonce already used")
	ErrMalformed    = errors.New("signedcmd: malformed command")
)

// Reason returns the contract reason for an error returned by this package
// (or wrapping one of its sentinels), and "malformed" for anything else.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrRetained):
		return ReasonRetained
	case errors.Is(err, ErrDisabled):
		return ReasonDisabled
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrExpired):
		return ReasonExpired
	case errors.Is(err, ErrReplay):
		return ReasonReplay
	default:
		return ReasonMalformed
	}
}

// Body is the signed part of a command.
type Body struct {
	RequestID string  `json:"request_id"`
	TS        int64   `json:"ts"`
	Nonce     string  `json:"nonce"`
	Seconds   float64 `json:"seconds,omitempty"` // unlock only; 0 = the configured default
}

// Envelope is what is published on P/cmd/<name>.
type Envelope struct {
	Body string `json:"body"`
	Sig  string `json:"sig"`
}

// Command is a verified command.
type Command struct {
	Name string // unlock, lock or status
	Body
}

// Sign returns hex(HMAC-SHA256(key, topic + "\n" + body)).
func Sign(key []byte, topic string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(topic))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ParseKey decodes the hex key of the configuration. An empty string gives a
// nil key (remote commands disabled).
func ParseKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signedcmd: command key is not hex: %w", err)
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("signedcmd: command key is %d bytes, want at least 16", len(k))
	}
	return k, nil
}

// NameFromTopic returns the command name of "P/cmd/<name>" for the given
// prefix P, or "" when the topic is not a command topic of the contract.
func NameFromTopic(prefix, topic string) string {
	rest, ok := strings.CutPrefix(topic, prefix+"/cmd/")
	if !ok {
		return ""
	}
	for _, n := range Names {
		if rest == n {
			return n
		}
	}
	return ""
}

// Topic returns "P/cmd/<name>".
func Topic(prefix, name string) string { return prefix + "/cmd/" + name }

// ReplyTopic returns "P/cmd/<name>/reply".
func ReplyTopic(prefix, name string) string { return Topic(prefix, name) + "/reply" }

// Build signs body for topic and returns the envelope to publish. It checks
// the body as Verify would, so a builder cannot produce a command the daemon
// refuses as malformed.
func Build(key []byte, topic string, b Body) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrDisabled
	}
	if err := b.check(nameOf(topic)); err != nil {
		return nil, err
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("signedcmd: %w", err)
	}
	return json.Marshal(Envelope{Body: string(body), Sig: Sign(key, topic, body)})
}

func nameOf(topic string) string {
	i := strings.LastIndexByte(topic, '/')
	return topic[i+1:]
}

// Verify checks a command envelope received on topic at time now and
// returns the command. The checks run in this order: key configured
// (ErrDisabled), envelope shape (ErrMalformed), signature (ErrBadSignature),
// body shape (ErrMalformed), timestamp within MaxSkew (ErrExpired).
// Replay (nonce reuse) is the caller's check; a retained message must be
// refused by the caller before calling Verify.
//
// RequestIDHint can recover the request id of a rejected command for the reply.
func Verify(key []byte, topic string, payload []byte, now time.Time) (Command, error) {
	name := nameOf(topic)
	if len(key) == 0 {
		return Command{Name: name}, ErrDisabled
	}
	if len(payload) > MaxPayload {
		return Command{Name: name}, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrMalformed, len(payload), MaxPayload)
	}
	var env Envelope
	if err := strictDecode(payload, &env, envelopeKeys); err != nil {
		return Command{Name: name}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Body == "" || env.Sig == "" {
		return Command{Name: name}, fmt.Errorf("%w: envelope needs non-empty \"body\" and \"sig\"", ErrMalformed)
	}
	sig, err := hex.DecodeString(env.Sig)
	if err != nil || len(sig) != sha256.Size {
		return Command{Name: name}, fmt.Errorf("%w: sig is not %d hex bytes", ErrBadSignature, sha256.Size)
	}
	want, _ := hex.DecodeString(Sign(key, topic, []byte(env.Body)))
	if !hmac.Equal(sig, want) {
		return Command{Name: name}, ErrBadSignature
	}
	var b Body
	if err := strictDecode([]byte(env.Body), &b, bodyKeys); err != nil {
		return Command{Name: name}, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	cmd := Command{Name: name, Body: b}
	if err := b.check(name); err != nil {
		return cmd, err
	}
	skew := now.Sub(time.Unix(b.TS, 0))
	if skew > MaxSkew || skew < -MaxSkew {
		return cmd, fmt.Errorf("%w: ts %d is %s from now", ErrExpired, b.TS, skew.Round(time.Second))
	}
	return cmd, nil
}

// RequestIDHint returns the request_id of an envelope without verifying it,
// so a rejection reply can carry it. It returns "" when there is none or it
// is not a plausible id.
func RequestIDHint(payload []byte) string {
	var env Envelope
	if json.Unmarshal(payload, &env) != nil {
		return ""
	}
	var b struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal([]byte(env.Body), &b) != nil || checkID(b.RequestID) != nil {
		return ""
	}
	return b.RequestID
}

func (b Body) check(name string) error {
	switch name {
	case Unlock, Lock, Status:
	default:
		return fmt.Errorf("%w: unknown command %q", ErrMalformed, name)
	}
	if err := checkID(b.RequestID); err != nil {
		return fmt.Errorf("%w: request_id %v", ErrMalformed, err)
	}
	if err := checkID(b.Nonce); err != nil {
		return fmt.Errorf("%w: nonce %v", ErrMalformed, err)
	}
	if b.TS <= 0 {
		return fmt.Errorf("%w: ts must be positive unix seconds", ErrMalformed)
	}
	if b.Seconds != 0 {
		if name != Unlock {
			return fmt.Errorf("%w: seconds is only allowed for unlock", ErrMalformed)
		}
		if math.IsNaN(b.Seconds) || b.Seconds < 0 || b.Seconds > MaxUnlockSeconds {
			return fmt.Errorf("%w: seconds %v is out of range 0..%d", ErrMalformed, b.Seconds, MaxUnlockSeconds)
		}
	}
	return nil
}

func checkID(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > maxID {
		return fmt.Errorf("is longer than %d bytes", maxID)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r > unicode.MaxASCII {
			return errors.New("must be printable ASCII")
		}
	}
	return nil
}

// The member names of the envelope and the body, exactly as signed.
var (
	envelopeKeys = []string{"body", "sig"}
	bodyKeys     = []string{"request_id", "ts", "nonce", "seconds"}
)

// strictDecode decodes exactly one JSON object whose member names are all in
// keys, exactly as spelt there, each at most once. encoding/json alone would
// match names case-insensitively and keep the last of duplicates, so a signed
// {"seconds":1,"SECONDS":60} would be read as 60 by this daemon and as 1 by
// other parsers.
func strictDecode(data []byte, v any, keys []string) error {
	if err := checkMembers(data, keys); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// checkMembers refuses a JSON object with a member name outside keys (nil
// keys: any name), or with a name that repeats another one, ignoring case.
func checkMembers(data []byte, keys []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		if keys != nil && !slices.Contains(keys, k) {
			return fmt.Errorf("unknown member %q", k)
		}
		folded := strings.ToLower(k)
		if seen[folded] {
			return fmt.Errorf("member %q appears twice (names are compared ignoring case)", k)
		}
		seen[folded] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

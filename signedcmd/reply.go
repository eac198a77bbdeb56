package signedcmd

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnsignedReply is returned by VerifyReply for a reply without a signature.
var ErrUnsignedReply = errors.New("signedcmd: reply is not signed")

// replySigMember is how the signature ends a signed reply:
// `,"sig":"<64 hex>"}`.
const (
	replySigPrefix = `,"sig":"`
	replySigLen    = len(replySigPrefix) + 2*sha256.Size + len(`"}`)
)

// SignReply signs a reply body (a JSON object) published on the reply topic
// for requestID: it appends the member "sig" with
//
//	hex(HMAC-SHA256(key, replyTopic + "\n" + requestID + "\n" + body))
//
// as the object's last member. The signed text is therefore the payload with
// its trailing `,"sig":"..."` removed. A nil key returns body unchanged
// (remote commands are off, the reply says "disabled" unsigned).
func SignReply(key []byte, replyTopic, requestID string, body []byte) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) < 3 || body[0] != '{' || body[len(body)-1] != '}' {
		return nil, errors.New("signedcmd: reply body is not a non-empty JSON object")
	}
	if len(key) == 0 {
		return body, nil
	}
	out := make([]byte, 0, len(body)+replySigLen)
	out = append(out, body[:len(body)-1]...)
	out = append(out, replySigPrefix...)
	out = append(out, replySignature(key, replyTopic, requestID, body)...)
	return append(out, `"}`...), nil
}

func replySignature(key []byte, replyTopic, requestID string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(replyTopic))
	m.Write([]byte{'\n'})
	m.Write([]byte(requestID))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyReply checks a reply received on replyTopic for the command
// requestID and returns the signed body (the payload without "sig"). It
// fails with ErrUnsignedReply when there is no signature, ErrBadSignature
// when it does not verify (another key, another topic or request, or a
// forged or altered reply), and ErrMalformed when the body is not one JSON
// object with distinct member names or carries another request_id.
func VerifyReply(key []byte, replyTopic, requestID string, payload []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrDisabled
	}
	if len(payload) > MaxPayload*4 {
		return nil, fmt.Errorf("%w: reply is %d bytes", ErrMalformed, len(payload))
	}
	payload = bytes.TrimSpace(payload)
	n := len(payload)
	if n < replySigLen+1 || !bytes.HasSuffix(payload, []byte(`"}`)) {
		return nil, ErrUnsignedReply
	}
	tail := payload[n-replySigLen:]
	if !bytes.HasPrefix(tail, []byte(replySigPrefix)) {
		return nil, ErrUnsignedReply
	}
	body := append(append([]byte{}, payload[:n-replySigLen]...), '}')
	sig, err := hex.DecodeString(string(tail[len(replySigPrefix) : len(tail)-2]))
	if err != nil {
		return nil, fmt.Errorf("%w: reply sig is not hex", ErrBadSignature)
	}
	want, _ := hex.DecodeString(replySignature(key, replyTopic, requestID, body))
	if !hmac.Equal(sig, want) {
		return nil, fmt.Errorf("%w: reply on %s for request %s", ErrBadSignature, replyTopic, requestID)
	}
	if err := checkMembers(body, nil); err != nil {
		return nil, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	var r struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	if r.RequestID != requestID {
		return nil, fmt.Errorf("%w: reply is for request %q, not %q", ErrMalformed, r.RequestID, requestID)
	}
	return body, nil
}

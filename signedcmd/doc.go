// Package signedcmd signs, verifies and parses the remote commands of the
// facegate MQTT contract (unlock, lock, status).
//
// A command is published on "P/cmd/<name>" as the JSON envelope
//
//	{"body":"<JSON text>","sig":"<hex>"}
//
// where body is {"request_id":"...","ts":<unix seconds>,"nonce":"...","seconds":N}
// ("seconds" only for unlock) and
//
//	sig = hex(HMAC-SHA256(key, "P/cmd/<name>" + "\n" + body)).
//
// The signature covers the topic, so a command signed for one device or one
// command name is not valid on another. The package is pure Go and needs no
// broker; the caller checks nonces for replay (facedb.UseNonce) and refuses
// retained messages.
package signedcmd

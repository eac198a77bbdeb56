// Package site makes many doors share one face library through the MQTT
// broker (or broker cluster) they already use.
//
// Each person of a site is one retained, Ed25519-signed record at
// <topic_prefix>/site/<site>/people/<uuid> (Record, Sign, Open). Every door
// subscribes to the site tree (Syncer), verifies each record with the site's
// public key, applies the newest version per person (last writer wins by
// version; equal versions are ordered by the SHA-256 of the signed body) to
// its SQLite face library in one transaction per burst, and keeps the
// records locally so it works offline. Deletion is a signed tombstone.
// Unsigned, badly signed, older or malformed records are refused, counted
// and audited, and change nothing. Each door publishes which library it has
// applied as a retained status message at
// <topic_prefix>/site/<site>/doors/<device_id>.
//
// The private key stays where the site is managed: `facegate site` (Admin)
// signs and publishes records. The syncer uses its own small MQTT client
// rather than the daemon's event link (package mqttlink): the site tree is
// read-mostly retained state, while the link is an ordered event outbox,
// and keeping them apart lets either change without the other.
package site

// Package facedb is facegate's SQLite store: the face library (people and
// their face templates), access events and alarms with the durable MQTT
// outbox, web users, command nonces and the audit log.
//
// The file is opened in WAL mode with foreign keys on, a busy timeout and
// synchronous=FULL, so an event that Record returned survives a power cut.
// Open applies the forward-only migrations of package migrations, keeping a
// copy of an existing file before changing it, and refuses a database from a
// newer facegate or from another application without touching it.
package facedb

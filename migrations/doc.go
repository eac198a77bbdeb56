// Package migrations embeds facegate's forward-only SQLite schema
// migrations, numbered NNNN_name.sql. The facedb package applies them in
// order, each with its PRAGMA user_version bump in one transaction.
package migrations

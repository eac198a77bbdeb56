-- Access events, alarms and the durable MQTT outbox.
-- One per-device sequence counts events and alarms together; it survives
-- restarts and is never reused, so consumers can detect gaps.
CREATE TABLE device_seq (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
);
INSERT INTO device_seq (id, seq) VALUES (1, 0);

CREATE TABLE events (
	seq       INTEGER PRIMARY KEY,  -- from device_seq
	id        TEXT    NOT NULL UNIQUE,  -- ULID
	kind      TEXT    NOT NULL CHECK (kind IN ('event', 'alarm')),
	ts        INTEGER NOT NULL,  -- unix ms
	type      TEXT    NOT NULL,
	person_id INTEGER,           -- no foreign key: history outlives a deleted person
	name      TEXT    NOT NULL DEFAULT '',
	score     REAL,
	reason    TEXT    NOT NULL DEFAULT '',
	source    TEXT    NOT NULL DEFAULT '',
	detail    TEXT    NOT NULL DEFAULT '',  -- JSON object of extra fields
	snapshot  TEXT    NOT NULL DEFAULT ''   -- snapshot JPEG path
);
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_type ON events(kind, type);
CREATE INDEX events_person ON events(person_id);
CREATE VIEW access_events AS SELECT * FROM events WHERE kind = 'event';
CREATE VIEW alarms AS SELECT * FROM events WHERE kind = 'alarm';

CREATE TABLE outbox (
	seq        INTEGER PRIMARY KEY,  -- the event's seq
	kind       TEXT    NOT NULL,
	payload    BLOB    NOT NULL,     -- the exact MQTT JSON
	created_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	sent_at    INTEGER               -- NULL until the broker acknowledged it (QoS 1)
);
CREATE INDEX outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;

CREATE TABLE nonces (
	nonce TEXT PRIMARY KEY,
	ts    INTEGER NOT NULL
);
CREATE INDEX nonces_ts ON nonces(ts);

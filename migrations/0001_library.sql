-- The face library, web users and the audit log.
CREATE TABLE people (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	valid_from  INTEGER,          -- unix ms, NULL = unbounded
	valid_until INTEGER,          -- unix ms, NULL = unbounded
	created_at  INTEGER NOT NULL  -- unix ms
);

CREATE TABLE templates (
	id         INTEGER PRIMARY KEY,
	person_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	model      TEXT    NOT NULL,  -- embedding model id; templates of another model never match
	embedding  BLOB    NOT NULL,  -- little-endian float32, L2-normalised
	quality    REAL    NOT NULL DEFAULT 0,
	thumbnail  BLOB,              -- JPEG face crop
	created_at INTEGER NOT NULL
);
CREATE INDEX templates_person ON templates(person_id);
CREATE INDEX templates_model ON templates(model);

-- A counter bumped on every library change, so every process (the daemon,
-- facegate enrol, the web page) can tell when to reload its gallery.
CREATE TABLE library_rev (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	rev INTEGER NOT NULL
);
INSERT INTO library_rev (id, rev) VALUES (1, 0);
CREATE TRIGGER people_ins AFTER INSERT ON people BEGIN UPDATE library_rev SET rev = rev + 1; END;
CREATE TRIGGER people_upd AFTER UPDATE ON people BEGIN UPDATE library_rev SET rev = rev + 1; END;
CREATE TRIGGER people_del AFTER DELETE ON people BEGIN UPDATE library_rev SET rev = rev + 1; END;
CREATE TRIGGER templates_ins AFTER INSERT ON templates BEGIN UPDATE library_rev SET rev = rev + 1; END;
CREATE TRIGGER templates_del AFTER DELETE ON templates BEGIN UPDATE library_rev SET rev = rev + 1; END;

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	hash       TEXT    NOT NULL,  -- bcrypt
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY,
	ts     INTEGER NOT NULL,
	actor  TEXT    NOT NULL,  -- who: a web user, a command request id, "face:<id>", "system"
	action TEXT    NOT NULL,  -- unlock, lock, release, enrol, delete, login, command, ...
	target TEXT    NOT NULL DEFAULT '',
	detail TEXT    NOT NULL DEFAULT '',
	ok     INTEGER NOT NULL CHECK (ok IN (0, 1))
);
CREATE INDEX audit_ts ON audit(ts);

-- Web sessions, kept across restarts; only the SHA-256 of the cookie token
-- is stored, so a copy of the database gives no usable cookie.
CREATE TABLE sessions (
	token_hash BLOB    PRIMARY KEY,
	user       TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,  -- unix ms
	expires_at INTEGER NOT NULL   -- unix ms
);
CREATE INDEX sessions_user ON sessions(user);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- A password change (facegate passwd, in any process) ends the user's sessions.
CREATE TRIGGER users_password_changed AFTER UPDATE OF hash ON users
	WHEN OLD.hash IS NOT NEW.hash
BEGIN
	DELETE FROM sessions WHERE user = NEW.name;
END;

-- Keys the appliance generates for itself (e.g. for the web page's
-- known-browser cookies).
CREATE TABLE secrets (
	name       TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);

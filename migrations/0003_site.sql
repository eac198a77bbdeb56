-- The local copy of a site's person records (package site): the door keeps
-- working offline and compares every incoming record with what it applied.
-- A record that is not deleted has its person in people/templates; a
-- tombstone (deleted = 1) stays here so an older record cannot bring the
-- person back.
CREATE TABLE site_people (
	uuid       TEXT    PRIMARY KEY,
	version    INTEGER NOT NULL CHECK (version > 0),
	digest     BLOB    NOT NULL,  -- SHA-256 of the signed body: the tie-break between equal versions
	deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
	person_id  INTEGER UNIQUE REFERENCES people(id) ON DELETE SET NULL,
	record     BLOB    NOT NULL,  -- the signed message as received
	applied_at INTEGER NOT NULL   -- unix ms
);

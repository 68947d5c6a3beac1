-- Schema 4: a fencing token for the apply lock, and the notification outbox.

-- Every taking of the lock, takeovers included, gets the next generation
-- (its fencing token). The last one given out is kept here, apart from the
-- lock row (which is deleted when the lock is freed), so that generations
-- only grow. The holder's journal writes are refused unless lock.generation
-- is still its own.
CREATE TABLE lock_generation (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	generation INTEGER NOT NULL
) STRICT;
INSERT INTO lock_generation (id, generation) VALUES (1, 0);

-- 0: a lock taken before schema 4 (no token; no lease fences on it).
ALTER TABLE lock ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- Notices waiting to be delivered, and what became of them. At most one
-- pending notice per dedupe_key. payload is the rendered message (JSON),
-- never a secret. A notice is due while pending, next_attempt_at has come
-- and expires_at (NULL: never) has not.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	dedupe_key      TEXT NOT NULL,
	run_id          TEXT NOT NULL DEFAULT '',
	recipient       TEXT NOT NULL,
	channel         TEXT NOT NULL DEFAULT '',
	item_key        TEXT NOT NULL DEFAULT '',
	payload         BLOB NOT NULL,

	status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'expired')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',

	created_at      TEXT NOT NULL,
	next_attempt_at TEXT NOT NULL,
	expires_at      TEXT,
	delivered_at    TEXT
) STRICT;

CREATE UNIQUE INDEX outbox_pending_key ON outbox (dedupe_key) WHERE status = 'pending';
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_age ON outbox (status, created_at, id);

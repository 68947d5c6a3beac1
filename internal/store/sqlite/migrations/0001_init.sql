-- Schema 1: runs, the journal of actions, and the apply lock.
--
-- Times are UTC text with a fixed nine-digit fraction
-- (2006-01-02T15:04:05.000000000Z), so that they sort as text; a zero time
-- is NULL. Strings are never NULL; '' means unset.

-- One row per apply or undo.
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	command     TEXT NOT NULL,
	plan_id     TEXT NOT NULL DEFAULT '',
	undo_of     TEXT NOT NULL DEFAULT '',
	policy_hash TEXT NOT NULL DEFAULT '',
	caller      TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	started_at  TEXT,
	finished_at TEXT
) STRICT;

CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_plan ON runs (plan_id, started_at);

-- One row per action: written as an intent before the AWS call (outcome ''),
-- completed with the result after it. AUTOINCREMENT: an ID is never reused.
CREATE TABLE journal (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id           TEXT NOT NULL REFERENCES runs (id),
	plan_id          TEXT NOT NULL DEFAULT '',
	action_id        TEXT NOT NULL DEFAULT '',
	action           TEXT NOT NULL,

	account_id       TEXT NOT NULL DEFAULT '',
	user_name        TEXT NOT NULL DEFAULT '',
	access_key_id    TEXT NOT NULL DEFAULT '',

	rule             TEXT NOT NULL DEFAULT '',
	stage            TEXT NOT NULL DEFAULT '',
	reason           TEXT NOT NULL DEFAULT '',
	key_status       TEXT NOT NULL DEFAULT '',
	key_created_at   TEXT,
	key_last_used_at TEXT,

	caller           TEXT NOT NULL DEFAULT '',
	intent_at        TEXT,

	outcome          TEXT NOT NULL DEFAULT '',
	detail           TEXT NOT NULL DEFAULT '',
	request_id       TEXT NOT NULL DEFAULT '',
	result_at        TEXT
) STRICT;

CREATE INDEX journal_by_run ON journal (run_id, id);
CREATE INDEX journal_by_plan ON journal (plan_id, id);
CREATE INDEX journal_by_key ON journal (account_id, access_key_id, id);

-- The apply lock: no row when free, one row (id 1) when held. The holder
-- refreshes heartbeat_at while it lives; a row whose heartbeat is older than
-- the taker's staleAfter is taken over.
CREATE TABLE lock (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	holder       TEXT NOT NULL,
	acquired_at  TEXT NOT NULL,
	heartbeat_at TEXT NOT NULL
) STRICT;

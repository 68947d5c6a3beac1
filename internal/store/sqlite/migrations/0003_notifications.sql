-- Schema 3: what keywarden told whom. One row per item of a digest and
-- recipient, written after the delivery (sent or failed), so that a warning
-- is not repeated to the same recipient within renotify_after.
--
-- No foreign key to runs: a notification may come from a run that is not an
-- apply (a scheduled scan), and its record outlives nothing it refers to.
CREATE TABLE notifications (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id        TEXT NOT NULL DEFAULT '',
	recipient     TEXT NOT NULL,
	channel       TEXT NOT NULL DEFAULT '',
	item_key      TEXT NOT NULL,

	account_id    TEXT NOT NULL DEFAULT '',
	user_name     TEXT NOT NULL DEFAULT '',
	access_key_id TEXT NOT NULL DEFAULT '',

	outcome       TEXT NOT NULL,
	detail        TEXT NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	at            TEXT
) STRICT;

CREATE INDEX notifications_by_item ON notifications (recipient, item_key, outcome, at);
CREATE INDEX notifications_by_run ON notifications (run_id, id);

-- Schema 5: what each scan found, for trends and drill-down. One row per
-- scan (its accounts and finding counts as JSON: they are read whole),
-- and one row per finding. Never a secret: keys are named by their ID.
CREATE TABLE snapshots (
	run_id      TEXT PRIMARY KEY,
	taken_at    TEXT NOT NULL,
	trigger     TEXT NOT NULL DEFAULT '',
	mode        TEXT NOT NULL DEFAULT '',
	policy_hash TEXT NOT NULL DEFAULT '',
	accounts    TEXT NOT NULL, -- JSON array of store.SnapshotAccount
	counts      TEXT NOT NULL  -- JSON array of store.SnapshotCount
) STRICT;

CREATE INDEX snapshots_by_time ON snapshots (taken_at, run_id);

CREATE TABLE snapshot_findings (
	run_id  TEXT NOT NULL REFERENCES snapshots (run_id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,
	finding TEXT NOT NULL, -- JSON store.SnapshotFinding
	PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

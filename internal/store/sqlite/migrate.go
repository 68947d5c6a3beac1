package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema migrations, NNNN_name.sql, applied in order.
// A migration is never edited once released; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// applicationID marks an SQLite file as a keywarden state store ("KWST"),
// in the database header (PRAGMA application_id).
const applicationID = 0x4B575354

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their versions must
// run 1, 2, 3… without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for i, n := range names { // fs.Glob sorts
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want a name starting %04d_", base, i+1)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	return ms, nil
}

// migrate brings the schema up to date in one transaction, which also keeps
// two keywardens opening a new file at once from both migrating it.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("state store schema: %w", err)
	}
	latest := ms[len(ms)-1].version

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open state store %s: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()

	var appID int64
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("open state store %s: %w", s.path, err)
	}
	switch appID {
	case applicationID:
	case 0:
		// A new file, or one that is not ours: refuse to add tables to a
		// database that already has some.
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&n)
		if err != nil {
			return fmt.Errorf("open state store %s: %w", s.path, err)
		}
		if n > 0 {
			return fmt.Errorf("open state store %s: not a keywarden state store (an SQLite database of something else)", s.path)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return fmt.Errorf("open state store %s: %w", s.path, err)
		}
	default:
		return fmt.Errorf("open state store %s: not a keywarden state store (SQLite application ID %#x)", s.path, appID)
	}

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("open state store %s: %w", s.path, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("open state store %s: %w", s.path, err)
	}
	if current > latest {
		return fmt.Errorf("state store %s was written by a newer keywarden (schema %d, this one knows up to %d); upgrade keywarden", s.path, current, latest)
	}
	if current == latest {
		return tx.Commit() // nothing changed; commit only ends the transaction
	}
	now := formatTime(time.Now())
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("state store %s: migrate to schema %d (%s): %w", s.path, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, now); err != nil {
			return fmt.Errorf("state store %s: migrate to schema %d (%s): %w", s.path, m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state store %s: migrate to schema %d: %w", s.path, latest, err)
	}
	return nil
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so that stored
// times sort as text. Times are stored in UTC.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime is t as stored: UTC text, or NULL for the zero time.
func formatTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Format(timeLayout), Valid: true}
}

// parseTime reads a stored time back, in UTC; NULL is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}

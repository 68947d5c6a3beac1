// Package sqlite is keywarden's default state store: one SQLite file, through
// a pure-Go driver (modernc.org/sqlite, no cgo).
//
// The file is private to its owner: Open creates a missing directory with
// mode 0700 and the file with mode 0600, and restricts an existing file (and
// its -wal and -shm companions) that others could read to 0600.
//
// Every write is durable when its method returns (WAL journal,
// synchronous=FULL): an intent recorded before an AWS call survives a crash
// during the call. The schema is migrated on Open by the migrations embedded
// in the binary; a file written by a newer keywarden is refused rather than
// misread.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/keywarden/keywarden/internal/store"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// EnvState is the environment variable that names the state store when
// --state is not given.
const EnvState = "KEYWARDEN_STATE"

// DefaultPath is where the state store lives unless told otherwise:
// $KEYWARDEN_STATE if set, else state.db in keywarden's directory under the
// user's configuration directory (os.UserConfigDir): on Linux
// ~/.config/keywarden/state.db (or $XDG_CONFIG_HOME/keywarden/state.db), on
// macOS ~/Library/Application Support/keywarden/state.db, on Windows
// %AppData%\keywarden\state.db.
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvState); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find a place for the state store: %w (set --state or %s)", err, EnvState)
	}
	return filepath.Join(dir, "keywarden", "state.db"), nil
}

// Store is a state store in one SQLite file. It is safe for concurrent use,
// and several Stores (in one process or several) may share a file.
type Store struct {
	db   *sql.DB
	path string

	mu     sync.Mutex
	closed bool
	held   map[*lease]struct{} // leases taken through this Store
	wg     sync.WaitGroup      // Lock calls and heartbeats in flight
}

var _ store.Store = (*Store)(nil)

// Open opens the state store at path, creating it if it does not exist, and
// brings its schema up to date. It fails if the file is not a keywarden state
// store or was written by a newer keywarden.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open state store: no path (set --state or " + EnvState + ")")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	s := &Store{db: db, path: abs, held: map[*lease]struct{}{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the absolute path of the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the locks still held through s and closes the file.
// Calling Close again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	held := make([]*lease, 0, len(s.held))
	for h := range s.held {
		held = append(held, h)
	}
	s.mu.Unlock()

	var errs []error
	for _, h := range held {
		if err := h.Release(); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close state store %s: %w", s.path, err))
	}
	return errors.Join(errs...)
}

// dsn is the driver's data source name for the file at abs: a file: URI (so
// that any character may appear in the path) with the connection settings.
// Every pooled connection runs the pragmas:
//   - busy_timeout: wait up to 5 s for another writer, in this process or
//     another, instead of failing at once;
//   - journal_mode=WAL: readers do not block the writer;
//   - synchronous=FULL: a commit is on disk before it returns;
//   - foreign_keys: entries belong to runs.
//
// _txlock=immediate makes every transaction take the write lock at BEGIN,
// so that two read-then-write transactions cannot deadlock.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x → /C:/x
	}
	u := url.URL{Scheme: "file", Path: p}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// prepareFile makes sure the store's file exists, is private to its owner and
// is an SQLite database (or empty), before the driver opens it. SQLite
// creates the -wal and -shm files with the mode of the database file.
func prepareFile(abs string) error {
	dir := filepath.Dir(abs)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if fi.Size() > 0 {
		head := make([]byte, len(sqliteHeader))
		if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteHeader) {
			return errors.New("not a keywarden state store (not an SQLite database)")
		}
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if err := restrict(p); err != nil {
			return err
		}
	}
	return nil
}

// restrict makes the file at p, if it exists, private to its owner.
func restrict(p string) error {
	if runtime.GOOS == "windows" {
		return nil // no Unix modes; the user's profile directory is private
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return os.Chmod(p, 0o600)
}

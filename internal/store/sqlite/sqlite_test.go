package sqlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
	"github.com/keywarden/keywarden/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

// TestCopy: one SQLite state copied into another and on into a third
// (dynamo's tests copy into DynamoDB and back).
func TestCopy(t *testing.T) {
	storetest.RunCopy(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	}, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

func TestConformanceShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) func(*testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "state.db")
		return func(t *testing.T) store.Store { return open(t, path) }
	})
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func newRun(t *testing.T, s store.Store, id string) store.Run {
	t.Helper()
	r := store.Run{ID: id, Command: "apply", PlanID: "plan-1", Status: store.RunRunning, StartedAt: t0}
	if err := s.CreateRun(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	dir := filepath.Join(t.TempDir(), "keywarden")
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	r := newRun(t, s, "run-1")
	if _, err := s.RecordIntent(t.Context(), store.Entry{RunID: r.ID, Action: store.ActionNotify}); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode = %v, want 0700", got)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestFileModeRestricted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	newRun(t, s, "run-1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if got := mode(t, path); got != 0o600 {
		t.Errorf("mode of a state store others could read, after Open = %v, want 0600", got)
	}
	if got := mode(t, dir); got != 0o755 {
		t.Errorf("mode of an existing directory = %v, want it unchanged (0755)", got)
	}
	if _, err := s.GetRun(t.Context(), "run-1"); err != nil {
		t.Error(err)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20 d")
	path := filepath.Join(dir, "state?.db")
	s := open(t, path)
	newRun(t, s, "run-1")
	if s.Path() != path {
		t.Errorf("Path = %q, want %q", s.Path(), path)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !strings.Contains(strings.Join(names, " "), "state?.db") {
		t.Errorf("files in %s = %v, want state?.db", dir, names)
	}
}

func TestEmptyPath(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\"): no error")
	}
}

// rawDB opens the file beside the store, as another program would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for i := range 3 {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			newRun(t, s, "run-1")
		}
		if _, err := s.GetRun(t.Context(), "run-1"); err != nil {
			t.Errorf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	migrations, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(migrations) == 0 {
		t.Fatalf("migrations: %v, %v", migrations, err)
	}
	db := rawDB(t, path)
	var rows, versions int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || versions != len(migrations) {
		t.Errorf("schema_migrations has %d rows (%d versions), want one per migration (%d)", rows, versions, len(migrations))
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', '2030-01-01T00:00:00.000000000Z')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = sqlite.Open(t.Context(), path)
	if err == nil {
		t.Fatal("Open of a store with a newer schema: no error")
	}
	for _, want := range []string{path, "newer keywarden", "schema 999", "upgrade keywarden"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestNotAStore(t *testing.T) {
	dir := t.TempDir()

	text := filepath.Join(dir, "policy.yaml")
	content := []byte("rules:\n  max_age: 90d\n")
	if err := os.WriteFile(text, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(t.Context(), text); err == nil || !strings.Contains(err.Error(), "not a keywarden state store") {
		t.Errorf("Open of a text file = %v, want not a keywarden state store", err)
	}
	if got, _ := os.ReadFile(text); !bytes.Equal(got, content) {
		t.Errorf("Open changed a file that is not a state store: %q", got)
	}

	other := filepath.Join(dir, "other.db")
	db := rawDB(t, other)
	if _, err := db.Exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(t.Context(), other); err == nil || !strings.Contains(err.Error(), "not a keywarden state store") {
		t.Errorf("Open of another program's database = %v, want not a keywarden state store", err)
	}
}

func TestUnknownRun(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.RecordIntent(t.Context(), store.Entry{RunID: "nope", Action: store.ActionDelete}); err == nil {
		t.Error("RecordIntent for a run that does not exist: no error")
	}
}

func TestTimesInUTC(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	r := store.Run{ID: "run-1", Command: "apply", Status: store.RunRunning, StartedAt: t0.In(time.FixedZone("CET", 3600))}
	if err := s.CreateRun(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StartedAt.Location() != time.UTC || !got.StartedAt.Equal(t0) {
		t.Errorf("StartedAt = %v, want %v in UTC", got.StartedAt, t0)
	}
	if !got.FinishedAt.IsZero() {
		t.Errorf("FinishedAt = %v, want zero", got.FinishedAt)
	}
}

// TestLockAcrossStores: two Stores on one file, as two keywarden processes.
func TestLockAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, b := open(t, path), open(t, path)
	ctx := t.Context()

	unlockA, err := store.Lock(ctx, a, "run-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Lock(ctx, b, "run-b", time.Hour); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Lock through the second store = %v, want ErrLocked", err)
	}
	if err := unlockA(); err != nil {
		t.Fatal(err)
	}
	unlockB, err := store.Lock(ctx, b, "run-b", time.Hour)
	if err != nil {
		t.Fatalf("Lock after the first store unlocked: %v", err)
	}
	if err := unlockB(); err != nil {
		t.Fatal(err)
	}

	// Both at once, from many goroutines: one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := store.Lock(ctx, s, "run-x", time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if !errors.Is(err, store.ErrLocked) {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || len(errs) > 0 {
		t.Errorf("%d Locks won, errors %v; want 1 and none", won, errs)
	}
}

func TestCloseReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := store.Lock(t.Context(), a, "run-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Errorf("unlock after Close: %v", err)
	}
	b := open(t, path)
	unlockB, err := store.Lock(t.Context(), b, "run-b", time.Hour)
	if err != nil {
		t.Fatalf("Lock after the holder's store was closed: %v", err)
	}
	unlockB()
	if _, err := store.Lock(t.Context(), a, "run-a", time.Hour); err == nil {
		t.Error("Lock through a closed store: no error")
	}
}

// TestIntentDurable: an intent is visible to another process as soon as
// RecordIntent returns, without a Close: after a crash mid-call, the next
// apply finds it pending.
func TestIntentDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a := open(t, path)
	r := newRun(t, a, "run-1")
	id, err := a.RecordIntent(t.Context(), store.Entry{
		RunID: r.ID, PlanID: r.PlanID, ActionID: "a-1", Action: store.ActionDeactivate,
		AccountID: "222222222222", AccessKeyID: "AKIAEXAMPLE000000001", IntentAt: t0,
	})
	if err != nil {
		t.Fatal(err)
	}

	b := open(t, path)
	es, err := b.PlanEntries(t.Context(), r.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].ID != id || es[0].Outcome != store.OutcomePending {
		t.Fatalf("entries seen by another store = %+v, want entry %d pending", es, id)
	}
	if err := b.RecordResult(t.Context(), id, store.Result{Outcome: store.OutcomeAlreadyDone, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := a.DeactivatedAt(t.Context(), "222222222222", "AKIAEXAMPLE000000001"); err != nil || !ok || !at.Equal(t0.Add(time.Hour)) {
		t.Errorf("DeactivatedAt through the first store = %v, %v, %v", at, ok, err)
	}
}

// TestNoSecretsWritten: the store writes only what it is given. Secrets in
// the process's environment (the AWS credentials keywarden runs with) never
// reach the file, while the text it was given does (so the scan can see).
func TestNoSecretsWritten(t *testing.T) {
	secrets := map[string]string{
		"AWS_SECRET_ACCESS_KEY": "kwFAKEsecret/K7MDENG/bPxRfiCYzzzzzzzzzzzz",
		"AWS_SESSION_TOKEN":     "kwFAKEsessiontokenIQoJb3JpZ2luX2VjEMz//////////wEaCXVz",
		"AWS_ACCESS_KEY_ID":     "AKIAKWFAKEENVKEY0001",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	unlock, err := store.Lock(ctx, s, "run-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(t, s, "run-1")
	const reason, detail = "reason-marker-7c1d: key is 123 days old", "detail-marker-9e2f: rotated; new key in Secrets Manager"
	id, err := s.RecordIntent(ctx, store.Entry{
		RunID: r.ID, PlanID: r.PlanID, ActionID: "a-1", Action: store.ActionDeactivate,
		AccountID: "222222222222", UserName: "deploy-bot", AccessKeyID: "AKIAEXAMPLE000000001",
		Rule: "max_age", Stage: "deactivate", Reason: reason, KeyStatus: "Active",
		Caller: "arn:aws:sts::111111111111:assumed-role/keywarden-hub/ci", IntentAt: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, Detail: detail, RequestID: "req-1", At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r.ID, store.RunDone, t0); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var all []byte
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, given := range []string{reason, detail} {
		if !bytes.Contains(all, []byte(given)) {
			t.Fatalf("%q, given to the store, is not in its files: the scan does not see the data", given)
		}
	}
	for k, v := range secrets {
		if bytes.Contains(all, []byte(v)) {
			t.Errorf("the value of %s is in the state store's files", k)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(sqlite.EnvState, "/srv/keywarden/state.db")
	if got, err := sqlite.DefaultPath(); err != nil || got != "/srv/keywarden/state.db" {
		t.Errorf("DefaultPath with %s set = %q, %v", sqlite.EnvState, got, err)
	}

	if runtime.GOOS != "linux" {
		return
	}
	t.Setenv(sqlite.EnvState, "")
	t.Setenv("XDG_CONFIG_HOME", "/home/kw/.config")
	if got, err := sqlite.DefaultPath(); err != nil || got != "/home/kw/.config/keywarden/state.db" {
		t.Errorf("DefaultPath = %q, %v; want /home/kw/.config/keywarden/state.db", got, err)
	}
}

// TestUpgradeFromSchema3: a file written before fencing and the outbox is
// migrated in place: its runs stay, a lock held then (no token) still
// holds until it is stale, and the lease that takes it over gets token 1.
func TestUpgradeFromSchema3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawDB(t, path)
	stmts := []string{
		"PRAGMA application_id = 1264014164", // "KWST"
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
	}
	for i, name := range []string{"0001_init", "0002_lock_owner", "0003_notifications"} {
		b, err := os.ReadFile(filepath.Join("migrations", name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b),
			"INSERT INTO schema_migrations VALUES ("+string(rune('1'+i))+", '"+name+"', '2026-01-01T00:00:00.000000000Z')")
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	stmts = append(stmts,
		`INSERT INTO runs (id, command, status, started_at) VALUES ('run-old', 'apply', 'running', '2026-01-01T00:00:00.000000000Z')`,
		`INSERT INTO lock (id, holder, acquired_at, heartbeat_at) VALUES (1, 'run-old', '`+now+`', '`+now+`')`,
	)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := open(t, path)
	if _, err := s.GetRun(t.Context(), "run-old"); err != nil {
		t.Errorf("a run written before the upgrade: %v", err)
	}
	if _, err := s.Acquire(t.Context(), "run-new", time.Hour); !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "run-old") {
		t.Fatalf("Acquire of a lock held before the upgrade = %v, want ErrLocked by run-old", err)
	}
	time.Sleep(20 * time.Millisecond)
	l, err := s.Acquire(t.Context(), "run-new", 10*time.Millisecond)
	if err != nil {
		t.Fatalf("take over a stale lock held before the upgrade: %v", err)
	}
	if l.Token() != 1 {
		t.Errorf("first token after the upgrade = %d, want 1", l.Token())
	}
	if err := l.Check(t.Context()); err != nil {
		t.Error(err)
	}
	if err := l.Release(); err != nil {
		t.Error(err)
	}
	if _, err := s.EnqueueNotice(t.Context(), store.Notice{Recipient: "email:a@example.com", ItemKey: "i", Payload: []byte(`{}`)}); err != nil {
		t.Errorf("EnqueueNotice after the upgrade: %v", err)
	}
}

// TestLeaseOfClosedStore: Close releases a lease; its Check and writes say
// it was released, and its Release then succeeds.
func TestLeaseOfClosedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Acquire(t.Context(), "run-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(t.Context()); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Check after Close = %v, want ErrLockLost", err)
	}
	if err := l.CreateRun(t.Context(), store.Run{ID: "run-a", Command: "apply", Status: store.RunRunning, StartedAt: t0}); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("CreateRun after Close = %v, want ErrLockLost", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("Release after Close: %v", err)
	}
	b := open(t, path)
	lb, err := b.Acquire(t.Context(), "run-b", time.Hour)
	if err != nil {
		t.Fatalf("Acquire after the holder's store was closed: %v", err)
	}
	if lb.Token() <= l.Token() {
		t.Errorf("token %d after %d, want greater", lb.Token(), l.Token())
	}
	lb.Release()
}

package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/dynamo"
	"github.com/keywarden/keywarden/internal/store/sqlite"
	"github.com/keywarden/keywarden/internal/store/storetest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	moto.StopShared()
	if code == 0 && !testing.Short() && flagRun() == "" {
		if err := checkIAMDocs(stateDoc); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// flagRun is the -test.run pattern: the IAM check needs every test run.
func flagRun() string {
	if f := flag.Lookup("test.run"); f != nil {
		return f.Value.String()
	}
	return ""
}

// The IAM actions the store's calls needed in the tests, to hold the
// policy of docs/state.md to what the code does.
var (
	actionsMu sync.Mutex
	actions   = map[string]bool{}
)

// checkIAMDocs: the IAM actions in docs/state.md are those the store's
// calls needed in the tests, no fewer and no more.
func checkIAMDocs(doc []byte) error {
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`"dynamodb:([A-Za-z]+)"`).FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	actionsMu.Lock()
	defer actionsMu.Unlock()
	var missing, unused []string
	for a := range actions {
		if !documented[a] {
			missing = append(missing, a)
		}
	}
	for a := range documented {
		if !actions[a] {
			unused = append(unused, a)
		}
	}
	sort.Strings(missing)
	sort.Strings(unused)
	if len(missing) > 0 || len(unused) > 0 {
		return fmt.Errorf("docs/state.md's IAM policies: missing %v (called), needless %v (never called)", missing, unused)
	}
	return nil
}

// stateDoc is docs/state.md, read by a test (so that the test cache
// knows the file) for TestMain's check of its IAM policies.
var stateDoc []byte

func TestStateDoc(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/state.md")
	if err != nil {
		t.Fatal(err)
	}
	stateDoc = doc
	for _, want := range []string{"keywarden state init --state dynamodb://", "dynamodb:ConditionCheckItem", "`pk`", "`sk`"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/state.md does not say %q", want)
		}
	}
}

// recordCalls is an API option that notes the IAM actions each call
// needs: its operation's, or for a transaction each of its operations'.
func recordCalls(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("recordCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			actionsMu.Lock()
			if tx, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
				for _, op := range tx.TransactItems {
					switch {
					case op.Put != nil:
						actions["PutItem"] = true
					case op.Update != nil:
						actions["UpdateItem"] = true
					case op.Delete != nil:
						actions["DeleteItem"] = true
					case op.ConditionCheck != nil:
						actions["ConditionCheckItem"] = true
					}
				}
			} else {
				actions[middleware.GetOperationName(ctx)] = true
			}
			actionsMu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// motoConfig is an SDK configuration for moto at url: fixed fake
// credentials (moto checks none), a fixed region, and one request at a
// time (serialHTTP).
func motoConfig(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "moto-does-not-check", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   serialHTTP,
		APIOptions:   []func(*middleware.Stack) error{recordCalls},
	}
}

// serialHTTP sends one request at a time, and reads its whole answer
// before the next. moto's server answers requests in threads without a
// lock, so that, unlike DynamoDB, it does not apply a conditional write
// atomically (two conditional puts of one new item both succeed), nor a
// transaction in isolation (one canceled restores a copy of the whole
// table taken when it began, undoing what others wrote meanwhile). One
// request at a time gives DynamoDB's guarantees for each request; the
// store's requests still interleave as they would against DynamoDB.
var serialHTTP = &http.Client{Transport: &serialTransport{rt: http.DefaultTransport}}

type serialTransport struct {
	mu sync.Mutex
	rt http.RoundTripper
}

func (t *serialTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// direct is a client for the test's own calls, which are not the store's.
func direct(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.APIOptions = nil })
}

var (
	tableSeq  atomic.Int64
	nameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// newTable creates a state table of its own for t, named after it.
func newTable(t *testing.T, srv *moto.Server) (aws.Config, string) {
	t.Helper()
	name := nameChars.ReplaceAllString(t.Name(), "-")
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	name = fmt.Sprintf("kw-%d-%s", tableSeq.Add(1), name)
	cfg := motoConfig(srv.URL)
	if err := dynamo.CreateTable(t.Context(), cfg, name); err != nil {
		t.Fatal(err)
	}
	return cfg, name
}

func open(t *testing.T, cfg aws.Config, table string) *dynamo.Store {
	t.Helper()
	s, err := dynamo.Open(t.Context(), cfg, table)
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
	srv := moto.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg, table := newTable(t, srv)
		return open(t, cfg, table)
	})
}

func TestConformanceShared(t *testing.T) {
	srv := moto.Shared(t)
	storetest.RunShared(t, func(t *testing.T) func(*testing.T) store.Store {
		cfg, table := newTable(t, srv)
		return func(t *testing.T) store.Store { return open(t, cfg, table) }
	})
}

// TestCopyRoundTrip: a SQLite state copied into DynamoDB (moto) and back
// (keywarden state migrate) keeps everything.
func TestCopyRoundTrip(t *testing.T) {
	srv := moto.Shared(t)
	openSQLite := func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.RunCopy(t, openSQLite, func(t *testing.T) store.Store {
		cfg, table := newTable(t, srv)
		return open(t, cfg, table)
	})
}

func TestOpenMissingTable(t *testing.T) {
	srv := moto.Shared(t)
	_, err := dynamo.Open(t.Context(), motoConfig(srv.URL), "keywarden-nope")
	if err == nil {
		t.Fatal("Open of a missing table: no error")
	}
	for _, want := range []string{"keywarden-nope", "does not exist", "keywarden state init --state dynamodb://keywarden-nope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open of a missing table: %q does not say %q", err, want)
		}
	}
}

func TestOpenWrongKeySchema(t *testing.T) {
	srv := moto.Shared(t)
	cfg := motoConfig(srv.URL)
	db := direct(cfg)
	for name, keys := range map[string][]types.KeySchemaElement{
		"hash-only": {{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		"other-names": {
			{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	} {
		var defs []types.AttributeDefinition
		for _, k := range keys {
			defs = append(defs, types.AttributeDefinition{AttributeName: k.AttributeName, AttributeType: types.ScalarAttributeTypeS})
		}
		if _, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{TableName: aws.String(name), KeySchema: keys,
			AttributeDefinitions: defs, BillingMode: types.BillingModePayPerRequest}); err != nil {
			t.Fatal(err)
		}
		_, err := dynamo.Open(t.Context(), cfg, name)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not a keywarden state table") {
			t.Errorf("Open(%s) = %v, want an error saying it is not a state table", name, err)
		}
		if err := dynamo.CreateTable(t.Context(), cfg, name); err == nil || !strings.Contains(err.Error(), "not a keywarden state table") {
			t.Errorf("CreateTable(%s) over another table = %v, want an error", name, err)
		}
	}
}

func TestCreateTable(t *testing.T) {
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	db := direct(cfg)
	out, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want on demand", tb.BillingModeSummary)
	}
	if tb.SSEDescription == nil || tb.SSEDescription.Status != types.SSEStatusEnabled || tb.SSEDescription.SSEType != types.SSETypeKms {
		t.Errorf("SSE = %+v, want KMS, enabled", tb.SSEDescription)
	}
	if !aws.ToBool(tb.DeletionProtectionEnabled) {
		t.Error("deletion protection is off")
	}
	if len(tb.GlobalSecondaryIndexes) != 0 || len(tb.LocalSecondaryIndexes) != 0 {
		t.Errorf("indexes: %v %v, want none", tb.GlobalSecondaryIndexes, tb.LocalSecondaryIndexes)
	}
	cb, err := db.DescribeContinuousBackups(t.Context(), &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if p := cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription; p == nil || p.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
		t.Errorf("point-in-time recovery = %+v, want enabled", p)
	}
	// Again: the table is kept, with what it holds.
	s := open(t, cfg, table)
	if err := s.CreateRun(t.Context(), store.Run{ID: "run-1", Command: "apply", Status: store.RunRunning, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(t.Context(), cfg, table); err != nil {
		t.Fatalf("CreateTable of an existing state table: %v", err)
	}
	if _, err := s.GetRun(t.Context(), "run-1"); err != nil {
		t.Errorf("GetRun after a second CreateTable: %v", err)
	}
	if err := dynamo.CreateTable(t.Context(), cfg, "no/slashes"); err == nil {
		t.Error("CreateTable with a bad name: no error")
	}
}

func TestNewerLayoutRefused(t *testing.T) {
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	open(t, cfg, table) // writes the layout version
	db := direct(cfg)
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "META"}, "sk": &types.AttributeValueMemberS{Value: "SCHEMA"},
		"version": &types.AttributeValueMemberN{Value: "99"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dynamo.Open(t.Context(), cfg, table); err == nil || !strings.Contains(err.Error(), "newer keywarden") {
		t.Errorf("Open of a table of a newer layout = %v, want refused", err)
	}
}

func TestTableFromState(t *testing.T) {
	for _, tt := range []struct {
		state, table string
		ok, err      bool
	}{
		{"dynamodb://keywarden-state", "keywarden-state", true, false},
		{"dynamodb://a.b_c-1", "a.b_c-1", true, false},
		{"dynamodb://", "", true, true},
		{"dynamodb://ab", "", true, true},
		{"dynamodb://a/b", "", true, true},
		{"/home/me/.config/keywarden/state.db", "", false, false},
		{"state.db", "", false, false},
	} {
		table, ok, err := dynamo.TableFromState(tt.state)
		if table != tt.table || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("TableFromState(%q) = %q, %v, %v; want %q, %v, error %v", tt.state, table, ok, err, tt.table, tt.ok, tt.err)
		}
	}
}

// lockItem writes the lock item as a holder elsewhere would have left it.
func lockItem(t *testing.T, cfg aws.Config, table, holder string, pid int, hostID string, generation int) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	db := direct(cfg)
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v int) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": s("LOCK"), "sk": s("LOCK"), "holder": s(holder), "acquired_at": s(now), "heartbeat_at": s(now),
		"pid": n(pid), "host": s("somewhere"), "host_id": s(hostID), "generation": n(generation),
	}}); err != nil {
		t.Fatal(err)
	}
}

// hostIDOf reads the host_id the store wrote for this process.
func hostIDOf(t *testing.T, cfg aws.Config, table string) string {
	t.Helper()
	out, err := direct(cfg).GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "LOCK"}, "sk": &types.AttributeValueMemberS{Value: "LOCK"}}})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := out.Item["host_id"].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("lock item without host_id: %v", out.Item)
	}
	return v.Value
}

// deadPID is the ID of a process of this host that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no process to wait for: %v", err)
	}
	return cmd.Process.Pid
}

// TestDeadHolderTakeover: a lock left by a process of this host that is
// gone is taken over at once; one of a process elsewhere (another host,
// another boot, another PID namespace) only once stale.
func TestDeadHolderTakeover(t *testing.T) {
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	s := open(t, cfg, table)
	l, err := s.Acquire(t.Context(), "run-probe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	here := hostIDOf(t, cfg, table)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	pid := deadPID(t)

	lockItem(t, cfg, table, "run-elsewhere", pid, here+" elsewhere", 7)
	_, err = s.Acquire(t.Context(), "run-2", time.Hour)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "run-elsewhere") {
		t.Fatalf("Acquire over a live-looking holder elsewhere = %v, want ErrLocked", err)
	}

	lockItem(t, cfg, table, "run-dead", pid, here, 7)
	l2, err := s.Acquire(t.Context(), "run-2", time.Hour)
	if err != nil {
		t.Fatalf("Acquire over a dead holder of this host: %v", err)
	}
	if l2.Token() != 8 {
		t.Errorf("token after the takeover = %d, want 8", l2.Token())
	}
	if err := l2.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestLongKeys: keys longer than DynamoDB allows in a key are stored by
// their hash, and read back whole.
func TestLongKeys(t *testing.T) {
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	s := open(t, cfg, table)
	ctx := t.Context()
	long := strings.Repeat("x", 3000)
	r := store.Run{ID: "run-" + long, Command: "apply", PlanID: "plan-" + long, Status: store.RunRunning, StartedAt: time.Now().UTC()}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRun(ctx, r.ID); err != nil || got.ID != r.ID {
		t.Errorf("GetRun of a long ID = %v, %v", got.ID == r.ID, err)
	}
	if rs, err := s.RunsForPlan(ctx, r.PlanID); err != nil || len(rs) != 1 {
		t.Errorf("RunsForPlan of a long plan ID = %d runs, %v; want 1", len(rs), err)
	}
	id, err := s.RecordIntent(ctx, store.Entry{RunID: r.ID, PlanID: r.PlanID, Action: store.ActionDeactivate, AccountID: "111111111111", AccessKeyID: "AKIA" + long})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.DeactivatedAt(ctx, "111111111111", "AKIA"+long); err != nil || !ok {
		t.Errorf("DeactivatedAt of a long key ID = %v, %v; want true", ok, err)
	}
	n := store.Notice{Recipient: "email:" + long, ItemKey: long, Payload: []byte(`{}`)}
	a, err := s.EnqueueNotice(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.EnqueueNotice(ctx, n); err != nil || b != a {
		t.Errorf("EnqueueNotice of a long duplicate = %d, %v; want %d", b, err, a)
	}
	at := time.Now().UTC()
	if _, err := s.RecordNotification(ctx, store.Notification{Recipient: n.Recipient, ItemKey: long, Outcome: store.NotificationSent, At: at}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.NotifiedAt(ctx, n.Recipient, long); err != nil || !ok || !got.Equal(at) {
		t.Errorf("NotifiedAt of a long item = %v, %v, %v; want %v", got, ok, err, at)
	}
}

// TestPagination: lists longer than a page of DynamoDB (1 MB) come whole.
func TestPagination(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few MB")
	}
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	s := open(t, cfg, table)
	ctx := t.Context()
	r := store.Run{ID: "run-1", Command: "apply", PlanID: "plan-1", Status: store.RunRunning, StartedAt: time.Now()}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	const n = 60
	reason := strings.Repeat("r", 30<<10) // 30 KB an entry: 1.8 MB in all
	var want []int64
	for i := range n {
		id, err := s.RecordIntent(ctx, store.Entry{RunID: r.ID, PlanID: r.PlanID, Action: store.ActionNotify, ActionID: fmt.Sprint(i), Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	for name, list := range map[string]func() ([]store.Entry, error){
		"Entries":     func() ([]store.Entry, error) { return s.Entries(ctx, r.ID) },
		"PlanEntries": func() ([]store.Entry, error) { return s.PlanEntries(ctx, r.PlanID) },
	} {
		es, err := list()
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range es {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d entries, want %d in order", name, len(got), len(want))
		}
	}
}

// TestSnapshotSummaryTooLarge: a snapshot whose summary cannot fit in one
// DynamoDB item is refused, saying why, and leaves none of its findings
// behind.
func TestSnapshotSummaryTooLarge(t *testing.T) {
	srv := moto.Shared(t)
	cfg, table := newTable(t, srv)
	s := open(t, cfg, table)
	ctx := t.Context()
	snap := store.Snapshot{RunID: "run-big", At: time.Now().UTC(), Trigger: "schedule", Mode: "report",
		Findings: []store.SnapshotFinding{{AccountID: "111111111111", UserName: "alice", Rule: "max-age", Severity: "high"}}}
	// Account IDs that do not repeat, so that the summary compresses
	// little, as a real one does.
	x := uint64(88172645463325252)
	for i := range 20000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		id := fmt.Sprintf("%012d", x%1e12)
		snap.Accounts = append(snap.Accounts, store.SnapshotAccount{ID: id, Name: fmt.Sprintf("account-%d", i), Status: "ok", Users: 40, KeysActive: 50})
		for _, rule := range []string{"max-age", "unused", "root-key"} {
			snap.Counts = append(snap.Counts, store.SnapshotCount{AccountID: id, Rule: rule, Severity: "high", N: int(x % 17)})
		}
	}
	err := s.SaveSnapshot(ctx, snap)
	if err == nil || !strings.Contains(err.Error(), "more than a DynamoDB item holds") {
		t.Fatalf("SaveSnapshot of 20,000 accounts: %v, want it refused as too large", err)
	}
	out, err := direct(cfg).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if pk, ok := it["pk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "SNAP") {
			t.Errorf("item %s left behind by a refused snapshot", pk.Value)
		}
	}
}

// Package dynamo is keywarden's shared state store: one DynamoDB table that
// laptops, CI and a scheduled Lambda use together, as Terraform shares its
// state. It implements store.Store with the same semantics as the SQLite
// store and passes the same conformance suite (storetest).
//
// # Table
//
// One table, created by CreateTable ('keywarden state init'): partition key
// pk (S), sort key sk (S), on-demand billing, server-side encryption with
// the AWS managed KMS key, point-in-time recovery, deletion protection. No
// secondary index: every read is a strongly consistent GetItem, Query or
// BatchGetItem on the table, so that an apply that takes the lock sees
// everything the run before it wrote.
//
// # Item types
//
//	pk                          sk                         what
//	META                        SCHEMA                     version of the table's layout
//	LOCK                        LOCK                       the lock: holder, acquired_at, heartbeat_at, pid, host, host_id,
//	                                                       acquire_id (absent while free) and generation (the last token
//	                                                       given out; never removed, so tokens only grow)
//	COUNTER                     run|entry|notification|notice
//	                                                       n: the last number given out (UpdateItem ADD)
//	RUN#<run>                   RUN                        a run
//	RUNS                        <started>#<seq>            a run in the list of runs (run_id), newest last
//	PLAN#<plan>                 RUN#<started>#<seq>        a run of a plan (run_id)
//	RUN#<run>                   ENTRY#<id>                 a journal entry (intent and result) of the run
//	ENTRY#<id>                  ENTRY                      where entry <id> is (run_id)
//	PLAN#<plan>                 ENTRY#<id>                 an entry of a plan (run_id)
//	KEY#<account,key>           ENTRY#<id>                 a deactivate or reactivate of a key (run_id)
//	RUN#<run>                   NOTIFICATION#<id>          a notification written by the run
//	SENT#<recipient,item>       <at>#<id>                  a sent notification of an item to a recipient (at)
//	NOTICE#<id>                 NOTICE                     a notice of the outbox, whatever its status
//	OUTBOX                      <created>#<id>             a pending notice, oldest first (notice_id, dedupe_key,
//	                                                       expires_at); removed when the notice stops being pending
//	PENDING#<dedupe key>        PENDING                    the pending notice of a dedupe key (notice_id, created_at,
//	                                                       expires_at): at most one, by a conditional put
//	SNAPS                       <at>#<run>                 a scan's snapshot: accounts and counts (gzipped JSON), chunks
//	SNAP#<run>                  HEAD                       where the run's snapshot is (at, chunks)
//	SNAP#<run>                  FINDINGS#<n>               the snapshot's findings, gzipped JSON, in chunks
//
// IDs and sequence numbers are written with 20 digits and times as RFC 3339
// in UTC with nine fraction digits (2006-01-02T15:04:05.000000000Z), so
// that sort keys sort in order. A time that is zero and a string that is
// empty are left out of the item. Parts of keys longer than 512 bytes (a
// long dedupe key, say) are replaced by their SHA-256.
//
// Writes are TransactWriteItems, one or more items at once, whose
// idempotency token makes the SDK's retry of a write whose answer was
// lost harmless. Only the lock's taking (marked with an acquire_id that
// tells a retry it took the lock already) and heartbeat, the counters (a
// retry skips a number) and the claims of notices (a retry leaves the
// notice to be claimed again once its hold ends) are single UpdateItem
// calls.
//
// # Fencing
//
// A Lease's writes are TransactWriteItems with a ConditionCheck on the lock
// item: generation = the lease's token and a holder present. The heartbeat
// and Check are UpdateItem on the lock item under the same condition.
//
// The store never holds a secret: the journal says where a new key's
// secret went, never what it is; notices carry no secret either.
package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/store"
)

// Scheme starts a --state (or KEYWARDEN_STATE) value that names a DynamoDB
// table: dynamodb://TABLE.
const Scheme = "dynamodb://"

// schemaVersion is the version of the table's layout this keywarden reads
// and writes; a table of a later version is refused.
const schemaVersion = 1

// Store is a state store in one DynamoDB table. It is safe for concurrent
// use, and any number of Stores, in any number of processes and places,
// may share a table.
type Store struct {
	db    *dynamodb.Client
	table string

	mu     sync.Mutex
	closed bool
	held   map[*lease]struct{} // leases taken through this Store
	wg     sync.WaitGroup      // Acquire calls and heartbeats in flight
}

var _ store.Store = (*Store)(nil)

// tableName is what DynamoDB accepts as a table name.
var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// TableFromState says whether state (a --state value) names a DynamoDB
// table, dynamodb://TABLE, and which. A value that starts with dynamodb://
// but names no valid table is an error.
func TableFromState(state string) (table string, ok bool, err error) {
	rest, found := strings.CutPrefix(state, Scheme)
	if !found {
		return "", false, nil
	}
	if !tableName.MatchString(rest) {
		return "", true, fmt.Errorf("state store %q: want %sTABLE, with a table name of 3 to 255 letters, digits, '_', '-' or '.'", state, Scheme)
	}
	return rest, true, nil
}

// Open opens the state store in table, which must exist with the key
// schema CreateTable gives it ('keywarden state init'). cfg gives the
// region, credentials and endpoint.
func Open(ctx context.Context, cfg aws.Config, table string) (*Store, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("open state store: %q is not a DynamoDB table name", table)
	}
	s := &Store{db: newClient(cfg), table: table, held: map[*lease]struct{}{}}
	out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("open state store: DynamoDB table %s does not exist in %s: create it with 'keywarden state init --state %s%s'",
			table, regionName(cfg), Scheme, table)
	case err != nil:
		return nil, fmt.Errorf("open state store: describe DynamoDB table %s: %w", table, err)
	}
	if err := checkKeySchema(out.Table); err != nil {
		return nil, fmt.Errorf("open state store: DynamoDB table %s is not a keywarden state table (%v); create one with 'keywarden state init --state %s<new table>'",
			table, err, Scheme)
	}
	if st := out.Table.TableStatus; st == types.TableStatusCreating {
		return nil, fmt.Errorf("open state store: DynamoDB table %s is still being created; try again in a moment", table)
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func regionName(cfg aws.Config) string {
	if cfg.Region == "" {
		return "the configured region"
	}
	return cfg.Region
}

func newClient(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg)
}

// checkKeySchema says whether t has the key schema of a state table.
func checkKeySchema(t *types.TableDescription) error {
	if t == nil {
		return errors.New("no table description")
	}
	want := map[string]types.KeyType{"pk": types.KeyTypeHash, "sk": types.KeyTypeRange}
	if len(t.KeySchema) != len(want) {
		return fmt.Errorf("key schema has %d attributes, want pk (HASH) and sk (RANGE)", len(t.KeySchema))
	}
	for _, k := range t.KeySchema {
		if want[aws.ToString(k.AttributeName)] != k.KeyType {
			return fmt.Errorf("key %s (%s), want pk (HASH) and sk (RANGE)", aws.ToString(k.AttributeName), k.KeyType)
		}
	}
	for _, d := range t.AttributeDefinitions {
		name := aws.ToString(d.AttributeName)
		if _, ok := want[name]; ok && d.AttributeType != types.ScalarAttributeTypeS {
			return fmt.Errorf("key %s is of type %s, want S", name, d.AttributeType)
		}
	}
	return nil
}

// checkSchema reads the layout version of the table, writing it if the
// table has none yet, and refuses a table of a later keywarden.
func (s *Store) checkSchema(ctx context.Context) error {
	k := key("META", "SCHEMA")
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("open state store %s: %w", s.table, err)
	}
	if out.Item == nil {
		it := item{"pk": str("META"), "sk": str("SCHEMA"), "type": str("schema"), "version": num(schemaVersion), "created_at": str(formatTime(time.Now()))}
		var e expr
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it,
			ConditionExpression: aws.String("attribute_not_exists(" + e.name("pk") + ")"), ExpressionAttributeNames: e.names})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("open state store %s: %w", s.table, err)
		}
		return nil
	}
	d := decoder{it: out.Item}
	v := d.num("version")
	if d.err != nil {
		return fmt.Errorf("open state store %s: %w", s.table, d.err)
	}
	if v > schemaVersion {
		return fmt.Errorf("state store %s was written by a newer keywarden (layout %d, this one knows up to %d); upgrade keywarden", s.table, v, schemaVersion)
	}
	return nil
}

// Table is the name of the store's table.
func (s *Store) Table() string { return s.table }

// Close releases the locks still held through s. Calling Close again does
// nothing.
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
	return errors.Join(errs...)
}

// CreateTable creates table as a state table ('keywarden state init'):
// pk (S) and sk (S), on-demand billing, server-side encryption with the
// AWS managed KMS key (aws/dynamodb), deletion protection; waits until it
// is active, then turns point-in-time recovery on. A table that exists
// already with the state table's key schema is left as it is, except that
// point-in-time recovery is turned on; one with another key schema is an
// error. An endpoint that does not implement point-in-time recovery (some
// emulators) gets a warning in the log, not an error.
func CreateTable(ctx context.Context, cfg aws.Config, table string) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("create state table: %q is not a DynamoDB table name", table)
	}
	db := newClient(cfg)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode:               types.BillingModePayPerRequest,
		SSESpecification:          &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
		DeletionProtectionEnabled: aws.Bool(true),
	})
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("create state table %s: it exists; describe it: %w", table, err)
		}
		if err := checkKeySchema(out.Table); err != nil {
			return fmt.Errorf("create state table %s: a table of that name exists and is not a keywarden state table (%v)", table, err)
		}
	case err != nil:
		return fmt.Errorf("create state table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("create state table %s: wait until it is active: %w", table, err)
	}
	if err := enablePITR(ctx, db, table); err != nil {
		return err
	}
	return nil
}

// enablePITR turns point-in-time recovery on. Right after a table is
// created, DynamoDB may answer ContinuousBackupsUnavailableException for a
// while: that is retried for up to two minutes.
func enablePITR(ctx context.Context, db *dynamodb.Client, table string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := db.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName: aws.String(table),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: aws.Bool(true),
			},
		})
		var unavailable *types.ContinuousBackupsUnavailableException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &unavailable) && time.Now().Before(deadline):
			if err := sleep(ctx, 5*time.Second); err != nil {
				return fmt.Errorf("create state table %s: turn on point-in-time recovery: %w", table, err)
			}
		case isUnsupported(err):
			slog.WarnContext(ctx, "the DynamoDB endpoint does not support point-in-time recovery; the state table has none",
				"table", table, "error", err)
			return nil
		default:
			return fmt.Errorf("create state table %s: turn on point-in-time recovery: %w", table, err)
		}
	}
}

// isUnsupported says whether err means the endpoint does not implement the
// operation (an emulator's gap), rather than refusing it.
func isUnsupported(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException", "NotImplemented", "NotImplementedException":
		return true
	}
	return false
}

// ---- keys, items and expressions ----

type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) item { return item{"pk": str(pk), "sk": str(sk)} }

// maxKeyPart is the longest part of a key kept as it is; a longer one is
// replaced by its SHA-256 (DynamoDB allows 2048 bytes in a partition key,
// 1024 in a sort key).
const maxKeyPart = 512

func keyPart(s string) string {
	if len(s) <= maxKeyPart {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// compound joins parts into one key part that no other parts give: each
// but the last is prefixed with its length.
func compound(parts ...string) string {
	var b strings.Builder
	for _, p := range parts[:len(parts)-1] {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
		b.WriteByte('#')
	}
	b.WriteString(parts[len(parts)-1])
	return keyPart(b.String())
}

// seq is a number as it appears in a key: 20 digits, so that keys sort in
// order.
func seq(n int64) string { return fmt.Sprintf("%020d", n) }

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so that stored
// times sort as text. Times are stored in UTC.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime is t as stored: UTC text; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// builder fills an item, leaving out empty strings and zero times.
type builder struct{ it item }

func newItem(pk, sk, typ string) builder {
	return builder{it: item{"pk": str(pk), "sk": str(sk), "type": str(typ)}}
}

func (b builder) s(k, v string) builder {
	if v != "" {
		b.it[k] = str(v)
	}
	return b
}

func (b builder) t(k string, v time.Time) builder { return b.s(k, formatTime(v)) }

func (b builder) n(k string, v int64) builder {
	b.it[k] = num(v)
	return b
}

func (b builder) b(k string, v []byte) builder {
	if len(v) > 0 {
		b.it[k] = &types.AttributeValueMemberB{Value: v}
	}
	return b
}

// decoder reads an item's attributes; the first malformed one is err.
type decoder struct {
	it  item
	err error
}

func (d *decoder) fail(k string, v types.AttributeValue) {
	if d.err == nil {
		d.err = fmt.Errorf("stored item %s/%s: attribute %s: unexpected %T", d.raw("pk"), d.raw("sk"), k, v)
	}
}

func (d *decoder) raw(k string) string {
	if v, ok := d.it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return "?"
}

func (d *decoder) s(k string) string {
	switch v := d.it[k].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		d.fail(k, v)
		return ""
	}
}

func (d *decoder) num(k string) int64 {
	switch v := d.it[k].(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("stored item %s/%s: attribute %s: %w", d.raw("pk"), d.raw("sk"), k, err)
		}
		return n
	default:
		d.fail(k, v)
		return 0
	}
}

func (d *decoder) t(k string) time.Time {
	s := d.s(k)
	t, err := parseTime(s)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("stored item %s/%s: attribute %s: %w", d.raw("pk"), d.raw("sk"), k, err)
	}
	return t
}

func (d *decoder) b(k string) []byte {
	switch v := d.it[k].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberB:
		return v.Value
	default:
		d.fail(k, v)
		return nil
	}
}

// expr collects the names and values of an expression: every attribute
// goes through a #name, so that no reserved word gets in the way.
type expr struct {
	names map[string]string
	vals  map[string]types.AttributeValue
}

func (e *expr) name(a string) string {
	if e.names == nil {
		e.names = map[string]string{}
	}
	e.names["#"+a] = a
	return "#" + a
}

func (e *expr) val(v types.AttributeValue) string {
	if e.vals == nil {
		e.vals = map[string]types.AttributeValue{}
	}
	k := ":v" + strconv.Itoa(len(e.vals))
	e.vals[k] = v
	return k
}

func (e *expr) s(v string) string { return e.val(str(v)) }

// update builds an UpdateExpression: an empty string or a zero time
// removes the attribute.
type update struct {
	expr
	sets, removes, adds []string
}

func (u *update) setS(a, v string) *update {
	if v == "" {
		u.removes = append(u.removes, u.name(a))
	} else {
		u.sets = append(u.sets, u.name(a)+" = "+u.s(v))
	}
	return u
}

func (u *update) setT(a string, t time.Time) *update { return u.setS(a, formatTime(t)) }

func (u *update) add(a string, n int64) *update {
	u.adds = append(u.adds, u.name(a)+" "+u.val(num(n)))
	return u
}

func (u *update) String() string {
	var parts []string
	if len(u.sets) > 0 {
		parts = append(parts, "SET "+strings.Join(u.sets, ", "))
	}
	if len(u.removes) > 0 {
		parts = append(parts, "REMOVE "+strings.Join(u.removes, ", "))
	}
	if len(u.adds) > 0 {
		parts = append(parts, "ADD "+strings.Join(u.adds, ", "))
	}
	return strings.Join(parts, " ")
}

// ---- writes ----

func (s *Store) put(it item, cond string, e *expr) types.TransactWriteItem {
	p := &types.Put{TableName: &s.table, Item: it}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
		p.ExpressionAttributeNames, p.ExpressionAttributeValues = e.names, e.vals
	}
	return types.TransactWriteItem{Put: p}
}

// putNew is a put of an item that must not exist yet.
func (s *Store) putNew(it item) types.TransactWriteItem {
	var e expr
	return s.put(it, "attribute_not_exists("+e.name("pk")+")", &e)
}

func (s *Store) updateOp(k item, u *update, cond string) types.TransactWriteItem {
	op := &types.Update{TableName: &s.table, Key: k, UpdateExpression: aws.String(u.String()),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.vals}
	if cond != "" {
		op.ConditionExpression = aws.String(cond)
	}
	return types.TransactWriteItem{Update: op}
}

func (s *Store) deleteOp(k item, cond string, e *expr) types.TransactWriteItem {
	d := &types.Delete{TableName: &s.table, Key: k}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
		d.ExpressionAttributeNames, d.ExpressionAttributeValues = e.names, e.vals
	}
	return types.TransactWriteItem{Delete: d}
}

func (s *Store) checkOp(k item, cond string, e *expr) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: k,
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.vals}}
}

// refused says which conditions of a write failed: the lease's (lock) and
// those of the write's own operations (ops, in their order).
type refused struct {
	lock bool
	ops  []bool
}

func (r *refused) op(i int) bool { return r != nil && i < len(r.ops) && r.ops[i] }

// write does ops in one atomic step, a TransactWriteItems: fenced by l
// (its lock condition first) unless l is nil. If a condition fails nothing
// is written and refused says which; err is any other failure.
// Transactions that conflict with another are retried.
//
// Even a single write is a transaction, for its idempotency token: when
// the SDK retries a write whose answer was lost, DynamoDB answers the
// retry as it did the write, rather than failing its condition (a second
// result for an entry, say).
func (s *Store) write(ctx context.Context, l *lease, ops ...types.TransactWriteItem) (*refused, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := ops
	if l != nil {
		all = append([]types.TransactWriteItem{l.lockCheck()}, ops...)
	}
	for attempt := 0; ; attempt++ {
		// A new input every time: the SDK gives it a new idempotency token.
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: all})
		if err == nil {
			return nil, nil
		}
		ref, conflict, err := classify(err, len(all))
		if conflict && attempt < maxConflictRetries {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if l != nil {
			return &refused{lock: ref[0], ops: ref[1:]}, nil
		}
		return &refused{ops: ref}, nil
	}
}

const maxConflictRetries = 8

func backoff(attempt int) time.Duration {
	d := 10 * time.Millisecond << min(attempt, 5)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// classify reads a failed write of n operations: which conditions failed,
// whether it conflicted with another transaction (worth retrying), or an
// error of another kind.
func classify(err error, n int) (failed []bool, conflict bool, _ error) {
	var (
		ccf      *types.ConditionalCheckFailedException
		canceled *types.TransactionCanceledException
		ae       smithy.APIError
	)
	switch {
	case errors.As(err, &ccf):
		if n != 1 {
			return nil, false, err
		}
		return []bool{true}, false, nil
	case errors.As(err, &canceled):
		reasons := canceled.CancellationReasons
		if len(reasons) != n {
			return nil, false, fmt.Errorf("%w (%d cancellation reasons for %d operations)", err, len(reasons), n)
		}
		failed = make([]bool, n)
		var other []string
		for i, r := range reasons {
			switch code := aws.ToString(r.Code); code {
			case "", "None":
			case "ConditionalCheckFailed":
				failed[i] = true
			case "TransactionConflict":
				conflict = true
			default:
				other = append(other, code)
			}
		}
		if len(other) > 0 {
			return nil, false, fmt.Errorf("%w (%s)", err, strings.Join(other, ", "))
		}
		if conflict {
			return nil, true, err
		}
		return failed, false, nil
	case errors.As(err, &ae) && ae.ErrorCode() == "TransactionConflictException":
		return nil, true, err
	}
	return nil, false, err
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// next gives out the next number of a counter, from 1.
func (s *Store) next(ctx context.Context, counter string) (int64, error) {
	u := (&update{}).add("n", 1)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key("COUNTER", counter),
		UpdateExpression: aws.String(u.String()), ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.vals,
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("next %s number: %w", counter, err)
	}
	d := decoder{it: out.Attributes}
	n := d.num("n")
	if d.err != nil {
		return 0, d.err
	}
	if n <= 0 {
		return 0, fmt.Errorf("next %s number: got %d", counter, n)
	}
	return n, nil
}

// ---- reads ----

func (s *Store) get(ctx context.Context, pk, sk string) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// query reads the items of partition pk whose sort key begins with prefix
// ("" for all), in sort key order (reverse: descending), strongly
// consistent, page by page, with an optional filter (in e's names and
// values); each goes to fn until fn says stop. limit > 0 bounds how many
// items a page reads.
func (s *Store) query(ctx context.Context, pk, prefix string, reverse bool, filter string, e *expr, limit int, fn func(item) (more bool, err error)) error {
	if e == nil {
		e = &expr{}
	}
	cond := e.name("pk") + " = " + e.s(pk)
	if prefix != "" {
		cond += " AND begins_with(" + e.name("sk") + ", " + e.s(prefix) + ")"
	}
	in := &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String(cond),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.vals,
		ConsistentRead: aws.Bool(true), ScanIndexForward: aws.Bool(!reverse),
	}
	if filter != "" {
		in.FilterExpression = aws.String(filter)
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			more, err := fn(it)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchGet reads the items with keys ks (pk, sk pairs), strongly
// consistent; the result is keyed by pk + "\x00" + sk. Missing items are
// missing from it.
func (s *Store) batchGet(ctx context.Context, ks [][2]string) (map[string]item, error) {
	got := make(map[string]item, len(ks))
	seen := map[string]bool{}
	var pending []item
	for _, k := range ks {
		id := k[0] + "\x00" + k[1]
		if !seen[id] {
			seen[id] = true
			pending = append(pending, key(k[0], k[1]))
		}
	}
	for attempt := 0; len(pending) > 0; {
		n := min(len(pending), 100)
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.table: {Keys: pending[:n], ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return nil, err
		}
		pending = pending[n:]
		for _, it := range out.Responses[s.table] {
			d := decoder{it: it}
			got[d.s("pk")+"\x00"+d.s("sk")] = it
		}
		if left := out.UnprocessedKeys[s.table].Keys; len(left) > 0 {
			pending = append(pending, left...)
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			attempt++
		}
	}
	return got, nil
}

package dynamo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/store"
)

// Snapshot items:
//
//	pk            sk                   what
//	SNAPS         <at>#<run>           a snapshot's summary (run_id, at, trigger, mode, policy_hash,
//	                                   summary: gzipped JSON of its accounts and counts, chunks)
//	SNAP#<run>    HEAD                 where the run's snapshot is (at, chunks)
//	SNAP#<run>    FINDINGS#<n>         findings n of the snapshot, gzipped JSON, up to chunkBytes each
//
// The findings are written first and the summary and head last, in one
// transaction: a reader sees a snapshot whole or not at all. A failed save
// may leave chunks without a head; a later save of the run writes over
// them, and reads never go past the head's count.
const (
	snapsPK       = "SNAPS"
	snapHeadSK    = "HEAD"
	snapFindingSK = "FINDINGS#"
	// chunkBytes bounds the JSON in one findings item before compression,
	// well under DynamoDB's 400 KB item size even if it did not compress.
	chunkBytes = 256 << 10
	// maxSummaryBytes bounds a snapshot's compressed summary: DynamoDB's
	// 400 KB item less room for its other attributes.
	maxSummaryBytes = 380 << 10
)

func snapPK(runID string) string { return "SNAP#" + keyPart(runID) }

func snapSK(s store.Snapshot) string { return formatTime(s.At) + "#" + keyPart(s.RunID) }

type snapSummary struct {
	Accounts []store.SnapshotAccount `json:"accounts"`
	Counts   []store.SnapshotCount   `json:"counts"`
}

func gz(v any) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func ungz(b []byte, v any) error {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// SaveSnapshot keeps a scan's snapshot: its findings in chunks, then its
// summary and head in one transaction.
func (s *Store) SaveSnapshot(ctx context.Context, snap store.Snapshot) error {
	if snap.RunID == "" || snap.At.IsZero() {
		return errors.New("save snapshot: a snapshot needs a run ID and a time")
	}
	what := "save snapshot of run " + snap.RunID
	if len(snap.Counts) == 0 {
		snap.Counts = store.SnapshotCounts(snap.Findings)
	}
	sum, err := gz(snapSummary{Accounts: nonNil(snap.Accounts), Counts: nonNil(snap.Counts)})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Refused before any findings are written: they would be left behind,
	// with no summary to list them or prune them by.
	if len(sum) > maxSummaryBytes {
		return fmt.Errorf("%s: the summary of its %d accounts is %d KiB compressed, more than a DynamoDB item holds (400 KB)",
			what, len(snap.Accounts), len(sum)>>10)
	}
	head, err := s.get(ctx, snapPK(snap.RunID), snapHeadSK)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if head != nil {
		return fmt.Errorf("%s: %w", what, store.ErrSnapshotExists)
	}
	var chunks int64
	var pending []json.RawMessage
	size := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		b, err := gz(pending)
		if err != nil {
			return err
		}
		chunks++
		it := newItem(snapPK(snap.RunID), snapFindingSK+seq(chunks), "snapshot-findings").s("run_id", snap.RunID).b("findings", b).it
		if _, err := s.write(ctx, nil, s.put(it, "", nil)); err != nil {
			return err
		}
		pending, size = pending[:0], 0
		return nil
	}
	for _, f := range snap.Findings {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if size+len(b) > chunkBytes {
			if err := flush(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		pending, size = append(pending, b), size+len(b)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ref, err := s.write(ctx, nil,
		s.putNew(newItem(snapPK(snap.RunID), snapHeadSK, "snapshot-head").s("run_id", snap.RunID).t("at", snap.At).n("chunks", chunks).it),
		s.put(newItem(snapsPK, snapSK(snap), "snapshot").s("run_id", snap.RunID).t("at", snap.At).
			s("trigger", snap.Trigger).s("mode", snap.Mode).s("policy_hash", snap.PolicyHash).
			b("summary", sum).n("chunks", chunks).it, "", nil))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ref != nil {
		return fmt.Errorf("%s: %w", what, store.ErrSnapshotExists)
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decodeSnapshot(it item) (store.Snapshot, int64, error) {
	d := decoder{it: it}
	snap := store.Snapshot{RunID: d.s("run_id"), At: d.t("at"), Trigger: d.s("trigger"), Mode: d.s("mode"), PolicyHash: d.s("policy_hash")}
	chunks := d.num("chunks")
	raw := d.b("summary")
	if d.err != nil {
		return store.Snapshot{}, 0, d.err
	}
	var sum snapSummary
	if err := ungz(raw, &sum); err != nil {
		return store.Snapshot{}, 0, fmt.Errorf("snapshot of run %s: summary: %w", snap.RunID, err)
	}
	snap.Accounts, snap.Counts = sum.Accounts, sum.Counts
	return snap, chunks, nil
}

// Snapshots lists snapshots, newest first, without their findings.
func (s *Store) Snapshots(ctx context.Context, q store.SnapshotQuery) ([]store.Snapshot, error) {
	var out []store.Snapshot
	// A page no larger than the limit: the latest snapshot (a scrape of
	// the metrics) reads one item, not a page of them.
	err := s.query(ctx, snapsPK, "", true, "", nil, max(q.Limit, 0), func(it item) (bool, error) {
		snap, _, err := decodeSnapshot(it)
		if err != nil {
			return false, err
		}
		if !q.Since.IsZero() && snap.At.Before(q.Since) {
			return false, nil // newest first: the rest are older still
		}
		if !q.Until.IsZero() && !snap.At.Before(q.Until) {
			return true, nil
		}
		out = append(out, snap)
		return q.Limit <= 0 || len(out) < q.Limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return out, nil
}

// GetSnapshot returns a run's snapshot with its findings.
func (s *Store) GetSnapshot(ctx context.Context, runID string) (store.Snapshot, error) {
	what := "get snapshot of run " + runID
	head, err := s.get(ctx, snapPK(runID), snapHeadSK)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	if head == nil {
		return store.Snapshot{}, fmt.Errorf("snapshot of run %s: %w", runID, store.ErrNotFound)
	}
	hd := decoder{it: head}
	at := hd.t("at")
	if hd.err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, hd.err)
	}
	it, err := s.get(ctx, snapsPK, snapSK(store.Snapshot{RunID: runID, At: at}))
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	if it == nil {
		return store.Snapshot{}, fmt.Errorf("snapshot of run %s: %w", runID, store.ErrNotFound)
	}
	snap, chunks, err := decodeSnapshot(it)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	err = s.query(ctx, snapPK(runID), snapFindingSK, false, "", nil, 0, func(it item) (bool, error) {
		d := decoder{it: it}
		raw := d.b("findings")
		if d.err != nil {
			return false, d.err
		}
		var fs []store.SnapshotFinding
		if err := ungz(raw, &fs); err != nil {
			return false, fmt.Errorf("findings: %w", err)
		}
		snap.Findings = append(snap.Findings, fs...)
		chunks--
		return chunks > 0, nil
	})
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	if chunks > 0 {
		return store.Snapshot{}, fmt.Errorf("%s: %d chunks of findings missing", what, chunks)
	}
	return snap, nil
}

// PruneSnapshots deletes the snapshots r selects: each one's summary and
// head in one transaction (it is gone for readers), then its findings.
func (s *Store) PruneSnapshots(ctx context.Context, r store.Retention) (int, error) {
	if r == (store.Retention{}) {
		return 0, nil
	}
	var doomed []store.Snapshot
	i := 0
	err := s.query(ctx, snapsPK, "", true, "", nil, 0, func(it item) (bool, error) {
		d := decoder{it: it}
		snap := store.Snapshot{RunID: d.s("run_id"), At: d.t("at")}
		if d.err != nil {
			return false, d.err
		}
		if r.Selects(i, snap.At) {
			doomed = append(doomed, snap)
		}
		i++
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	for n, snap := range doomed {
		if _, err := s.write(ctx, nil,
			s.deleteOp(key(snapsPK, snapSK(snap)), "", nil),
			s.deleteOp(key(snapPK(snap.RunID), snapHeadSK), "", nil)); err != nil {
			return n, fmt.Errorf("prune snapshot of run %s: %w", snap.RunID, err)
		}
		var chunks []types.TransactWriteItem
		err := s.query(ctx, snapPK(snap.RunID), snapFindingSK, false, "", nil, 0, func(it item) (bool, error) {
			d := decoder{it: it}
			chunks = append(chunks, s.deleteOp(key(d.s("pk"), d.s("sk")), "", nil))
			return true, d.err
		})
		if err != nil {
			return n, fmt.Errorf("prune snapshot of run %s: %w", snap.RunID, err)
		}
		for _, op := range chunks {
			if _, err := s.write(ctx, nil, op); err != nil {
				return n, fmt.Errorf("prune snapshot of run %s: %w", snap.RunID, err)
			}
		}
	}
	return len(doomed), nil
}

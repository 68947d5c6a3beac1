package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/dynamo"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// OpenState opens the state store spec names: dynamodb://TABLE (a table
// shared by laptops, CI and the scheduled Lambda, read with cfg), or a
// SQLite file path ("" is the default file).
func OpenState(ctx context.Context, spec string, cfg aws.Config) (store.Store, error) {
	table, ok, err := dynamo.TableFromState(spec)
	if err != nil {
		return nil, err
	}
	if ok {
		return dynamo.Open(ctx, cfg, table)
	}
	if spec == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return nil, err
		}
		spec = p
	}
	return sqlite.Open(ctx, spec)
}

// IsSharedState reports whether spec names a DynamoDB table.
func IsSharedState(spec string) bool {
	_, ok, _ := dynamo.TableFromState(spec)
	return ok
}

// InitState creates the DynamoDB table spec names, if it does not exist.
func InitState(ctx context.Context, spec string, cfg aws.Config) (string, error) {
	table, ok, err := dynamo.TableFromState(spec)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotDynamo(spec)
	}
	return table, dynamo.CreateTable(ctx, cfg, table)
}

type errNotDynamo string

func (e errNotDynamo) Error() string {
	return "state init creates a DynamoDB table: give --state dynamodb://TABLE (a SQLite file is created on first use), not " + string(e)
}

// MigrateState copies the state store from names into the one to names
// (each a SQLite file or dynamodb://TABLE, read with cfg): see store.Copy.
// The destination must exist (a SQLite file is created; a table by
// InitState) and, unless merge, be empty.
func MigrateState(ctx context.Context, from, to string, cfg aws.Config, merge bool, holder string) (store.CopyCounts, error) {
	if from == "" || to == "" {
		return store.CopyCounts{}, errors.New("migrate state: both the source and the destination must be named")
	}
	if sameState(from, to) {
		return store.CopyCounts{}, fmt.Errorf("migrate state: %s is both the source and the destination", from)
	}
	if !IsSharedState(from) {
		// Opening a SQLite file that is not there would create it, empty.
		if _, err := os.Stat(from); err != nil {
			return store.CopyCounts{}, fmt.Errorf("the source state store: %w", err)
		}
	}
	src, err := OpenState(ctx, from, cfg)
	if err != nil {
		return store.CopyCounts{}, fmt.Errorf("open the source %s: %w", from, err)
	}
	defer src.Close()
	dst, err := OpenState(ctx, to, cfg)
	if err != nil {
		return store.CopyCounts{}, fmt.Errorf("open the destination %s: %w", to, err)
	}
	defer dst.Close()
	return store.Copy(ctx, src, dst, store.CopyOptions{Holder: holder, Merge: merge})
}

// sameState reports whether two specs name the same store, as far as can
// be told without opening them.
func sameState(a, b string) bool {
	ta, oka, errA := dynamo.TableFromState(a)
	tb, okb, errB := dynamo.TableFromState(b)
	if oka || okb {
		// A malformed table name is refused when opened, naming it.
		return oka && okb && errA == nil && errB == nil && ta == tb
	}
	pa, errA := filepath.Abs(a)
	pb, errB := filepath.Abs(b)
	return errA == nil && errB == nil && pa == pb
}

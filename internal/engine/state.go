package engine

import (
	"context"

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

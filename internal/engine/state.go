package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// StateDynamoPrefix starts a state store kept in a DynamoDB table, shared
// by laptops, CI and the scheduled Lambda: dynamodb://TABLE.
const StateDynamoPrefix = "dynamodb://"

// OpenState opens the state store spec names: dynamodb://TABLE, or a
// SQLite file path ("" is the default file). cfg is used for DynamoDB.
func OpenState(ctx context.Context, spec string, cfg aws.Config) (store.Store, error) {
	if table, ok := strings.CutPrefix(spec, StateDynamoPrefix); ok {
		return openDynamoState(ctx, cfg, table)
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

// openDynamoState is replaced when the DynamoDB backend is built in.
var openDynamoState = func(ctx context.Context, cfg aws.Config, table string) (store.Store, error) {
	return nil, fmt.Errorf("state store %s%s: this keywarden has no DynamoDB backend", StateDynamoPrefix, table)
}

package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestMigrateStateNames: a malformed table name is named as such, not taken
// for the source and destination being one store; a file given twice is.
func TestMigrateStateNames(t *testing.T) {
	ctx := context.Background()
	_, err := MigrateState(ctx, "dynamodb://a", "dynamodb://b", aws.Config{}, false, "test")
	if err == nil || strings.Contains(err.Error(), "both the source and the destination") || !strings.Contains(err.Error(), `"dynamodb://a"`) {
		t.Errorf("migrate between two malformed table names: %v, want the source's name refused", err)
	}
	dir := t.TempDir()
	_, err = MigrateState(ctx, filepath.Join(dir, "state.db"), dir+"/./state.db", aws.Config{}, false, "test")
	if err == nil || !strings.Contains(err.Error(), "both the source and the destination") {
		t.Errorf("migrate a file into itself: %v, want it refused", err)
	}
}

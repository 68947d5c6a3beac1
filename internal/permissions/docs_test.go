package permissions_test

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/permissions"
)

// jsonActions are the "service:Action" strings of the n-th ```json block
// of a document.
func jsonActions(t *testing.T, path string, n int) []string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) <= n {
		t.Fatalf("%s: %d JSON blocks, want at least %d", path, len(blocks), n+1)
	}
	var out []string
	for _, m := range regexp.MustCompile(`"([a-z0-9-]+:[A-Za-z]+)"`).FindAllSubmatch(blocks[n][1], -1) {
		out = append(out, string(m[1]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func actionsOf(t *testing.T, names ...string) []string {
	t.Helper()
	var gs []permissions.Group
	for _, n := range names {
		g, ok := permissions.Find(n)
		if !ok {
			t.Fatalf("no group %s", n)
		}
		gs = append(gs, g)
	}
	return permissions.Actions(gs...)
}

// TestDocsAgree: the policies docs/scan.md and docs/state.md show are the
// list's (the store's tests hold docs/state.md to the calls the store
// makes against moto; the engine's tests hold the list to the calls scan,
// plan, apply and undo make).
func TestDocsAgree(t *testing.T) {
	tests := []struct {
		doc    string
		block  int
		groups []string
	}{
		{"../../docs/scan.md", 0, []string{permissions.Scan}},
		{"../../docs/state.md", 0, []string{permissions.State}},
		{"../../docs/state.md", 1, []string{permissions.StateInit}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(actionsOf(t, tt.groups...), jsonActions(t, tt.doc, tt.block)); diff != "" {
			t.Errorf("%s, policy %d: the list (-) and the document (+) differ:\n%s", tt.doc, tt.block+1, diff)
		}
	}
}

// TestEveryCallHasAnAction: each operation names its IAM actions (only
// sts:GetCallerIdentity needs none), in the service's own prefix.
func TestEveryCallHasAnAction(t *testing.T) {
	for _, g := range permissions.Groups {
		for _, c := range g.Calls {
			if len(c.Actions) == 0 && c.String() != "STS:GetCallerIdentity" {
				t.Errorf("%s: %s has no IAM action", g.Name, c)
			}
			for _, a := range c.Actions {
				if !regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z]+$`).MatchString(a) {
					t.Errorf("%s: %s: %q is not an IAM action", g.Name, c, a)
				}
			}
		}
	}
}

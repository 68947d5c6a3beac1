package permissions_test

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
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

var update = flag.Bool("update", false, "rewrite the permissions table in docs/deploy.md")

// TestDeployDocTable: docs/deploy.md's permissions table is the list's
// (go test ./internal/permissions -run TestDeployDocTable -update rewrites
// it).
func TestDeployDocTable(t *testing.T) {
	const path = "../../docs/deploy.md"
	const begin, end = "<!-- permissions table: go test ./internal/permissions -run TestDeployDocTable -update -->\n", "<!-- end of permissions table -->"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no permissions table between %q and %q", path, begin, end)
	}
	want := permissions.Table()
	if got := s[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the permissions table is not the list's (run with -update):\n%s", path, cmp.Diff(want, got))
	}
}

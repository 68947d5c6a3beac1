package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A layer places a package in the dependency order of DESIGN.md ("Layout"):
// a package may import packages of lower layers only. Imports within a layer
// or upward need an entry in allowed.
type layer struct {
	n int
	// support marks the sandbox and the test helpers. Any test may import
	// them; non-test code only where allowed says so, so that no fixture
	// becomes part of the product by accident.
	support bool
}

// layers is the table the imports are checked against, keyed by a package's
// path relative to the module root. An entry covers the packages below it
// that have no entry of their own; packages under one entry may import each
// other freely. A package that no entry covers fails the test until someone
// places it here.
var layers = map[string]layer{
	// The chain remediate → policy → inventory → awsx, and beside it store,
	// report, notify and securityhub, each just above what it uses.
	"internal/awsx":                 {n: 0},
	"internal/output":               {n: 0}, // writes a rendered report to a file or stdout; imports none of ours
	"internal/notify/channelconfig": {n: 1}, // the channels section of the policy file; a leaf so that policy and notify can both use it
	"internal/inventory":            {n: 1},
	"internal/permissions":          {n: 1}, // the AWS operations each identity calls; tests record calls against it
	"internal/store":                {n: 1}, // imports none of ours; a DynamoDB backend may need awsx
	"internal/policy":               {n: 2},
	"internal/report":               {n: 2}, // renders the inventory and its findings
	"internal/remediate":            {n: 3},
	"internal/notify":               {n: 3}, // reads findings (policy), keeps its outbox in store
	"internal/securityhub":          {n: 3}, // sends what report.ASFF makes

	// The run layer that every front end shares.
	"internal/engine": {n: 4},

	// Front ends: thin adapters over the engine.
	"internal/cli":    {n: 5},
	"internal/server": {n: 5},
	"internal/lambda": {n: 5},

	// Programs.
	"cmd":   {n: 6},
	"bench": {n: 6},

	// The sandbox and the test helpers.
	"internal/awsemu":           {n: 0, support: true}, // emulates AWS, so knows nothing of keywarden
	"internal/testutil":         {n: 0, support: true},
	"internal/testutil/awstest": {n: 1, support: true}, // AWS configurations for tests, built with awsx
	"internal/store/storetest":  {n: 2, support: true}, // the suite every store backend's tests run
	"bench/benchorg":            {n: 2, support: true}, // seeds and scans a sandbox org for bench/scan and inventory's benchmarks
	"internal/archtest":         {n: 0, support: true},
}

// allowed lists, by table entry, the imports that the layers alone would
// forbid, each with its reason. It applies to tests as well.
var allowed = map[[2]string]string{
	{"internal/cli", "internal/server"}: "keywarden serve is a CLI verb",
	{"internal/cli", "internal/awsemu"}: "the keywarden sandbox and demo commands run the sandbox",
	{"bench", "internal/awsemu"}:        "the bench driver scans a sandbox organization",
	{"bench", "bench/benchorg"}:         "the bench driver seeds its organization with the shared fixture",
}

// awsFree lists the packages (and the packages below them) whose non-test
// code imports no AWS service client: the CLI calls the engine instead.
var awsFree = []string{"internal/cli"}

const awsServicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// graph maps each of the project's packages, named by its path relative to
// the module root, to its imports: the project's packages by the same
// relative path, any other module's by its import path. The standard library
// is left out, so a path whose first element has no dot is the project's.
type graph struct {
	prod map[string][]string // imports of the non-test files
	test map[string][]string // imports that only the test files add
}

// entry returns the table entry that covers pkg.
func entry(pkg string) (string, bool) {
	for p := pkg; ; {
		if _, ok := layers[p]; ok {
			return p, true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return "", false
		}
		p = p[:i]
	}
}

func under(pkg, dir string) bool {
	return pkg == dir || strings.HasPrefix(pkg, dir+"/")
}

func ours(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// check returns one message per broken rule, sorted.
func check(g graph) []string {
	var msgs []string
	unknown := map[string]bool{}
	lookup := func(pkg string) (string, bool) {
		e, ok := entry(pkg)
		if !ok && !unknown[pkg] {
			unknown[pkg] = true
			msgs = append(msgs, fmt.Sprintf("%s is not in the layer table: add it to layers in internal/archtest/arch_test.go at the layer DESIGN.md gives it", pkg))
		}
		return e, ok
	}
	name := func(e string) string { return strings.TrimPrefix(e, "internal/") }

	edge := func(from, to string, inTest bool) {
		ef, okFrom := lookup(from)
		et, okTo := lookup(to)
		if !okFrom || !okTo {
			return
		}
		// The packages under one entry are one unit: notify/awschannel may
		// use notify. Separate entries are judged by their layers, even when
		// one lies below the other's path (notify/channelconfig).
		if ef == et {
			return
		}
		if _, ok := allowed[[2]string{ef, et}]; ok {
			return
		}
		lf, lt := layers[ef], layers[et]
		if lt.support && inTest {
			return
		}
		who := from
		if inTest {
			who = from + " (tests)"
		}
		if lt.support && !lf.support {
			msgs = append(msgs, fmt.Sprintf("%s imports %s: %s is the sandbox or a test helper, which only tests may import unless allowed lists the importer; see DESIGN.md", who, to, name(et)))
			return
		}
		if lt.n < lf.n {
			return
		}
		why := ""
		switch {
		case inTest:
			why = ", not even in tests"
		case lt.n == lf.n:
			why = " (same layer, and allowed has no entry for it)"
		}
		msgs = append(msgs, fmt.Sprintf("%s imports %s: %s (layer %d) may not import %s (layer %d)%s; see DESIGN.md", who, to, name(ef), lf.n, name(et), lt.n, why))
	}

	for _, pkg := range sortedKeys(g.prod, g.test) {
		lookup(pkg)
		for _, imp := range g.prod[pkg] {
			if ours(imp) {
				edge(pkg, imp, false)
				continue
			}
			for _, free := range awsFree {
				if under(pkg, free) && strings.HasPrefix(imp, awsServicePrefix) {
					msgs = append(msgs, fmt.Sprintf("%s imports %s: %s may not import an AWS service client; it calls the engine instead; see DESIGN.md", pkg, imp, name(free)))
				}
			}
		}
		for _, imp := range g.test[pkg] {
			if ours(imp) {
				edge(pkg, imp, true)
			}
		}
	}
	slices.Sort(msgs)
	return slices.Compact(msgs)
}

func sortedKeys(ms ...map[string][]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// listedPackage is what go list -json says of a package.
type listedPackage struct {
	ImportPath string
	ForTest    string
	Imports    []string
	Error      *struct{ Err string }
	Module     *struct{ Path string }
}

// parseList builds the graph from the output of go list -json -test, and
// returns the errors go list reported for packages it could not load.
func parseList(r io.Reader) (graph, []string, error) {
	g := graph{prod: map[string][]string{}, test: map[string][]string{}}
	var loadErrs []string
	// With -test, a package compiled for a test is named "p [p.test]".
	variant := func(p string) string { p, _, _ = strings.Cut(p, " ["); return p }
	dec := json.NewDecoder(r)
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return graph{}, nil, fmt.Errorf("decoding go list output: %w", err)
		}
		if p.Module == nil {
			continue
		}
		mod := p.Module.Path
		rel := func(path string) (string, bool) {
			if path == mod {
				return ".", true
			}
			r, ok := strings.CutPrefix(path, mod+"/")
			return r, ok
		}
		path := variant(p.ImportPath)
		if p.Error != nil {
			loadErrs = append(loadErrs, path+": "+p.Error.Err)
		}
		m, key := g.prod, path
		if p.ForTest != "" {
			m, key = g.test, variant(p.ForTest)
		} else if strings.HasSuffix(path, ".test") {
			continue // the generated test main
		}
		key, ok := rel(key)
		if !ok {
			continue
		}
		if _, seen := m[key]; !seen {
			m[key] = nil
		}
		for _, imp := range p.Imports {
			imp = variant(imp)
			if r, ok := rel(imp); ok {
				imp = r
			} else if ours(imp) {
				continue // the standard library
			}
			if !slices.Contains(m[key], imp) {
				m[key] = append(m[key], imp)
			}
		}
	}
	// A package's test variant repeats its non-test imports; keep what the
	// tests add, so that each import is judged once, by the right rules.
	for pkg, imps := range g.test {
		g.test[pkg] = slices.DeleteFunc(imps, func(imp string) bool { return slices.Contains(g.prod[pkg], imp) })
	}
	return g, loadErrs, nil
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestArchitecture checks the imports of every package in the module, tests
// included, with one go list call. -e keeps going past packages that do not
// build (their own tests report that); what their files import still counts.
func TestArchitecture(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-e", "-deps=false", "-test",
		"-json=ImportPath,ForTest,Imports,Error,Module", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g, loadErrs, err := parseList(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range loadErrs {
		t.Logf("go list: %s", e)
	}
	// Without this, a change in how packages are named could make every
	// import look foreign and the test pass on nothing.
	if _, ok := g.prod["internal/archtest"]; !ok {
		t.Fatalf("go list did not report internal/archtest; the graph has %d packages", len(g.prod))
	}
	for _, msg := range check(g) {
		t.Error(msg)
	}
}

// TestCheck shows on a small graph that check reports what it should, and
// only that.
func TestCheck(t *testing.T) {
	const iam = awsServicePrefix + "iam"
	tests := []struct {
		name       string
		prod, test map[string][]string
		want       []string
	}{{
		name: "downward imports",
		prod: map[string][]string{
			"internal/policy":            {"internal/inventory", "internal/notify/channelconfig", "go.yaml.in/yaml/v3"},
			"internal/inventory":         {"internal/awsx", iam},
			"internal/notify/awschannel": {"internal/notify", "internal/policy", "internal/store"},
			"internal/engine":            {"internal/remediate", "internal/notify", "internal/report", "internal/securityhub", "internal/store/sqlite"},
			"cmd/keywarden":              {"internal/cli", "internal/lambda"},
			"bench/scan":                 {"bench/benchorg", "internal/awsemu", "internal/inventory"},
			"bench/benchorg":             {"internal/awsemu", "internal/awsx", "internal/inventory"},
		},
	}, {
		name: "upward import",
		prod: map[string][]string{"internal/policy": {"internal/remediate"}},
		want: []string{"internal/policy imports internal/remediate: policy (layer 2) may not import remediate (layer 3); see DESIGN.md"},
	}, {
		name: "upward import from a subpackage",
		prod: map[string][]string{"internal/store/sqlite": {"internal/policy"}},
		want: []string{"internal/store/sqlite imports internal/policy: store (layer 1) may not import policy (layer 2); see DESIGN.md"},
	}, {
		name: "a nested entry is judged by its own layer",
		prod: map[string][]string{"internal/notify/channelconfig": {"internal/notify"}},
		want: []string{"internal/notify/channelconfig imports internal/notify: notify/channelconfig (layer 1) may not import notify (layer 3); see DESIGN.md"},
	}, {
		name: "sideways import",
		prod: map[string][]string{"internal/remediate": {"internal/notify"}},
		want: []string{"internal/remediate imports internal/notify: remediate (layer 3) may not import notify (layer 3) (same layer, and allowed has no entry for it); see DESIGN.md"},
	}, {
		name: "allowed sideways import",
		prod: map[string][]string{"internal/cli": {"internal/server", "internal/engine", "internal/awsemu/orggen"}},
	}, {
		name: "front ends import neither each other nor cli",
		prod: map[string][]string{"internal/server": {"internal/cli", "internal/lambda"}},
		want: []string{
			"internal/server imports internal/cli: server (layer 5) may not import cli (layer 5) (same layer, and allowed has no entry for it); see DESIGN.md",
			"internal/server imports internal/lambda: server (layer 5) may not import lambda (layer 5) (same layer, and allowed has no entry for it); see DESIGN.md",
		},
	}, {
		name: "unknown packages",
		prod: map[string][]string{
			"internal/widget": {"internal/awsx"},
			"internal/policy": {"internal/gadget"},
			"internal/report": {"internal/gadget"},
		},
		want: []string{
			"internal/gadget is not in the layer table: add it to layers in internal/archtest/arch_test.go at the layer DESIGN.md gives it",
			"internal/widget is not in the layer table: add it to layers in internal/archtest/arch_test.go at the layer DESIGN.md gives it",
		},
	}, {
		name: "cli imports an AWS service client",
		prod: map[string][]string{"internal/cli": {iam, "github.com/aws/aws-sdk-go-v2/aws", "internal/engine"}},
		want: []string{"internal/cli imports github.com/aws/aws-sdk-go-v2/service/iam: cli may not import an AWS service client; it calls the engine instead; see DESIGN.md"},
	}, {
		name: "cli tests may use AWS service clients",
		test: map[string][]string{"internal/cli": {iam}},
	}, {
		name: "sandbox in product code",
		prod: map[string][]string{"internal/inventory": {"internal/awsemu"}},
		want: []string{"internal/inventory imports internal/awsemu: awsemu is the sandbox or a test helper, which only tests may import unless allowed lists the importer; see DESIGN.md"},
	}, {
		name: "tests may use the sandbox and the helpers",
		test: map[string][]string{
			"internal/awsx":         {"internal/awsemu"},
			"internal/inventory":    {"internal/awsemu/orggen", "internal/testutil/moto", "bench/benchorg"},
			"internal/store/sqlite": {"internal/store/storetest"},
		},
	}, {
		name: "tests may not import a higher layer",
		test: map[string][]string{"internal/policy": {"internal/engine", "internal/inventory"}},
		want: []string{"internal/policy (tests) imports internal/engine: policy (layer 2) may not import engine (layer 4), not even in tests; see DESIGN.md"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(graph{prod: tt.prod, test: tt.test})
			if !slices.Equal(got, tt.want) {
				t.Errorf("check reported\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestParseList checks that test variants and generated test mains are
// folded into the package they test.
func TestParseList(t *testing.T) {
	const out = `
{"ImportPath": "example.com/m/internal/policy", "Module": {"Path": "example.com/m"}, "Imports": ["fmt", "example.com/m/internal/inventory"]}
{"ImportPath": "example.com/m/internal/policy.test", "Module": {"Path": "example.com/m"}, "Imports": ["example.com/m/internal/policy [example.com/m/internal/policy.test]", "testing"]}
{"ImportPath": "example.com/m/internal/policy [example.com/m/internal/policy.test]", "ForTest": "example.com/m/internal/policy", "Module": {"Path": "example.com/m"}, "Imports": ["example.com/m/internal/inventory", "github.com/google/go-cmp/cmp"]}
{"ImportPath": "example.com/m/internal/policy_test [example.com/m/internal/policy.test]", "ForTest": "example.com/m/internal/policy", "Module": {"Path": "example.com/m"}, "Imports": ["example.com/m/internal/policy [example.com/m/internal/policy.test]", "example.com/m/internal/awsemu"]}
{"ImportPath": "example.com/m/internal/broken", "Module": {"Path": "example.com/m"}, "Error": {"Err": "syntax error"}}
`
	g, loadErrs, err := parseList(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	wantProd := map[string][]string{"internal/policy": {"internal/inventory"}, "internal/broken": nil}
	wantTest := map[string][]string{"internal/policy": {"github.com/google/go-cmp/cmp", "internal/policy", "internal/awsemu"}}
	for _, c := range []struct {
		name      string
		got, want map[string][]string
	}{{"prod", g.prod, wantProd}, {"test", g.test, wantTest}} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
		for k, v := range c.want {
			if !slices.Equal(c.got[k], v) {
				t.Errorf("%s[%s] = %q, want %q", c.name, k, c.got[k], v)
			}
		}
	}
	if want := []string{"example.com/m/internal/broken: syntax error"}; !slices.Equal(loadErrs, want) {
		t.Errorf("errors = %q, want %q", loadErrs, want)
	}
}

// TestTable keeps allowed and awsFree in step with layers.
func TestTable(t *testing.T) {
	for k := range allowed {
		for _, e := range k {
			if _, ok := layers[e]; !ok {
				t.Errorf("allowed names %s, which is not an entry of layers", e)
			}
		}
	}
	for _, e := range awsFree {
		if _, ok := layers[e]; !ok {
			t.Errorf("awsFree names %s, which is not an entry of layers", e)
		}
	}
}

package permissions_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/permissions"
)

const deployDir = "../../deploy"

// roleActions are the actions the list has for a role, leaving out the
// groups a template does not grant.
func roleActions(role awsx.Role, without ...string) []string {
	var gs []permissions.Group
	for _, g := range permissions.Of(role) {
		if !slices.Contains(without, g.Name) {
			gs = append(gs, g)
		}
	}
	return permissions.Actions(gs...)
}

// hubWithout: the templates create the state table themselves (no
// state-init); CloudFormation keeps the policy in SSM only.
var (
	cfnHub = roleActions(awsx.RoleHub, permissions.StateInit, permissions.ConfigS3)
	tfHub  = roleActions(awsx.RoleHub, permissions.StateInit)
)

// TestCloudFormationActions: the IAM actions of each role in each
// CloudFormation template, optional statements included, are the list's.
func TestCloudFormationActions(t *testing.T) {
	tests := []struct {
		file, resource string
		want           []string
	}{
		{"spoke-roles.yaml", "ReadRole", roleActions(awsx.RoleRead)},
		{"spoke-roles.yaml", "ActRole", roleActions(awsx.RoleAct)},
		{"hub.yaml", "HubRole", cfnHub},
	}
	for _, tt := range tests {
		got, err := cfnActions(filepath.Join(deployDir, "cloudformation", tt.file), tt.resource)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s %s: the list (-) and the template (+) differ:\n%s", tt.file, tt.resource, diff)
		}
	}
}

// TestCloudFormationActionsCanFail: the comparison sees one action gone.
func TestCloudFormationActionsCanFail(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(deployDir, "cloudformation", "spoke-roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spoke-roles.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), "- iam:UpdateAccessKey\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := cfnActions(path, "ActRole")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, "iam:UpdateAccessKey") || slices.Equal(got, roleActions(awsx.RoleAct)) {
		t.Fatalf("with iam:UpdateAccessKey removed, the template's act role has %v", got)
	}
}

// cfnActions are the actions of a role resource's inline policies and of
// the managed policies attached to it in the template.
func cfnActions(path, resource string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, errors.New(path + ": " + err.Error())
	}
	resources := lookup(doc.Content[0], "Resources")
	if lookup(resources, resource) == nil {
		return nil, errors.New(path + ": no resource " + resource)
	}
	var policies []*yaml.Node
	if p := lookup(lookup(lookup(resources, resource), "Properties"), "Policies"); p != nil {
		policies = append(policies, p)
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		r := resources.Content[i+1]
		if t := lookup(r, "Type"); t == nil || t.Value != "AWS::IAM::ManagedPolicy" {
			continue
		}
		props := lookup(r, "Properties")
		roles := lookup(props, "Roles")
		if roles != nil && slices.ContainsFunc(roles.Content, func(n *yaml.Node) bool { return n.Tag == "!Ref" && n.Value == resource }) {
			policies = append(policies, lookup(props, "PolicyDocument"))
		}
	}
	if len(policies) == 0 {
		return nil, errors.New(path + ": " + resource + " has no policies")
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "Action" {
					v := n.Content[i+1]
					if v.Kind == yaml.ScalarNode {
						out = append(out, v.Value)
					}
					for _, a := range v.Content {
						out = append(out, a.Value)
					}
					continue
				}
				walk(n.Content[i+1])
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, p := range policies {
		walk(p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// TestTerraformActions: the actions of each policy document of the
// modules, dynamic statements included, are the list's.
func TestTerraformActions(t *testing.T) {
	tests := []struct {
		module, document string
		want             []string
	}{
		{"spoke", "read", roleActions(awsx.RoleRead)},
		{"spoke", "act", roleActions(awsx.RoleAct)},
		{"hub", "hub", tfHub},
	}
	for _, tt := range tests {
		m := parseModule(t, filepath.Join(deployDir, "terraform", "modules", tt.module))
		doc := m.data["aws_iam_policy_document."+tt.document]
		if doc == nil {
			t.Fatalf("module %s has no aws_iam_policy_document.%s", tt.module, tt.document)
		}
		var got []string
		var walk func(b *hclsyntax.Body)
		walk = func(b *hclsyntax.Body) {
			if a, ok := b.Attributes["actions"]; ok {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || !v.CanIterateElements() {
					t.Errorf("%s: actions are not a literal list: %s", a.SrcRange, diags.Error())
				} else {
					for it := v.ElementIterator(); it.Next(); {
						_, s := it.Element()
						if s.Type() == cty.String {
							got = append(got, s.AsString())
						}
					}
				}
			}
			for _, blk := range b.Blocks {
				walk(blk.Body)
			}
		}
		walk(doc)
		slices.Sort(got)
		got = slices.Compact(got)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("module %s, document %s: the list (-) and the module (+) differ:\n%s", tt.module, tt.document, diff)
		}
	}
}

// module is what a Terraform module declares.
type module struct {
	dir       string
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	locals    map[string]bool
	resources map[string]*hclsyntax.Body // TYPE.NAME
	data      map[string]*hclsyntax.Body // TYPE.NAME
	modules   map[string]*hclsyntax.Block
	bodies    []*hclsyntax.Body
}

func parseModule(t *testing.T, dir string) *module {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no .tf files (%v)", dir, err)
	}
	m := &module{dir: dir, variables: map[string]*hclsyntax.Block{}, outputs: map[string]*hclsyntax.Block{}, locals: map[string]bool{},
		resources: map[string]*hclsyntax.Body{}, data: map[string]*hclsyntax.Body{}, modules: map[string]*hclsyntax.Block{}}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s", diags.Error())
		}
		body := file.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				m.variables[b.Labels[0]] = b
			case "output":
				m.outputs[b.Labels[0]] = b
			case "locals":
				for name := range b.Body.Attributes {
					m.locals[name] = true
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "data":
				m.data[b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "module":
				m.modules[b.Labels[0]] = b
			}
		}
	}
	return m
}

// references are every traversal in the module's expressions, but for
// variables' types and lifecycle's ignore_changes, which name no values.
func (m *module) references() []hcl.Traversal {
	var out []hcl.Traversal
	var walk func(b *hclsyntax.Body, blockType string)
	walk = func(b *hclsyntax.Body, blockType string) {
		for name, a := range b.Attributes {
			if (blockType == "variable" && name == "type") || name == "ignore_changes" {
				continue
			}
			out = append(out, a.Expr.Variables()...)
		}
		for _, blk := range b.Blocks {
			walk(blk.Body, blk.Type)
		}
	}
	for _, b := range m.bodies {
		walk(b, "")
	}
	return out
}

// TestTerraformModules: every module and example parses; every reference
// names something declared (a variable, local, resource, data source,
// module, or a module's output); every variable is used and described;
// every module call passes the module's required variables and only
// variables it declares.
func TestTerraformModules(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(deployDir, "terraform", "*", "*"))
	if err != nil || len(dirs) < 4 {
		t.Fatalf("terraform directories %v (%v), want the two modules and two examples", dirs, err)
	}
	for _, dir := range dirs {
		for _, p := range checkModule(t, dir) {
			t.Error(p)
		}
	}
}

// TestTerraformModulesCanFail: the check finds a broken module's faults.
func TestTerraformModulesCanFail(t *testing.T) {
	dir := t.TempDir()
	src := `variable "unused" {
  type = string
}
variable "used" {
  description = "used"
  type        = string
}
resource "aws_iam_role" "r" {
  name = "${var.used}-${var.missing}-${local.nothing}"
  path = aws_iam_role.other.path
}
module "m" {
  source = "../m"
}
output "o" {
  value = module.m.none
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(filepath.Dir(dir), "m")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sub) })
	if err := os.WriteFile(filepath.Join(sub, "main.tf"), []byte("variable \"needed\" {\n  description = \"x\"\n  type = string\n}\noutput \"x\" {\n  value = var.needed\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkModule(t, dir), "\n")
	for _, want := range []string{"var.missing is not declared", "local.nothing is not declared", "resource aws_iam_role.other is not declared",
		"module.m has no output none", "variable unused is never used", "variable unused has no description", "module m needs variable needed"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant %q", got, want)
		}
	}
}

// checkModule returns what is wrong with the module in dir.
func checkModule(t *testing.T, dir string) []string {
	t.Helper()
	var problems []string
	fail := func(r hcl.Range, format string, args ...any) {
		problems = append(problems, r.String()+": "+fmt.Sprintf(format, args...))
	}
	m := parseModule(t, dir)
	used := map[string]bool{}
	dynamic := map[string]bool{"each": true, "count": true, "path": true, "self": true, "terraform": true}
	for _, tr := range m.references() {
		root := tr.RootName()
		attr := func(i int) string {
			if i < len(tr) {
				if a, ok := tr[i].(hcl.TraverseAttr); ok {
					return a.Name
				}
			}
			return ""
		}
		switch {
		case root == "var":
			used[attr(1)] = true
			if m.variables[attr(1)] == nil {
				fail(tr.SourceRange(), "var.%s is not declared", attr(1))
			}
		case root == "local":
			if !m.locals[attr(1)] {
				fail(tr.SourceRange(), "local.%s is not declared", attr(1))
			}
		case root == "data":
			if m.data[attr(1)+"."+attr(2)] == nil {
				fail(tr.SourceRange(), "data.%s.%s is not declared", attr(1), attr(2))
			}
		case root == "module":
			call := m.modules[attr(1)]
			if call == nil {
				fail(tr.SourceRange(), "module.%s is not declared", attr(1))
				continue
			}
			if sub := m.submodule(t, call); sub != nil && sub.outputs[attr(2)] == nil {
				fail(tr.SourceRange(), "module.%s has no output %s", attr(1), attr(2))
			}
		case dynamic[root] || strings.HasSuffix(root, "statement") || root == "condition":
			// for_each iterators of dynamic blocks and meta-arguments
		case strings.HasPrefix(root, "aws_"):
			if m.resources[root+"."+attr(1)] == nil {
				fail(tr.SourceRange(), "resource %s.%s is not declared", root, attr(1))
			}
		default:
			fail(tr.SourceRange(), "unknown reference %s", root)
		}
	}
	for name, v := range m.variables {
		if !used[name] {
			fail(v.Range(), "variable %s is never used", name)
		}
		if _, ok := v.Body.Attributes["description"]; !ok {
			fail(v.Range(), "variable %s has no description", name)
		}
	}
	for _, call := range m.modules {
		sub := m.submodule(t, call)
		if sub == nil {
			continue
		}
		for name := range call.Body.Attributes {
			if name != "source" && sub.variables[name] == nil {
				fail(call.Range(), "module %s has no variable %s", call.Labels[0], name)
			}
		}
		for name, v := range sub.variables {
			if _, hasDefault := v.Body.Attributes["default"]; !hasDefault {
				if _, passed := call.Body.Attributes[name]; !passed {
					fail(call.Range(), "module %s needs variable %s", call.Labels[0], name)
				}
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// submodule parses the module a local module call names.
func (m *module) submodule(t *testing.T, call *hclsyntax.Block) *module {
	t.Helper()
	src, ok := call.Body.Attributes["source"]
	if !ok {
		t.Errorf("%s: module %s has no source", call.Range(), call.Labels[0])
		return nil
	}
	v, diags := src.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || !strings.HasPrefix(v.AsString(), "../") {
		t.Errorf("%s: module %s: want a local source", call.Range(), call.Labels[0])
		return nil
	}
	return parseModule(t, filepath.Join(m.dir, v.AsString()))
}

// requireTool finds a tool, failing the test when env is 1 and skipping it
// otherwise.
func requireTool(t *testing.T, name, env string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(env) == "1" {
			t.Fatalf("%s not found on PATH", name)
		}
		t.Skipf("%s not found on PATH (set %s=1 to make this a failure)", name, env)
	}
	return path
}

// TestCfnLint: cfn-lint (installed with moto) passes on every template.
func TestCfnLint(t *testing.T) {
	lint := requireTool(t, "cfn-lint", "KEYWARDEN_REQUIRE_MOTO")
	files, _ := filepath.Glob(filepath.Join(deployDir, "cloudformation", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("templates %v, want the hub and the spoke roles", files)
	}
	out, err := exec.Command(lint, files...).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %v: %v\n%s", files, err, out)
	}
}

// TestTerraformFmt: terraform fmt has nothing to change.
func TestTerraformFmt(t *testing.T) {
	tf := requireTool(t, "terraform", "KEYWARDEN_REQUIRE_TERRAFORM")
	cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", filepath.Join(deployDir, "terraform"))
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("terraform fmt -check: %v\n%s", err, out)
	}
}

// TestTerraformVariablesRefused: a module input the templates would turn
// into a role, a trust condition or an ARN that never matches (so a run
// would only be denied later) is refused by terraform at once, naming the
// variable, as the CloudFormation parameters' AllowedPattern is. Only the
// variables are evaluated (terraform console), so no provider is needed.
func TestTerraformVariablesRefused(t *testing.T) {
	tf := requireTool(t, "terraform", "KEYWARDEN_REQUIRE_TERRAFORM")
	required := map[string][]string{
		"spoke": {"hub_account_id=111111111111"},
		"hub":   {"lambda_zip=x.zip", "policy_file=keywarden.yaml"},
	}
	for _, tt := range []struct {
		module string
		vars   []string
		bad    string // the variable refused; "" when every value is good
	}{
		{"spoke", []string{"organization_id=o-abcd123456", "read_role_name=Keywarden.Read", "secret_name_prefix=team/keys/"}, ""},
		{"spoke", []string{"organization_id=o-ABC"}, "organization_id"},
		{"spoke", []string{"hub_role_name=hub/role"}, "hub_role_name"},
		{"spoke", []string{"read_role_name="}, "read_role_name"},
		{"spoke", []string{"act_role_name=" + strings.Repeat("a", 65)}, "act_role_name"},
		{"spoke", []string{"secret_name_prefix=keys*"}, "secret_name_prefix"},
		{"hub", []string{"policy_parameter_name=/team/keywarden", "name=kw-hub"}, ""},
		{"hub", []string{"policy_parameter_name=keywarden"}, "policy_parameter_name"},
		{"hub", []string{"name=kw:hub"}, "name"},
		{"hub", []string{"read_role_name=a b"}, "read_role_name"},
		{"hub", []string{"act_role_name=a/b"}, "act_role_name"},
	} {
		dir := t.TempDir()
		src, err := os.ReadFile(filepath.Join(deployDir, "terraform", "modules", tt.module, "variables.tf"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "variables.tf"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"console", "-no-color"}
		for _, v := range append(required[tt.module], tt.vars...) {
			args = append(args, "-var", v)
		}
		cmd := exec.Command(tf, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1")
		cmd.Stdin = strings.NewReader("1\n")
		out, err := cmd.CombinedOutput()
		// terraform console may exit 0 after refusing a variable: the output tells.
		refused := strings.Contains(string(out), "Invalid value for variable")
		switch {
		case tt.bad == "" && (err != nil || refused):
			t.Errorf("%s module with %v: %v\n%s", tt.module, tt.vars, err, out)
		case tt.bad != "" && (!refused || !strings.Contains(string(out), tt.bad+" must")):
			t.Errorf("%s module with %v: %v\n%s\nwant %s refused by name", tt.module, tt.vars, err, out, tt.bad)
		}
	}
}

// TestTrustOnlyTheHubRole: every spoke role trusts the hub account's root
// narrowed to the hub role by aws:PrincipalArn and to the organization by
// aws:PrincipalOrgID, with the optional external ID; never a role ARN as
// principal, which fails with "Invalid principal" before the hub exists.
func TestTrustOnlyTheHubRole(t *testing.T) {
	path := filepath.Join(deployDir, "cloudformation", "spoke-roles.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"ReadRole", "ActRole"} {
		trust := lookup(lookup(lookup(lookup(doc.Content[0], "Resources"), role), "Properties"), "AssumeRolePolicyDocument")
		stmts := lookup(trust, "Statement")
		if stmts == nil || len(stmts.Content) != 1 {
			t.Fatalf("%s: want one trust statement", role)
		}
		st := stmts.Content[0]
		if p := lookup(lookup(st, "Principal"), "AWS"); p == nil || p.Tag != "!Sub" || !strings.HasSuffix(p.Value, ":iam::${HubAccountId}:root") {
			t.Errorf("%s: principal %+v, want the hub account's root", role, p)
		}
		cond := lookup(st, "Condition")
		if a := lookup(lookup(cond, "ArnEquals"), "aws:PrincipalArn"); a == nil || !strings.HasSuffix(a.Value, ":role/${HubRoleName}") {
			t.Errorf("%s: no aws:PrincipalArn condition naming the hub role", role)
		}
		text, _ := yaml.Marshal(lookup(cond, "StringEquals"))
		for _, key := range []string{"aws:PrincipalOrgID: !Ref OrganizationId", "sts:ExternalId: !Ref ExternalId"} {
			if !strings.Contains(string(text), key) {
				t.Errorf("%s: StringEquals %s lacks %s", role, text, key)
			}
		}
	}

	m := parseModule(t, filepath.Join(deployDir, "terraform", "modules", "spoke"))
	trust := m.data["aws_iam_policy_document.trust"]
	if trust == nil {
		t.Fatal("the spoke module has no trust document")
	}
	var principals, variables []string
	hclsyntax.VisitAll(trust, func(n hclsyntax.Node) hcl.Diagnostics {
		if a, ok := n.(*hclsyntax.Attribute); ok {
			r := a.Expr.Range()
			text := string(r.SliceBytes(mustRead(t, r.Filename)))
			switch a.Name {
			case "identifiers":
				principals = append(principals, text)
			case "variable":
				variables = append(variables, text)
			}
		}
		return nil
	})
	if len(principals) != 1 || !strings.Contains(principals[0], ":root") {
		t.Errorf("spoke module principals %v, want the hub account's root", principals)
	}
	for _, v := range []string{`"aws:PrincipalArn"`, `"aws:PrincipalOrgID"`, `"sts:ExternalId"`} {
		if !slices.Contains(variables, v) {
			t.Errorf("spoke module trust conditions %v lack %s", variables, v)
		}
	}
	for _, role := range []string{"aws_iam_role.read", "aws_iam_role.act"} {
		r := m.resources[role]
		if r == nil {
			t.Fatalf("no %s", role)
		}
		a := r.Attributes["assume_role_policy"]
		if a == nil || string(a.Expr.Range().SliceBytes(mustRead(t, a.Expr.Range().Filename))) != "data.aws_iam_policy_document.trust.json" {
			t.Errorf("%s does not take the trust document", role)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTerraformValidate runs terraform validate on every module and
// example where the AWS provider can be had without a download: from a
// local plugin directory (TF_PLUGIN_DIR, else ~/.terraform.d/plugins).
// Without one it is skipped, saying so; TestTerraformModules checks the
// references in its stead.
func TestTerraformValidate(t *testing.T) {
	tf := requireTool(t, "terraform", "KEYWARDEN_REQUIRE_TERRAFORM")
	pluginDir := os.Getenv("TF_PLUGIN_DIR")
	if pluginDir == "" {
		home, _ := os.UserHomeDir()
		pluginDir = filepath.Join(home, ".terraform.d", "plugins")
	}
	if _, err := os.Stat(filepath.Join(pluginDir, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		t.Skipf("no hashicorp/aws provider under %s, and terraform init may not download one here: validate cannot run", pluginDir)
	}
	// A copy, so that init's lock files stay out of the tree.
	copyDir := t.TempDir()
	if err := os.CopyFS(copyDir, os.DirFS(deployDir)); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(copyDir, "terraform")
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, root+"/"), func(t *testing.T) {
			env := append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1", "TF_DATA_DIR="+t.TempDir())
			for _, args := range [][]string{{"init", "-backend=false", "-input=false", "-plugin-dir=" + pluginDir}, {"validate"}} {
				cmd := exec.Command(tf, args...)
				cmd.Dir, cmd.Env = dir, env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("terraform %s: %v\n%s", args[0], err, out)
				}
			}
		})
	}
}

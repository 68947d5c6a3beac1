package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultFile is the policy file LoadDefault looks for when no path is given.
const DefaultFile = "keywarden.yaml"

// Load reads the policy file at path: the built-in defaults overlaid by the
// file. A missing file is an error; the caller decides about defaults (see
// LoadDefault). An invalid file returns a *ValidationError listing every
// problem.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read policy: %w (keywarden policy init %s writes a starter)", err, path)
		}
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// LoadDefault implements the --config rule: with a path, Load(path), which
// must exist; without one, the file DefaultFile in dir if it exists ("" is
// the working directory), else the built-in defaults.
func LoadDefault(path, dir string) (*Policy, error) {
	if path != "" {
		return Load(path)
	}
	name := filepath.Join(dir, DefaultFile)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(name, data)
}

// Parse parses the content of a policy file; name is used in messages and
// becomes the policy's Source. The result is Default() overlaid by the
// file: a rule the file writes replaces the default rule (an omitted
// severity keeps the default severity; enabled defaults to true; an omitted
// multiple_active action is report), the accounts and safety fields it
// writes replace the defaults', and exemptions and overrides come from the
// file alone. An invalid file returns a *ValidationError listing every
// problem found, sorted by line.
func Parse(name string, data []byte) (*Policy, error) {
	l := &loader{file: name, data: data, global: map[RuleName]map[Stage]*yaml.Node{}}
	p := Default()
	p.Source = name
	if root := l.document(data); root != nil {
		l.policy(root, p)
	}
	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool {
			a, b := l.problems[i], l.problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &ValidationError{Problems: l.problems}
	}
	p.Hash = hashPolicy(p)
	return p, nil
}

// Problem is one thing wrong with a policy file.
type Problem struct {
	File         string
	Line, Column int    // 1-based; 0 when unknown
	Field        string // the setting, e.g. rules.max_age.rotate or exemptions[1].reason (lists count from 0)
	Msg          string
}

// String writes the problem as file:line:column: field: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError is an invalid policy file: every problem found, sorted by
// line.
type ValidationError struct {
	Problems []Problem
}

// Error writes one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// maxDuration is the longest threshold: longer ones are typos, and would
// overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	ouIDPattern      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	rootIDPattern    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	groupNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	envNamePattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLinePattern  = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
)

var (
	topKeys       = []string{"version", "accounts", "rules", "exemptions", "overrides", "safety", "notifications"}
	accountsKeys  = []string{"organization", "ous", "accounts", "exclude", "role_name", "external_id_env"}
	exemptionKeys = []string{"accounts", "ous", "users", "paths", "groups", "tags", "rules", "reason", "expires"}
	overrideKeys  = []string{"accounts", "ous", "rules"}
	safetyKeys    = []string{"protected_users", "recent_use_guard", "max_actions", "max_account_fraction", "max_plan_age"}
	criteriaKeys  = "accounts, ous, users, paths, groups or tags"
	severities    = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
)

// loader walks the YAML nodes of a policy file, collecting every problem
// with its position.
type loader struct {
	file     string
	data     []byte
	problems []Problem
	// global records where the file sets each rule's stages, to name them
	// when an override conflicts with them.
	global map[RuleName]map[Stage]*yaml.Node
}

func (l *loader) problem(n *yaml.Node, field, format string, args ...any) {
	p := Problem{File: l.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	l.problems = append(l.problems, p)
}

// document parses data into its one YAML document, returning the root node,
// or nil after recording why there is none.
func (l *loader) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			l.problem(nil, "", "empty policy file: want at least `version: 1`")
		} else {
			l.yamlError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		l.yamlError(err)
	default:
		l.problem(&next, "", "a second YAML document: a policy file holds one (remove the --- line)")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		l.problem(nil, "", "empty policy file: want at least `version: 1`")
		return nil
	}
	return doc.Content[0]
}

// yamlError turns the YAML library's error ("yaml: line 3: found character
// that cannot start any token") into a problem at its line.
func (l *loader) yamlError(err error) {
	msg := err.Error()
	p := Problem{File: l.file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLinePattern.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = m[2]
		lines := bytes.Split(l.data, []byte("\n"))
		if p.Line >= 1 && p.Line <= len(lines) && bytes.ContainsRune(lines[p.Line-1], '\t') {
			p.Msg += " (the line holds a tab: YAML indents with spaces only)"
		}
	}
	p.Msg = "invalid YAML: " + p.Msg
	l.problems = append(l.problems, p)
}

func (l *loader) policy(root *yaml.Node, p *Policy) {
	if root.Kind != yaml.MappingNode {
		l.problem(root, "", "want a mapping of sections (%s), not %s", strings.Join(topKeys, ", "), describe(root))
		return
	}
	var version, overrides *yaml.Node
	l.mapping(root, "", "", func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			version = v
			l.version(v)
		case "accounts":
			l.accounts(v, key, &p.Accounts)
		case "rules":
			l.rules(v, key, p.Rules)
		case "exemptions":
			p.Exemptions = l.exemptions(v, key)
		case "overrides":
			overrides = v // after the rules, wherever they are
		case "safety":
			l.safety(v, key, &p.Safety)
		case "notifications":
			l.notifications(v, key, &p.Notifications)
		default:
			l.unknownKey(k, "", key, topKeys)
		}
	})
	if version == nil {
		l.problem(root, "version", "missing: a policy file starts with `version: 1`")
	}
	if overrides != nil {
		p.Overrides = l.overrides(overrides, "overrides", p.Rules)
	}
}

func (l *loader) version(n *yaml.Node) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		l.problem(n, "version", "want the number 1, not %s", describe(n))
		return
	}
	if v != 1 {
		l.problem(n, "version", "unsupported version %d: this keywarden reads version 1", v)
	}
}

func (l *loader) accounts(n *yaml.Node, field string, a *AccountsConfig) {
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "organization":
			if b, ok := l.boolean(v, f); ok {
				a.Organization = b
			}
		case "ous":
			a.OUs = l.strings(v, f, false, checkOU)
		case "accounts":
			a.Accounts = l.strings(v, f, false, checkAccountID)
		case "exclude":
			a.Exclude = l.strings(v, f, false, checkAccountID)
		case "role_name":
			if s, ok := l.text(v, f); ok {
				if roleNamePattern.MatchString(s) {
					a.RoleName = s
				} else {
					l.problem(v, f, "%q is not an IAM role name: 1 to 64 letters, digits and +=,.@_-", s)
				}
			}
		case "external_id_env":
			if s, ok := l.text(v, f); ok {
				if envNamePattern.MatchString(s) {
					a.ExternalIDEnv = s
				} else {
					l.problem(v, f, "%q is not an environment variable name: letters, digits and _, not starting with a digit", s)
				}
			}
		default:
			l.unknownKey(k, field, key, accountsKeys)
		}
	})
}

func (l *loader) rules(n *yaml.Node, field string, rules map[RuleName]RuleConfig) {
	l.mapping(n, field, "a mapping of rule names", func(key string, k, v *yaml.Node) {
		name, ok := l.ruleName(k, field, key)
		if !ok {
			return
		}
		f := child(field, key)
		before := len(l.problems)
		c, pos := l.ruleConfig(name, v, f)
		if c.Severity == "" {
			c.Severity = rules[name].Severity
		}
		if c.Enabled != nil && *c.Enabled {
			c.Enabled = nil // enabled is the default: the same policy either way
		}
		if name == MultipleActive && c.Action == "" {
			c.Action = ActionReport
		}
		rules[name] = c
		l.global[name] = pos
		l.checkOrder(c.Thresholds, f, func(s Stage) (*yaml.Node, string) { return pos[s], "" })
		if len(l.problems) == before && len(allowedStages[name]) > 0 && c.IsEnabled() && !hasStage(c.Thresholds) {
			l.problem(v, f, "no stage: set at least one of %s, or `enabled: false` to turn the rule off", stageList(name))
		}
	})
}

// ruleConfig reads one rule's settings as written, leaving unset fields
// unset; pos says where each stage is.
func (l *loader) ruleConfig(name RuleName, n *yaml.Node, field string) (RuleConfig, map[Stage]*yaml.Node) {
	var c RuleConfig
	pos := map[Stage]*yaml.Node{}
	l.mapping(n, field, "a mapping of settings", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "enabled":
			if b, ok := l.boolean(v, f); ok {
				c.Enabled = &b
			}
		case "severity":
			if s, ok := l.text(v, f); ok {
				if _, known := severityRank[Severity(s)]; known {
					c.Severity = Severity(s)
				} else {
					l.problem(v, f, "unknown severity %q: want %s", s, joinOr(severities))
				}
			}
		case "action":
			if name != MultipleActive {
				l.problem(k, f, "only multiple_active has an action; %s", stagesHint(name))
				return
			}
			if s, ok := l.text(v, f); ok {
				if s == ActionReport || s == ActionDeactivateLessUsed {
					c.Action = s
				} else {
					l.problem(v, f, "unknown action %q: want %s or %s", s, ActionReport, ActionDeactivateLessUsed)
				}
			}
		case string(StageWarn), string(StageRotate), string(StageDeactivate), string(StageDelete):
			s := Stage(key)
			allowed := stageAllowed(name, s)
			if !allowed {
				if len(allowedStages[name]) == 0 {
					l.problem(k, f, "%s has no stages: %s", name, stagesHint(name))
				} else {
					l.problem(k, f, "%s has no %s stage; its stages are %s", name, s, stageList(name))
				}
			}
			if d := l.duration(v, f); d != nil && allowed {
				c.set(s, d)
				pos[s] = v
			}
		default:
			l.unknownKey(k, field, key, ruleKeys(name))
		}
	})
	return c, pos
}

// checkOrder reports stages that are not strictly later than the stage set
// before them. where says where a stage is set (nil: not in this part of
// the file) and, for one set elsewhere, where ("from rules.max_age at line
// 5"). A problem is reported at the later stage, or at the earlier one when
// only it is here; pairs set elsewhere alone are not reported here.
func (l *loader) checkOrder(t Thresholds, field string, where func(Stage) (*yaml.Node, string)) {
	var prev Stage
	var prevD *Duration
	for _, s := range Stages {
		d := t.Get(s)
		if d == nil {
			continue
		}
		if prevD != nil && *d <= *prevD {
			n, from := where(s)
			pn, pfrom := where(prev)
			switch {
			case n != nil:
				l.problem(n, child(field, string(s)), "%s (%s) must be more than %s (%s%s): stages run warn → rotate → deactivate → delete", s, d, prev, prevD, pfrom)
			case pn != nil:
				l.problem(pn, child(field, string(prev)), "%s (%s) must be less than %s (%s%s): stages run warn → rotate → deactivate → delete", prev, prevD, s, d, from)
			}
		}
		prev, prevD = s, d
	}
}

func (l *loader) exemptions(n *yaml.Node, field string) []Exemption {
	var out []Exemption
	l.sequence(n, field, func(i int, item *yaml.Node) {
		f := index(field, i)
		if item.Kind != yaml.MappingNode {
			l.problem(item, f, "want an exemption (a mapping with a reason), not %s", describe(item))
			return
		}
		e := Exemption{Line: item.Line}
		criteria, reason := false, false
		l.mapping(item, f, "", func(key string, k, v *yaml.Node) {
			g := child(f, key)
			switch key {
			case "accounts":
				criteria = true
				e.Accounts = l.strings(v, g, true, checkAccountID)
			case "ous":
				criteria = true
				e.OUs = l.strings(v, g, true, checkOUOrRoot)
			case "users":
				criteria = true
				e.Users = l.strings(v, g, true, checkGlob)
			case "paths":
				criteria = true
				e.Paths = l.strings(v, g, true, checkPath)
			case "groups":
				criteria = true
				e.Groups = l.strings(v, g, true, checkGroup)
			case "tags":
				criteria = true
				e.Tags = l.tags(v, g)
			case "rules":
				for _, r := range l.strings(v, g, true, checkRuleName) {
					e.Rules = append(e.Rules, RuleName(r))
				}
			case "reason":
				reason = true
				if s, ok := l.text(v, g); ok {
					if strings.TrimSpace(s) == "" {
						l.problem(v, g, "blank: say why these keys are exempt")
					}
					e.Reason = s
				}
			case "expires":
				if v.Kind != yaml.ScalarNode || isNull(v) {
					l.problem(v, g, "want a date like 2027-01-31, not %s", describe(v))
					return
				}
				d, err := ParseDate(v.Value)
				if err != nil {
					l.problem(v, g, "%v", err)
					return
				}
				e.Expires = &d
			default:
				l.unknownKey(k, f, key, exemptionKeys)
			}
		})
		if !reason {
			l.problem(item, child(f, "reason"), "missing: every exemption says why (reason: \"…\")")
		}
		if !criteria {
			l.problem(item, f, "exempts every key: give at least one of %s", criteriaKeys)
		}
		out = append(out, e)
	})
	return out
}

func (l *loader) tags(n *yaml.Node, field string) map[string]string {
	if isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0) {
		l.problem(n, field, "empty: give at least one tag, or leave the key out")
		return nil
	}
	m := map[string]string{}
	l.mapping(n, field, "a mapping of tag keys to values", func(key string, k, v *yaml.Node) {
		if key == "" {
			l.problem(k, field, "empty tag key")
			return
		}
		if v.Kind != yaml.ScalarNode || isNull(v) {
			l.problem(v, child(field, key), "want the tag's value as text (\"*\" matches any value), not %s", describe(v))
			return
		}
		m[key] = v.Value
	})
	if len(m) == 0 {
		return nil
	}
	return m
}

func (l *loader) overrides(n *yaml.Node, field string, global map[RuleName]RuleConfig) []Override {
	var out []Override
	l.sequence(n, field, func(i int, item *yaml.Node) {
		f := index(field, i)
		if item.Kind != yaml.MappingNode {
			l.problem(item, f, "want an override (a mapping with accounts or ous, and rules), not %s", describe(item))
			return
		}
		o := Override{Line: item.Line}
		target, rules := false, false
		l.mapping(item, f, "", func(key string, k, v *yaml.Node) {
			g := child(f, key)
			switch key {
			case "accounts":
				target = true
				o.Accounts = l.strings(v, g, true, checkAccountID)
			case "ous":
				target = true
				o.OUs = l.strings(v, g, true, checkOUOrRoot)
			case "rules":
				rules = true
				if isNull(v) || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
					l.problem(v, g, "empty: an override changes at least one rule, like max_age: {rotate: 30d}")
					return
				}
				o.Rules = l.overrideRules(v, g, global)
			default:
				l.unknownKey(k, f, key, overrideKeys)
			}
		})
		if !target {
			l.problem(item, f, "applies to nothing: give accounts or ous")
		}
		if !rules {
			l.problem(item, child(f, "rules"), "missing: an override changes at least one rule, like rules: {max_age: {rotate: 30d}}")
		}
		out = append(out, o)
	})
	return out
}

// overrideRules reads an override's partial rules and checks each merged
// over the global rule.
func (l *loader) overrideRules(n *yaml.Node, field string, global map[RuleName]RuleConfig) map[RuleName]RuleConfig {
	rules := map[RuleName]RuleConfig{}
	l.mapping(n, field, "a mapping of rule names", func(key string, k, v *yaml.Node) {
		name, ok := l.ruleName(k, field, key)
		if !ok {
			return
		}
		f := child(field, key)
		before := len(l.problems)
		c, pos := l.ruleConfig(name, v, f)
		rules[name] = c
		merged := merge(global[name], c)
		l.checkOrder(merged.Thresholds, f, func(s Stage) (*yaml.Node, string) {
			if n := pos[s]; n != nil {
				return n, ""
			}
			if g := l.global[name][s]; g != nil {
				return nil, fmt.Sprintf(", from rules.%s at line %d", name, g.Line)
			}
			return nil, fmt.Sprintf(", the default %s", name)
		})
		if len(l.problems) == before && len(allowedStages[name]) > 0 && merged.IsEnabled() && !hasStage(merged.Thresholds) {
			l.problem(v, f, "enables %s, which has no stage: set at least one of %s", name, stageList(name))
		}
	})
	return rules
}

func (l *loader) safety(n *yaml.Node, field string, s *Safety) {
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		switch key {
		case "protected_users":
			s.ProtectedUsers = l.strings(v, child(field, key), false, checkGlob)
		case "recent_use_guard":
			if d := l.duration(v, child(field, key)); d != nil {
				s.RecentUseGuard = *d
			}
		case "max_plan_age":
			if d := l.duration(v, child(field, key)); d != nil {
				s.MaxPlanAge = *d
			}
		case "max_actions":
			if t, ok := l.text(v, child(field, key)); ok {
				n, err := strconv.Atoi(t)
				if err != nil || n < 1 || n > 100000 {
					l.problem(v, child(field, key), "want a whole number from 1 to 100000, not %q", t)
				} else {
					s.MaxActions = n
				}
			}
		case "max_account_fraction":
			if t, ok := l.text(v, child(field, key)); ok {
				f, err := strconv.ParseFloat(t, 64)
				if err != nil || !(f > 0 && f <= 1) {
					l.problem(v, child(field, key), "want a fraction more than 0 and at most 1, like 0.25, not %q", t)
				} else {
					s.MaxAccountFraction = f
				}
			}
		default:
			l.unknownKey(k, field, key, safetyKeys)
		}
	})
}

func (l *loader) ruleName(k *yaml.Node, field, key string) (RuleName, bool) {
	if msg := checkRuleName(key); msg != "" {
		l.problem(k, child(field, key), "%s", msg)
		return "", false
	}
	return RuleName(key), true
}

// mapping walks the mapping n, calling fn with each entry in order; a null
// n is an empty mapping. It reports a node of another kind (want describes
// what is wanted; "" for "a mapping"), keys that are not text, duplicate
// keys, merge keys and aliases, and does not pass those entries to fn.
func (l *loader) mapping(n *yaml.Node, field, want string, fn func(key string, k, v *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		l.alias(n, field)
		return
	}
	if n.Kind != yaml.MappingNode {
		if want == "" {
			want = "a mapping"
		}
		l.problem(n, field, "want %s (key: value), not %s", want, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.problem(k, field, "want a key name, not %s", describe(k))
			continue
		}
		f := child(field, k.Value)
		if k.ShortTag() == "!!merge" {
			l.problem(k, field, "merge keys (<<) are not supported: write the settings out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			l.problem(k, f, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode {
			l.alias(v, f)
			continue
		}
		fn(k.Value, k, v)
	}
}

// sequence walks the list n, calling fn with each item; a null n is an
// empty list.
func (l *loader) sequence(n *yaml.Node, field string, fn func(i int, item *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		l.alias(n, field)
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.problem(n, field, "want a list, not %s", describe(n))
		return
	}
	for i, item := range n.Content {
		if item.Kind == yaml.AliasNode {
			l.alias(item, index(field, i))
			continue
		}
		fn(i, item)
	}
}

func (l *loader) alias(n *yaml.Node, field string) {
	l.problem(n, field, "YAML aliases (*%s) are not supported: write the value out", n.Value)
}

// strings reads a list of text, checking each entry with check, which says
// what is wrong ("" if nothing). An empty list is nil; if required, it is a
// problem too: in an exemption or override an empty list would match
// nothing, which is never what was meant.
func (l *loader) strings(n *yaml.Node, field string, required bool, check func(string) string) []string {
	var out []string
	l.sequence(n, field, func(i int, item *yaml.Node) {
		f := index(field, i)
		s, ok := l.text(item, f)
		if !ok {
			return
		}
		if msg := check(s); msg != "" {
			l.problem(item, f, "%s", msg)
			return
		}
		out = append(out, s)
	})
	if required && (isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0)) {
		l.problem(n, field, "empty list: list at least one, or leave the key out")
	}
	return out
}

func (l *loader) text(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		l.problem(n, field, "want text, not %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		l.problem(n, field, "want true or false, not %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		l.problem(n, field, "want true or false, not %s", describe(n))
		return false, false
	}
	return b, true
}

// duration reads a threshold: more than zero, at most maxDuration.
func (l *loader) duration(n *yaml.Node, field string) *Duration {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		l.problem(n, field, "want a duration like 90d, 36h or 2w, not %s", describe(n))
		return nil
	}
	s := n.Value
	if s != "" && strings.Trim(s, "0123456789") == "" {
		l.problem(n, field, "%q has no unit: write %sd for days, %sh for hours or %sw for weeks", s, s, s, s)
		return nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		l.problem(n, field, "%v", err)
		return nil
	}
	// ParseDuration multiplies without checking: check the number itself.
	if num, _ := strconv.ParseInt(s[:len(s)-1], 10, 64); num > int64(maxDuration/unitOf(s)) {
		l.problem(n, field, "%q is too long: at most %s (100 years)", s, Duration(maxDuration))
		return nil
	}
	if d == 0 {
		l.problem(n, field, "%q: a threshold must be more than zero", s)
		return nil
	}
	return &d
}

// unitOf returns the unit of a duration ParseDuration accepted.
func unitOf(s string) time.Duration {
	switch s[len(s)-1] {
	case 'h':
		return time.Hour
	case 'd':
		return 24 * time.Hour
	default:
		return 7 * 24 * time.Hour
	}
}

func (l *loader) unknownKey(k *yaml.Node, field, key string, known []string) {
	hint := ""
	if s := suggest(key, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", s)
	}
	l.problem(k, child(field, key), "unknown key%s; want one of %s", hint, strings.Join(known, ", "))
}

func checkAccountID(s string) string {
	if !accountIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is not an account ID: want 12 digits, quoted like \"111111111111\"", s)
	}
	return ""
}

func checkOU(s string) string {
	if !ouIDPattern.MatchString(s) {
		if rootIDPattern.MatchString(s) {
			return fmt.Sprintf("%q is the organization's root: use organization: true", s)
		}
		return fmt.Sprintf("%q is not an OU ID: want ou-xxxx-xxxxxxxx", s)
	}
	return ""
}

func checkOUOrRoot(s string) string {
	if !ouIDPattern.MatchString(s) && !rootIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is not an OU or root ID: want ou-xxxx-xxxxxxxx or r-xxxx", s)
	}
	return ""
}

func checkGlob(s string) string {
	if s == "" {
		return "empty pattern"
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Sprintf("%q is not a valid pattern: %v", s, err)
	}
	return ""
}

func checkPath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("%q is not an IAM path: paths start with /, like /service/ or /service/*/", s)
	}
	return checkGlob(s)
}

func checkGroup(s string) string {
	if !groupNamePattern.MatchString(s) {
		return fmt.Sprintf("%q is not an IAM group name: letters, digits and +=,.@_- (exact names, no patterns)", s)
	}
	return ""
}

func checkRuleName(s string) string {
	for _, r := range Rules {
		if string(r) == s {
			return ""
		}
	}
	names := make([]string, len(Rules))
	for i, r := range Rules {
		names[i] = string(r)
	}
	hint := ""
	if m := suggest(s, names); m != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", m)
	}
	return fmt.Sprintf("unknown rule %q%s; the rules are %s", s, hint, strings.Join(names, ", "))
}

func stageAllowed(name RuleName, s Stage) bool {
	for _, a := range allowedStages[name] {
		if a == s {
			return true
		}
	}
	return false
}

func stageList(name RuleName) string {
	var s []string
	for _, st := range allowedStages[name] {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

// stagesHint says what a rule does instead of stages, or which it has.
func stagesHint(name RuleName) string {
	switch name {
	case MultipleActive:
		return "it reports, or deactivates the key used less recently with action: deactivate_less_used"
	case RootKey:
		return "it only reports (no role can remove the root user's keys)"
	}
	return "its stages are " + stageList(name)
}

func ruleKeys(name RuleName) []string {
	keys := []string{"enabled", "severity"}
	for _, s := range allowedStages[name] {
		keys = append(keys, string(s))
	}
	if name == MultipleActive {
		keys = append(keys, "action")
	}
	return keys
}

func hasStage(t Thresholds) bool {
	for _, s := range Stages {
		if t.Get(s) != nil {
			return true
		}
	}
	return false
}

func joinOr(sev []Severity) string {
	s := make([]string, len(sev))
	for i, v := range sev {
		s[i] = string(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node for "want X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "a YAML document"
}

func child(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// suggest returns the known word nearest to s, if it is near: a likely
// typo, or a word cut short.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	norm := strings.ToLower(strings.ReplaceAll(s, "-", "_"))
	for _, k := range known {
		if d := editDistance(norm, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && (bestD <= 1 || bestD <= len(s)/3) {
		return best
	}
	if len(norm) >= 4 {
		for _, k := range known {
			if strings.HasPrefix(k, norm) {
				return k
			}
		}
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	notificationKeys = []string{"owner_tags", "owner_channel", "owners", "account_contact", "default", "security_team", "renotify_after", "channels", "templates"}
	ownerRouteKeys   = []string{"users", "accounts", "contact", "channel"}
	contactKeys      = []string{"contact", "channel"}
	templateKeys     = []string{"owner", "team", "owner_html", "team_html"}
	// channelKeys are the keys of each channel type, type aside.
	channelKeys = map[string][]string{
		ChannelSlack:   {"url_env", "url_file"},
		ChannelWebhook: {"url", "url_env", "url_file", "secret_env", "secret_file"},
		ChannelSNS:     {"topic_arn", "region"},
		ChannelSMTP:    {"smtp"},
		ChannelSES:     {"ses"},
	}
	smtpKeys = []string{"host", "port", "from", "username", "username_env", "password_env", "password_file", "starttls", "ca_file"}
	sesKeys  = []string{"from", "region"}
	// secretKeys are keys that would hold a secret in clear, and where the
	// secret goes instead.
	secretKeys = map[string]string{
		"password":    "password_env or password_file",
		"secret":      "secret_env or secret_file",
		"token":       "an environment variable or a file",
		"api_key":     "an environment variable or a file",
		"webhook_url": "url_env or url_file",
	}

	channelNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	tagKeyPattern      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	topicARNPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	regionPattern      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// channelRef is a place in the file that names a channel, checked once
// every channel is known.
type channelRef struct {
	node    *yaml.Node
	field   string
	name    string
	contact string // the contact it reaches, "" when none is fixed
}

// notifications reads the notifications section over the defaults: each
// setting it writes replaces the default's.
func (l *loader) notifications(n *yaml.Node, field string, out *Notifications) {
	var refs []channelRef
	var ownerChannel *yaml.Node
	var ownerRoutes []channelRef // owners entries without a channel
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "owner_tags":
			out.OwnerTags = l.strings(v, f, false, checkTagKey)
		case "owner_channel":
			if s, ok := l.text(v, f); ok {
				out.OwnerChannel = s
				ownerChannel = v
				refs = append(refs, channelRef{node: v, field: f, name: s})
			}
		case "owners":
			out.Owners = nil
			l.sequence(v, f, func(i int, item *yaml.Node) {
				r, ok := l.ownerRoute(item, index(f, i))
				if !ok {
					return
				}
				if r.Channel != "" {
					refs = append(refs, channelRef{node: item, field: child(index(f, i), "channel"), name: r.Channel, contact: r.Contact})
				} else {
					ownerRoutes = append(ownerRoutes, channelRef{node: item, field: index(f, i)})
				}
				out.Owners = append(out.Owners, r)
			})
		case "account_contact":
			if b, ok := l.boolean(v, f); ok {
				out.AccountContact = b
			}
		case "default", "security_team":
			c := l.contact(v, f)
			if key == "default" {
				out.Default = c
			} else {
				out.SecurityTeam = c
			}
			if c != nil {
				refs = append(refs, channelRef{node: v, field: child(f, "channel"), name: c.Channel, contact: c.Contact})
			}
		case "renotify_after":
			if d := l.duration(v, f); d != nil {
				out.RenotifyAfter = *d
			}
		case "channels":
			out.Channels = l.channels(v, f)
		case "templates":
			l.templates(v, f, &out.Templates)
		default:
			l.unknownKey(k, field, key, notificationKeys)
		}
	})

	// The channels named exist, and e-mail channels get e-mail addresses.
	for _, r := range refs {
		c, ok := out.Channels[r.name]
		if !ok {
			l.problem(r.node, r.field, "no channel named %q: %s", r.name, channelNames(out.Channels))
			continue
		}
		if r.contact != "" && IsEmail(c.Type) {
			if _, err := mail.ParseAddressList(r.contact); err != nil {
				l.problem(r.node, strings.TrimSuffix(r.field, "channel")+"contact", "channel %s sends e-mail, and %q is not an e-mail address", r.name, r.contact)
			}
		}
	}
	if len(out.Channels) == 0 {
		return // nothing is sent: routing only names who would be told
	}
	// Contacts from tags and account e-mails go through the owner channel:
	// by default the default's channel, else the only e-mail channel.
	if out.OwnerChannel == "" {
		if out.Default != nil {
			out.OwnerChannel = out.Default.Channel
		} else if email := emailChannels(out.Channels); len(email) == 1 {
			out.OwnerChannel = email[0]
		}
	}
	if out.OwnerChannel != "" {
		return
	}
	for _, r := range ownerRoutes {
		l.problem(r.node, r.field, "no channel: give this entry a channel, or set owner_channel for it to use")
	}
	if (len(out.OwnerTags) > 0 || out.AccountContact) && ownerChannel == nil {
		l.problem(n, child(field, "owner_channel"), "missing: say which channel reaches the contacts found in user tags and account e-mails (owner_channel: NAME), or turn those off with owner_tags: [] and account_contact: false")
	}
}

func emailChannels(chs map[string]ChannelConfig) []string {
	var out []string
	for name, c := range chs {
		if IsEmail(c.Type) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func channelNames(chs map[string]ChannelConfig) string {
	if len(chs) == 0 {
		return "no channels are configured (add one under notifications.channels)"
	}
	names := make([]string, 0, len(chs))
	for n := range chs {
		names = append(names, n)
	}
	sort.Strings(names)
	return "the channels are " + strings.Join(names, ", ")
}

func (l *loader) ownerRoute(item *yaml.Node, f string) (OwnerRoute, bool) {
	if item.Kind != yaml.MappingNode {
		l.problem(item, f, "want an owner (a mapping with users or accounts, and a contact), not %s", describe(item))
		return OwnerRoute{}, false
	}
	r := OwnerRoute{Line: item.Line}
	criteria, contact := false, false
	l.mapping(item, f, "", func(key string, k, v *yaml.Node) {
		g := child(f, key)
		switch key {
		case "users":
			criteria = true
			r.Users = l.strings(v, g, true, checkGlob)
		case "accounts":
			criteria = true
			r.Accounts = l.strings(v, g, true, checkAccountID)
		case "contact":
			contact = true
			if s, ok := l.text(v, g); ok {
				if strings.TrimSpace(s) == "" {
					l.problem(v, g, "blank: say who is told")
				}
				r.Contact = s
			}
		case "channel":
			if s, ok := l.text(v, g); ok {
				r.Channel = s
			}
		default:
			l.unknownKey(k, f, key, ownerRouteKeys)
		}
	})
	if !contact {
		l.problem(item, child(f, "contact"), "missing: say who is told (contact: team@example.com)")
	}
	if !criteria {
		l.problem(item, f, "matches every key: give users or accounts (the default section is for everyone else)")
	}
	return r, contact
}

// contact reads a fixed recipient; nil for a null node or when it has
// problems.
func (l *loader) contact(n *yaml.Node, field string) *Contact {
	if isNull(n) {
		return nil
	}
	var c Contact
	ok := true
	l.mapping(n, field, "a contact and a channel", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "contact":
			if s, good := l.text(v, f); !good {
				ok = false
			} else if strings.TrimSpace(s) == "" {
				l.problem(v, f, "blank: say who is told")
				ok = false
			} else {
				c.Contact = s
			}
		case "channel":
			if s, good := l.text(v, f); good {
				c.Channel = s
			} else {
				ok = false
			}
		default:
			l.unknownKey(k, field, key, contactKeys)
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !hasKey(n, "contact") {
		l.problem(n, child(field, "contact"), "missing: say who is told (contact: security@example.com)")
		ok = false
	}
	if !hasKey(n, "channel") {
		l.problem(n, child(field, "channel"), "missing: name the channel that reaches the contact")
		ok = false
	}
	if !ok {
		return nil
	}
	return &c
}

func (l *loader) templates(n *yaml.Node, field string, t *Templates) {
	l.mapping(n, field, "a mapping of template files", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		var dst *string
		switch key {
		case "owner":
			dst = &t.Owner
		case "team":
			dst = &t.Team
		case "owner_html":
			dst = &t.OwnerHTML
		case "team_html":
			dst = &t.TeamHTML
		default:
			l.unknownKey(k, field, key, templateKeys)
			return
		}
		if s, ok := l.text(v, f); ok {
			if strings.TrimSpace(s) == "" {
				l.problem(v, f, "empty file name: name a template file, or leave the key out for the default")
				return
			}
			*dst = s
		}
	})
}

func (l *loader) channels(n *yaml.Node, field string) map[string]ChannelConfig {
	out := map[string]ChannelConfig{}
	l.mapping(n, field, "a mapping of channel names", func(name string, k, v *yaml.Node) {
		f := child(field, name)
		if !channelNamePattern.MatchString(name) {
			l.problem(k, f, "%q is not a channel name: 1 to 64 letters, digits and _.-, starting with a letter or digit", name)
			return
		}
		if c, ok := l.channel(name, v, f); ok {
			c.Line = k.Line
			out[name] = c
		}
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// channel reads one channel: its type first, then the settings of that type.
func (l *loader) channel(name string, n *yaml.Node, field string) (ChannelConfig, bool) {
	c := ChannelConfig{Name: name}
	if n.Kind != yaml.MappingNode {
		l.problem(n, field, "want a channel (a mapping with a type: %s), not %s", strings.Join(ChannelTypes, ", "), describe(n))
		return c, false
	}
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typeNode = n.Content[i+1]
		}
	}
	if typeNode == nil {
		l.problem(n, child(field, "type"), "missing: want one of %s", strings.Join(ChannelTypes, ", "))
		return c, false
	}
	t, ok := l.text(typeNode, child(field, "type"))
	if !ok {
		return c, false
	}
	if _, known := channelKeys[t]; !known {
		hint := ""
		if s := suggest(t, ChannelTypes); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		l.problem(typeNode, child(field, "type"), "unknown channel type %q%s; want one of %s", t, hint, strings.Join(ChannelTypes, ", "))
		return c, false
	}
	c.Type = t
	before := len(l.problems)
	var urlRef, secret refReader
	l.mapping(n, field, "", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		if key == "type" {
			return
		}
		if key == "url" && t == ChannelSlack {
			l.problem(k, f, "a Slack webhook URL is a secret, not for the policy file: put it in an environment variable or a file: use url_env or url_file")
			return
		}
		if where, secretKey := secretKeys[key]; secretKey {
			l.problem(k, f, "a secret in the policy file: put it in an environment variable or a file: use %s", where)
			return
		}
		if !slices.Contains(channelKeys[t], key) {
			l.channelKey(k, f, t, key)
			return
		}
		switch key {
		case "url":
			urlRef.set(l, k, field, "url")
			if s, ok := l.text(v, f); ok {
				if msg := checkURL(s); msg != "" {
					l.problem(v, f, "%s", msg)
					return
				}
				c.URL = s
			}
		case "url_env":
			c.URLRef.Env = l.envName(v, f)
			urlRef.set(l, k, field, "url_env")
		case "url_file":
			c.URLRef.File = l.fileName(v, f)
			urlRef.set(l, k, field, "url_file")
		case "secret_env":
			c.Secret.Env = l.envName(v, f)
			secret.set(l, k, field, "secret_env")
		case "secret_file":
			c.Secret.File = l.fileName(v, f)
			secret.set(l, k, field, "secret_file")
		case "topic_arn":
			if s, ok := l.text(v, f); ok {
				if topicARNPattern.MatchString(s) {
					c.TopicARN = s
				} else {
					l.problem(v, f, "%q is not an SNS topic ARN: want arn:aws:sns:REGION:ACCOUNT:NAME", s)
				}
			}
		case "region":
			c.Region = l.region(v, f)
		case "smtp":
			c.SMTP = l.smtp(v, f)
		case "ses":
			l.mapping(v, f, "a mapping", func(key string, k, v *yaml.Node) {
				g := child(f, key)
				switch key {
				case "from":
					c.From = l.address(v, g)
				case "region":
					c.Region = l.region(v, g)
				default:
					l.unknownKey(k, f, key, sesKeys)
				}
			})
		}
	})
	// What each type needs.
	missing := func(key, what string) { l.problem(n, child(field, key), "missing: %s", what) }
	switch t {
	case ChannelSlack:
		if urlRef.n == 0 {
			missing("url_env", "say where the Slack webhook URL is: url_env (an environment variable) or url_file")
		}
	case ChannelWebhook:
		if urlRef.n == 0 {
			missing("url", "give the webhook's url, or url_env or url_file")
		}
		if secret.n == 0 {
			missing("secret_env", "say where the HMAC signing secret is: secret_env (an environment variable) or secret_file")
		}
	case ChannelSNS:
		if c.TopicARN == "" && !hasKey(n, "topic_arn") {
			missing("topic_arn", "give the SNS topic's ARN")
		}
	case ChannelSMTP:
		if !hasKey(n, "smtp") {
			missing("smtp", "give the server: smtp: {host, port, from, …}")
		}
	case ChannelSES:
		if !hasKey(n, "ses") {
			missing("ses", "give the sender: ses: {from: keywarden@example.com}")
		} else if c.From == "" && !hasKey(keyValue(n, "ses"), "from") {
			l.problem(keyValue(n, "ses"), child(field, "ses.from"), "missing: give the sender's address")
		}
	}
	return c, len(l.problems) == before
}

// refReader counts the ways a secret (or URL) is given: one is wanted.
type refReader struct {
	n     int
	first string
}

func (r *refReader) set(l *loader, k *yaml.Node, field, key string) {
	r.n++
	if r.n == 1 {
		r.first = key
		return
	}
	l.problem(k, child(field, key), "given with %s: keep one", r.first)
}

// channelKey reports a key that the channel's type does not have.
func (l *loader) channelKey(k *yaml.Node, field, typ, key string) {
	for _, other := range ChannelTypes {
		if slices.Contains(channelKeys[other], key) {
			l.problem(k, field, "a %s channel has no %s (%s channels do); it has type, %s", typ, key, other, strings.Join(channelKeys[typ], ", "))
			return
		}
	}
	l.unknownKey(k, strings.TrimSuffix(field, "."+key), key, append([]string{"type"}, channelKeys[typ]...))
}

func (l *loader) smtp(n *yaml.Node, field string) SMTPConfig {
	s := SMTPConfig{Port: 587, StartTLS: true}
	if n.Kind != yaml.MappingNode {
		l.problem(n, field, "want the SMTP server (a mapping with host, port, from, …), not %s", describe(n))
		return s
	}
	var user, pass refReader
	l.mapping(n, field, "", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		if where, secretKey := secretKeys[key]; secretKey {
			l.problem(k, f, "a secret in the policy file: put it in an environment variable or a file: use %s", where)
			pass.n++
			return
		}
		switch key {
		case "host":
			if t, ok := l.text(v, f); ok {
				if t == "" || strings.ContainsAny(t, " /:") {
					l.problem(v, f, "%q is not a host name: give the name alone, and the port as port", t)
				} else {
					s.Host = t
				}
			}
		case "port":
			if t, ok := l.text(v, f); ok {
				p, err := strconv.Atoi(t)
				if err != nil || p < 1 || p > 65535 {
					l.problem(v, f, "want a port number from 1 to 65535, like 587, not %q", t)
				} else {
					s.Port = p
				}
			}
		case "from":
			s.From = l.address(v, f)
		case "username":
			if t, ok := l.text(v, f); ok {
				s.Username = t
			}
			user.set(l, k, field, key)
		case "username_env":
			s.UsernameEnv = l.envName(v, f)
			user.set(l, k, field, key)
		case "password_env":
			s.Password.Env = l.envName(v, f)
			pass.set(l, k, field, key)
		case "password_file":
			s.Password.File = l.fileName(v, f)
			pass.set(l, k, field, key)
		case "starttls":
			if b, ok := l.boolean(v, f); ok {
				s.StartTLS = b
			}
		case "ca_file":
			s.CAFile = l.fileName(v, f)
		default:
			l.unknownKey(k, field, key, smtpKeys)
		}
	})
	if !hasKey(n, "host") {
		l.problem(n, child(field, "host"), "missing: give the SMTP server's host name")
	}
	if !hasKey(n, "from") {
		l.problem(n, child(field, "from"), "missing: give the sender's address")
	}
	switch {
	case user.n > 0 && pass.n == 0:
		l.problem(n, child(field, "password_env"), "missing: a username needs a password: password_env or password_file")
	case user.n == 0 && pass.n > 0:
		l.problem(n, child(field, "username"), "missing: a password needs a username: username or username_env")
	}
	return s
}

func (l *loader) envName(n *yaml.Node, field string) string {
	s, ok := l.text(n, field)
	if !ok {
		return ""
	}
	if !envNamePattern.MatchString(s) {
		l.problem(n, field, "%q is not an environment variable name: letters, digits and _, not starting with a digit", s)
		return ""
	}
	return s
}

func (l *loader) fileName(n *yaml.Node, field string) string {
	s, ok := l.text(n, field)
	if !ok {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		l.problem(n, field, "empty file name")
		return ""
	}
	return s
}

func (l *loader) address(n *yaml.Node, field string) string {
	s, ok := l.text(n, field)
	if !ok {
		return ""
	}
	if _, err := mail.ParseAddress(s); err != nil {
		l.problem(n, field, "%q is not an e-mail address", s)
		return ""
	}
	return s
}

func (l *loader) region(n *yaml.Node, field string) string {
	s, ok := l.text(n, field)
	if !ok {
		return ""
	}
	if !regionPattern.MatchString(s) {
		l.problem(n, field, "%q is not an AWS region: want one like eu-west-1", s)
		return ""
	}
	return s
}

func checkTagKey(s string) string {
	if !tagKeyPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a tag key: 1 to 128 letters, digits, spaces and _.:/=+-@", s)
	}
	return ""
}

func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Sprintf("%q is not an http or https URL", s)
	}
	if u.User != nil {
		return "the URL holds credentials: put it in an environment variable or a file: use url_env or url_file"
	}
	return ""
}

// hasKey reports whether the mapping n has the key.
func hasKey(n *yaml.Node, key string) bool { return keyValue(n, key) != nil }

// keyValue returns the value of key in the mapping n, nil if there is none.
func keyValue(n *yaml.Node, key string) *yaml.Node {
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

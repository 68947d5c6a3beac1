package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultFile is the policy file LoadDefault looks for when no path is given.
const DefaultFile = "keywarden.yaml"

// Load reads the policy file at path: the built-in defaults overlaid by the
// file. A missing file is an error; the caller decides about defaults (see
// LoadDefault). An invalid file returns a *ValidationError listing every
// problem.
func Load(path string) (*Policy, error) {
	data, err := readPolicyFile(path)
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
	data, err := readPolicyFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(name, data)
}

// MaxFileSize bounds a policy file: a real one is a few kilobytes, and a
// mistaken path (a log, /dev/zero) must not be read without end.
const MaxFileSize = 1 << 20

// readPolicyFile reads a policy file of at most MaxFileSize bytes.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d KiB: not a keywarden policy file", path, MaxFileSize>>10)
	}
	return data, nil
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
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d KiB: not a keywarden policy file", name, MaxFileSize>>10)
	}
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

var (
	topKeys         = []string{"version", "accounts", "rules", "exemptions", "overrides", "safety", "notifications", "automation", "rotation"}
	yamlLinePattern = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
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
		case "automation":
			l.automation(v, key, &p.Automation)
		case "rotation":
			l.rotation(v, key, &p.Rotation)
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

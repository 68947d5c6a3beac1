package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxDuration is the longest threshold: longer ones are typos, and would
// overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

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

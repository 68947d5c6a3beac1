package inventory

import "strings"

// interner keeps one copy of strings, and of lists of strings, that many
// users of an account share. The zero value is ready to use.
type interner struct {
	strs  map[string]string
	lists map[string][]string
}

func (in *interner) string(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	if in.strs == nil {
		in.strs = make(map[string]string)
	}
	in.strs[s] = s
	return s
}

// clone is string for s that may be part of a larger string (a report
// row): what is kept is a copy of s alone.
func (in *interner) clone(s string) string {
	if v, ok := in.strs[s]; ok || s == "" {
		return v
	}
	return in.string(strings.Clone(s))
}

// list returns a list equal to ss, shared with every other list equal
// to it; nil for an empty one. Its capacity is its length, so that an
// append to it copies it.
func (in *interner) list(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	key := strings.Join(ss, "\x00")
	if v, ok := in.lists[key]; ok {
		return v
	}
	v := make([]string, len(ss))
	for i, s := range ss {
		v[i] = in.string(s)
	}
	if in.lists == nil {
		in.lists = make(map[string][]string)
	}
	in.lists[key] = v
	return v
}

// endOf returns s as the end of within, and true, when within ends with it
// (a user's name at the end of its ARN), so that one string holds both;
// else s and false.
func endOf(within, s string) (string, bool) {
	if strings.HasSuffix(within, s) {
		return within[len(within)-len(s):], true
	}
	return s, false
}

package awsemu

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request parameters and their validation, with AWS's ValidationError
// wording: "1 validation error detected: Value 'x' at 'userName' failed to
// satisfy constraint: …".

type validator struct{ problems []string }

func (v *validator) add(value *string, field, constraint string) {
	shown := "null"
	if value != nil {
		shown = "'" + *value + "'"
	}
	v.problems = append(v.problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", shown, field, constraint))
}

// err is the Query services' ValidationError for the problems found, or nil.
func (v *validator) err() *apiError { return v.errCode("ValidationError") }

// errCode is err with another code: the JSON services say ValidationException.
func (v *validator) errCode(code string) *apiError {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return errorf(400, code, "1 validation error detected: %s", v.problems[0])
	}
	return errorf(400, code, "%d validation errors detected: %s", len(v.problems), strings.Join(v.problems, "; "))
}

// str checks an optional string parameter against length bounds and a pattern.
func (v *validator) str(c *call, name, field string, required bool, minLen, maxLen int, pattern *regexp.Regexp, patternText string) (string, bool) {
	vals, ok := c.form[name]
	if !ok {
		if required {
			v.add(nil, field, "Member must not be null")
		}
		return "", false
	}
	val := vals[0]
	n := utf8.RuneCountInString(val)
	if n < minLen {
		v.add(&val, field, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	} else if n > maxLen {
		v.add(&val, field, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	} else if pattern != nil && !pattern.MatchString(val) {
		v.add(&val, field, "Member must satisfy regular expression pattern: "+patternText)
	}
	return val, true
}

var (
	userNamePattern   = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathPattern       = regexp.MustCompile(`^((/)|(/[\x{0021}-\x{007E}]+/))$`)
	pathPrefixPattern = regexp.MustCompile(`^/[\x{0021}-\x{007F}]*$`)
	keyIDPattern      = regexp.MustCompile(`^[\w]+$`)
	markerPattern     = regexp.MustCompile(`^[\x{0020}-\x{00FF}]+$`)
	tagKeyPattern     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValuePattern   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	userNameText      = `[\w+=,.@-]+`
	pathText          = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	keyIDText         = `[\w]+`
	tagKeyText        = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	tagValueText      = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
	markerText        = `[\u0020-\u00FF]+`
	maxItemsDefault   = 100
	maxItemsCeiling   = 1000
	accessKeyIDField  = "accessKeyId"
)

// userName reads an existing-user name parameter (1–128 characters).
func (v *validator) userName(c *call, required bool) (string, bool) {
	return v.str(c, "UserName", "userName", required, 1, 128, userNamePattern, userNameText)
}

func (v *validator) accessKeyID(c *call) string {
	id, _ := v.str(c, "AccessKeyId", accessKeyIDField, true, 16, 128, keyIDPattern, keyIDText)
	return id
}

// page is the parsed Marker/MaxItems pair of an IAM List call.
type page struct {
	after    string // resume at the first item whose sort key is >= after
	maxItems int
}

func (v *validator) paging(c *call) page {
	p := page{maxItems: maxItemsDefault}
	if m, ok := v.str(c, "Marker", "marker", false, 1, 320, markerPattern, markerText); ok && len(v.problems) == 0 {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			v.add(&m, "marker", "Member must be a marker returned by a previous call")
		} else {
			p.after = string(raw)
		}
	}
	if s, ok := c.form["MaxItems"]; ok {
		n, err := strconv.Atoi(s[0])
		switch {
		case err != nil:
			v.add(&s[0], "maxItems", "Member must be an integer")
		case n < 1:
			v.add(&s[0], "maxItems", "Member must have value greater than or equal to 1")
		case n > maxItemsCeiling:
			v.add(&s[0], "maxItems", fmt.Sprintf("Member must have value less than or equal to %d", maxItemsCeiling))
		default:
			p.maxItems = n
		}
	}
	return p
}

// paginate cuts one page from items, which are sorted by key. The marker is
// the key of the next item, opaque to clients. It is "" when the list ends,
// so that the SDK's paginators stop.
func paginate[T any](items []T, key func(T) string, p page) (out []T, marker string) {
	start := 0
	if p.after != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) >= p.after })
	}
	end := start + p.maxItems
	if end >= len(items) {
		return items[start:], ""
	}
	return items[start:end], base64.RawURLEncoding.EncodeToString([]byte(key(items[end])))
}

// listMembers reads a Query-protocol list parameter: Name.member.1, Name.member.2, …
func listMembers(c *call, name string) []string {
	var out []string
	for i := 1; ; i++ {
		vals, ok := c.form[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, vals[0])
	}
}

// tagParams reads Tags.member.N.Key/Value and validates them.
func (v *validator) tags(c *call, required bool) []Tag {
	var tags []Tag
	for i := 1; ; i++ {
		prefix := "Tags.member." + strconv.Itoa(i)
		key, hasKey := c.form[prefix+".Key"]
		val, hasVal := c.form[prefix+".Value"]
		if !hasKey && !hasVal {
			break
		}
		field := fmt.Sprintf("tags.%d.member.key", i)
		t := Tag{}
		if !hasKey {
			v.add(nil, field, "Member must not be null")
		} else {
			t.Key = key[0]
			n := utf8.RuneCountInString(t.Key)
			if n < 1 || n > 128 {
				v.add(&t.Key, field, "Member must have length less than or equal to 128")
			} else if !tagKeyPattern.MatchString(t.Key) {
				v.add(&t.Key, field, "Member must satisfy regular expression pattern: "+tagKeyText)
			}
		}
		field = fmt.Sprintf("tags.%d.member.value", i)
		if !hasVal {
			v.add(nil, field, "Member must not be null")
		} else {
			t.Value = val[0]
			if utf8.RuneCountInString(t.Value) > 256 {
				v.add(&t.Value, field, "Member must have length less than or equal to 256")
			} else if !tagValuePattern.MatchString(t.Value) {
				v.add(&t.Value, field, "Member must satisfy regular expression pattern: "+tagValueText)
			}
		}
		tags = append(tags, t)
	}
	if required && len(tags) == 0 {
		v.add(nil, "tags", "Member must not be null")
	}
	if len(tags) > 50 {
		v.problems = append(v.problems, "Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	return tags
}

package policy

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	exemptionKeys = []string{"accounts", "ous", "users", "paths", "groups", "tags", "rules", "reason", "expires"}
	overrideKeys  = []string{"accounts", "ous", "rules"}
	criteriaKeys  = "accounts, ous, users, paths, groups or tags"
)

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

package policy

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

var severities = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

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

func (l *loader) ruleName(k *yaml.Node, field, key string) (RuleName, bool) {
	if msg := checkRuleName(key); msg != "" {
		l.problem(k, child(field, key), "%s", msg)
		return "", false
	}
	return RuleName(key), true
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

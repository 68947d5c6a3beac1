package policy

import (
	"fmt"
	"slices"
	"sort"
)

// Effective is the rules that apply to one account, after overrides, and
// where each setting came from.
type Effective struct {
	Rules map[RuleName]RuleConfig
	// Sources says, per rule, which override last changed it: "" for the
	// global rules, else e.g. "override at keywarden.yaml:31 (OU ou-ab12-34cd56ef)".
	Sources map[RuleName][]string
}

// Effective returns the rules for an account in the given OUs (root first,
// parent last, as inventory.Account.OUIDs). Overrides apply from the least
// specific to the most: OU overrides from the root down, then account
// overrides; each changes only the fields it sets.
func (p *Policy) Effective(accountID string, ouIDs []string) Effective {
	eff := Effective{Rules: make(map[RuleName]RuleConfig, len(p.Rules)), Sources: map[RuleName][]string{}}
	for r, c := range p.Rules {
		eff.Rules[r] = c
	}
	type applied struct {
		depth int // position of the matched OU; len(ouIDs) for an account match
		order int // position in the file
		ov    Override
		why   string
	}
	var matches []applied
	for i, ov := range p.Overrides {
		depth, why := -1, ""
		for _, ou := range ov.OUs {
			if d := slices.Index(ouIDs, ou); d > depth {
				depth, why = d, "OU "+ou
			}
		}
		if slices.Contains(ov.Accounts, accountID) {
			depth, why = len(ouIDs), "account "+accountID
		}
		if depth >= 0 {
			matches = append(matches, applied{depth, i, ov, why})
		}
	}
	sort.SliceStable(matches, func(i, j int) bool {
		if matches[i].depth != matches[j].depth {
			return matches[i].depth < matches[j].depth
		}
		return matches[i].order < matches[j].order
	})
	for _, m := range matches {
		for r, c := range m.ov.Rules {
			eff.Rules[r] = merge(eff.Rules[r], c)
			eff.Sources[r] = append(eff.Sources[r], fmt.Sprintf("override at %s (%s)", p.location(m.ov.Line), m.why))
		}
	}
	return eff
}

// location names a line of the policy file.
func (p *Policy) location(line int) string {
	src := p.Source
	if src == "" {
		src = "policy"
	}
	return fmt.Sprintf("%s:%d", src, line)
}

// merge lays the fields an override sets over a rule.
func merge(base, over RuleConfig) RuleConfig {
	if over.Enabled != nil {
		base.Enabled = over.Enabled
	}
	if over.Severity != "" {
		base.Severity = over.Severity
	}
	if over.Action != "" {
		base.Action = over.Action
	}
	for _, s := range Stages {
		if d := over.Get(s); d != nil {
			base.set(s, d)
		}
	}
	return base
}

package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// hashPolicy identifies what a policy decides, not how its file is written:
// comments, order and formatting do not change it, any threshold does.
func hashPolicy(p *Policy) string {
	rules := make([]string, 0, len(p.Rules))
	for r := range p.Rules {
		rules = append(rules, string(r))
	}
	sort.Strings(rules)
	type ruleEntry struct {
		Name string
		RuleConfig
	}
	canon := struct {
		Version    int
		Accounts   AccountsConfig
		Rules      []ruleEntry
		Exemptions []Exemption
		Overrides  []Override
		Safety     Safety
		// Rotation is hashed only when enabled: disabled, it changes
		// nothing apply does (and older plans keep their hash).
		Rotation *Rotation `json:",omitempty"`
	}{Version: p.Version, Accounts: p.Accounts, Exemptions: stripLines(p.Exemptions), Overrides: stripOverrideLines(p.Overrides), Safety: p.Safety}
	if p.Rotation.Enabled {
		r := p.Rotation
		r.Line = 0
		canon.Rotation = &r
	}
	for _, r := range rules {
		canon.Rules = append(canon.Rules, ruleEntry{r, p.Rules[RuleName(r)]})
	}
	b, err := json.Marshal(canon) // maps are written with sorted keys
	if err != nil {
		panic("policy: hash: " + err.Error()) // only plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func stripLines(ex []Exemption) []Exemption {
	out := make([]Exemption, len(ex))
	for i, e := range ex {
		e.Line = 0
		out[i] = e
	}
	return out
}

func stripOverrideLines(ov []Override) []Override {
	out := make([]Override, len(ov))
	for i, o := range ov {
		o.Line = 0
		out[i] = o
	}
	return out
}

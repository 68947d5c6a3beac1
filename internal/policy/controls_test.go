package policy_test

import (
	"slices"
	"testing"

	"github.com/keywarden/keywarden/internal/policy"
)

func TestControls(t *testing.T) {
	tests := []struct {
		rule policy.RuleName
		want []string // Control.String() values that must be present
	}{
		{policy.MaxAge, []string{
			"CIS AWS Foundations Benchmark v1.2.0 1.4",
			"CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.14",
			"CIS AWS Foundations Benchmark v5.0.0 1.13",
			"CIS AWS Foundations Benchmark v6.0.0 2.13",
			"CIS AWS Foundations Benchmark v7.0.0 2.12",
			"AWS Security Hub IAM.3",
		}},
		{policy.Unused, []string{
			"CIS AWS Foundations Benchmark v1.2.0 1.3",
			"CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.12",
			"CIS AWS Foundations Benchmark v5.0.0 1.11",
			"CIS AWS Foundations Benchmark v6.0.0–v7.0.0 2.11",
			"AWS Security Hub IAM.8",
			"AWS Security Hub IAM.22",
		}},
		{policy.UnusedInitial, []string{
			"CIS AWS Foundations Benchmark v1.2.0 1.21",
			"CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.11",
			"CIS AWS Foundations Benchmark v5.0.0 1.10",
			"CIS AWS Foundations Benchmark v6.0.0 2.10",
		}},
		{policy.MultipleActive, []string{
			"CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.13",
			"CIS AWS Foundations Benchmark v5.0.0 1.12",
			"CIS AWS Foundations Benchmark v6.0.0 2.12",
		}},
		{policy.RootKey, []string{
			"CIS AWS Foundations Benchmark v1.2.0 1.12",
			"CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.4",
			"CIS AWS Foundations Benchmark v5.0.0 1.3",
			"CIS AWS Foundations Benchmark v6.0.0 2.3",
			"CIS AWS Foundations Benchmark v7.0.0 2.4",
			"AWS Security Hub IAM.4",
		}},
		{policy.InactiveCleanup, nil},
		{policy.ExemptionExpired, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.rule), func(t *testing.T) {
			cs := policy.Controls(tt.rule)
			if tt.want == nil {
				if cs != nil {
					t.Fatalf("want nil, got %v", cs)
				}
				return
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.String())
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
		})
	}
}

func TestControlsWellFormed(t *testing.T) {
	for _, rule := range append(slices.Clone(policy.Rules), policy.ExemptionExpired) {
		cs := policy.Controls(rule)
		seen := map[string]bool{}
		sawSecurityHub := false
		for _, c := range cs {
			if c.Framework == "" || c.ID == "" || c.Title == "" {
				t.Errorf("%s: incomplete control %+v", rule, c)
			}
			switch c.Framework {
			case policy.FrameworkCIS:
				if c.Versions == "" {
					t.Errorf("%s: CIS control %s without versions", rule, c.ID)
				}
				if sawSecurityHub {
					t.Errorf("%s: CIS control %s after a Security Hub control", rule, c)
				}
			case policy.FrameworkSecurityHub:
				if c.Versions != "" {
					t.Errorf("%s: Security Hub control %s with versions %q", rule, c.ID, c.Versions)
				}
				sawSecurityHub = true
			default:
				t.Errorf("%s: unknown framework %q", rule, c.Framework)
			}
			if seen[c.String()] {
				t.Errorf("%s: %s listed twice", rule, c)
			}
			seen[c.String()] = true
		}
	}
}

func TestControlsAreCopies(t *testing.T) {
	cs := policy.Controls(policy.MaxAge)
	cs[0].ID = "changed"
	if policy.Controls(policy.MaxAge)[0].ID == "changed" {
		t.Fatal("Controls returned the table itself")
	}
}

func TestControlString(t *testing.T) {
	tests := []struct {
		c    policy.Control
		want string
	}{
		{policy.Control{Framework: policy.FrameworkCIS, Versions: "v5.0.0", ID: "1.13"}, "CIS AWS Foundations Benchmark v5.0.0 1.13"},
		{policy.Control{Framework: policy.FrameworkSecurityHub, ID: "IAM.3"}, "AWS Security Hub IAM.3"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

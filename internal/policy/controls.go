package policy

import "slices"

// The frameworks a Control belongs to.
const (
	FrameworkCIS         = "CIS AWS Foundations Benchmark"
	FrameworkSecurityHub = "AWS Security Hub"
)

// Control is a compliance control a finding maps to.
type Control struct {
	Framework string // FrameworkCIS or FrameworkSecurityHub
	Versions  string // CIS versions with this numbering, e.g. "v1.4.0–v4.0.1"; "" for Security Hub
	ID        string // e.g. "1.14", "IAM.3"
	Title     string // the recommendation's or control's title
}

// String names the control: "CIS AWS Foundations Benchmark v5.0.0 1.13",
// "AWS Security Hub IAM.3".
func (c Control) String() string {
	if c.Versions == "" {
		return c.Framework + " " + c.ID
	}
	return c.Framework + " " + c.Versions + " " + c.ID
}

// Controls returns the controls a rule maps to, oldest CIS versions first,
// Security Hub last; nil for a rule without any. The slice is the caller's.
func Controls(rule RuleName) []Control {
	return slices.Clone(controls[rule])
}

// CIS version groups. CIS renumbered the IAM recommendations twice among the
// versions still in use: v1.4.0 through v4.0.1 share one numbering; v5.0.0
// dropped one recommendation ahead of them; v6.0.0 moved IAM to section 2;
// v7.0.0 added section 2.1 (Organizations) and dropped the initial-setup and
// one-active-key recommendations. v1.2.0 is kept because Security Hub still
// offers it as a standard.
const (
	cisV120  = "v1.2.0"
	cisV14x  = "v1.4.0–v4.0.1"
	cisV500  = "v5.0.0"
	cisV600  = "v6.0.0"
	cisV700  = "v7.0.0"
	cisV6to7 = "v6.0.0–v7.0.0"
)

func cis(versions, id, title string) Control {
	return Control{Framework: FrameworkCIS, Versions: versions, ID: id, Title: title}
}

func securityHub(id, title string) Control {
	return Control{Framework: FrameworkSecurityHub, ID: id, Title: title}
}

// controls maps each rule to its controls.
//
// Verified from (numbers and titles; each version group from at least one
// source, most from two):
//   - AWS Security Hub User Guide, "AWS Identity and Access Management
//     controls" (docs.aws.amazon.com/securityhub/latest/userguide/iam-controls.html;
//     archived as github.com/awsdocs/aws-security-hub-user-guide
//     doc_source/iam-controls.md): titles of IAM.3, IAM.4, IAM.8, IAM.22 and
//     their related CIS requirements v1.2.0/1.4, v1.4.0/1.14 (IAM.3),
//     v1.2.0/1.12, v1.4.0/1.4 (IAM.4), v1.2.0/1.3 (IAM.8), v1.4.0/1.12 (IAM.22).
//   - AWS Security Hub User Guide, "CIS AWS Foundations Benchmark"
//     (docs.aws.amazon.com/securityhub/latest/userguide/cis-aws-foundations-benchmark.html):
//     Security Hub supports v5.0.0, v3.0.0, v1.4.0 and v1.2.0.
//   - Steampipe AWS Compliance mod (github.com/turbot/steampipe-mod-aws-compliance
//     cis_v120/section_1.pp, cis_v500/section_1.pp, cis_v600/section_2.pp;
//     hub.steampipe.io controls cis_v150_1_13, cis_v150_1_14, cis_v300_1_4,
//     cis_v300_1_13, cis_v300_1_14).
//   - Prowler compliance frameworks (github.com/prowler-cloud/prowler
//     prowler/compliance/aws/cis_{1.4,1.5,2.0,3.0,4.0,5.0,6.0,7.0}_aws.json).
//   - Tenable audit items, tenable.com/audits/items/CIS_Amazon_Web_Services_Foundations_*:
//     v1.5.0_L1 (1.14), v2.0.0_L1 (1.4), v3.0.0_L1 (1.4, 1.13),
//     v4.0.1_L1 (1.4, 1.14), v7.0.0_L1 (2.4, 2.11, 2.12).
//
// In the v1.4.0–v4.0.1 group the titles are those of v1.4.0–v3.0.0, which
// Security Hub evaluates; v4.0.1 rewords 1.11 ("Do not create access keys
// during initial setup for IAM users with a console password"), 1.12 ("... 45
// days or more ...") and 1.13 ("... only one active access key for any single
// IAM user") without renumbering them.
//
// Not mapped: v1.2.0 has no one-active-key recommendation; v7.0.0 has neither
// an initial-setup nor a one-active-key recommendation (Prowler's v7.0.0 IAM
// section); Security Hub's IAM controls (IAM.1–IAM.22 in the guide read)
// include none for initial-setup keys or for more than one active key. inactive_cleanup has no control: CIS and Security Hub
// (IAM.8, IAM.22) judge only passwords and active keys. The v1.2.0 1.3 and
// IAM.8 threshold is 90 days unused, not 45.
var controls = map[RuleName][]Control{
	MaxAge: {
		cis(cisV120, "1.4", "Ensure access keys are rotated every 90 days or less"),
		cis(cisV14x, "1.14", "Ensure access keys are rotated every 90 days or less"),
		cis(cisV500, "1.13", "Ensure access keys are rotated every 90 days or less"),
		cis(cisV600, "2.13", "Ensure access keys are rotated every 90 days or less"),
		cis(cisV700, "2.12", "Ensure access keys are rotated every 90 days or less"),
		securityHub("IAM.3", "IAM users' access keys should be rotated every 90 days or less"),
	},
	Unused: {
		cis(cisV120, "1.3", "Ensure credentials unused for 90 days or greater are disabled"),
		cis(cisV14x, "1.12", "Ensure credentials unused for 45 days or greater are disabled"),
		cis(cisV500, "1.11", "Ensure credentials unused for 45 days or more are disabled"),
		cis(cisV6to7, "2.11", "Ensure credentials unused for 45 days or more are disabled"),
		securityHub("IAM.8", "Unused IAM user credentials should be removed"),
		securityHub("IAM.22", "IAM user credentials unused for 45 days should be removed"),
	},
	UnusedInitial: {
		cis(cisV120, "1.21", "Do not setup access keys during initial user setup for all IAM users that have a console password"),
		cis(cisV14x, "1.11", "Do not setup access keys during initial user setup for all IAM users that have a console password"),
		cis(cisV500, "1.10", "Do not create access keys during initial setup for IAM users with a console password"),
		cis(cisV600, "2.10", "Do not create access keys during initial setup for IAM users with a console password"),
	},
	MultipleActive: {
		cis(cisV14x, "1.13", "Ensure there is only one active access key available for any single IAM user"),
		cis(cisV500, "1.12", "Ensure there is only one active access key for any single IAM user"),
		cis(cisV600, "2.12", "Ensure there is only one active access key for any single IAM user"),
	},
	RootKey: {
		cis(cisV120, "1.12", "Ensure no root account access key exists"),
		cis(cisV14x, "1.4", "Ensure no 'root' user account access key exists"),
		cis(cisV500, "1.3", "Ensure no 'root' user account access key exists"),
		cis(cisV600, "2.3", "Ensure no 'root' user account access key exists"),
		cis(cisV700, "2.4", "Ensure no 'root' user account access key exists"),
		securityHub("IAM.4", "IAM root user access key should not exist"),
	},
}

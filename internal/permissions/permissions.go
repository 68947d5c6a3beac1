// Package permissions is the one list of the AWS operations keywarden
// calls: by the identity that calls them (the hub, a spoke's read role, a
// spoke's act role) and by the job that needs them. The deploy templates,
// docs/deploy.md and docs/scan.md are checked against it, and tests record
// what the code really calls and compare it with it: a new AWS call
// without a change here fails.
package permissions

import (
	"slices"
	"strings"

	"github.com/keywarden/keywarden/internal/awsx"
)

// Operation is one AWS API operation, named as the SDK names it in its
// middleware stack.
type Operation struct {
	Service string // the SDK's service ID, such as "IAM" or "Secrets Manager"
	Name    string // the operation, such as "ListAccessKeys"
}

func (o Operation) String() string { return o.Service + ":" + o.Name }

// Call is an operation with the IAM actions AWS authorizes it by: most
// operations need the action of their own name; sts:GetCallerIdentity needs
// none, and a DynamoDB transaction needs the action of each item's write.
type Call struct {
	Operation
	Actions []string
}

// Group is what one job needs from one identity.
type Group struct {
	Name string
	Role awsx.Role
	// About says what needs it, for the documentation.
	About string
	// Optional groups are granted only to installations that use the
	// feature; the templates make each one a parameter.
	Optional bool
	Calls    []Call
	// Indirect are the actions AWS checks on keywarden's behalf, with no
	// call of keywarden's own: KMS through Secrets Manager, CloudWatch Logs
	// for the Lambda function's output.
	Indirect []string
}

// prefixes are the IAM service prefixes of the SDK's service IDs.
var prefixes = map[string]string{
	"IAM": "iam", "STS": "sts", "Organizations": "organizations", "DynamoDB": "dynamodb",
	"S3": "s3", "SSM": "ssm", "Secrets Manager": "secretsmanager", "SecurityHub": "securityhub",
	"SNS": "sns", "SESv2": "ses",
}

// call is an operation that needs the action of its own name.
func call(service, name string) Call {
	return Call{Operation{service, name}, []string{prefixes[service] + ":" + name}}
}

func calls(service string, names ...string) []Call {
	var out []Call
	for _, n := range names {
		out = append(out, call(service, n))
	}
	return out
}

// Group names.
const (
	Identity     = "identity"
	Organization = "organization"
	State        = "state"
	StateInit    = "state-init"
	ConfigS3     = "config-s3"
	ConfigSSM    = "config-ssm"
	Reports      = "reports"
	NotifySNS    = "notify-sns"
	NotifySES    = "notify-ses"
	Logs         = "logs"
	Scan         = "scan"
	SecurityHub  = "securityhub"
	Act          = "act"
	Rotate       = "rotate"
)

// Groups is the list, in the order the documentation shows it.
var Groups = []Group{
	{Name: Identity, Role: awsx.RoleHub, About: "who the caller is (no permission needed), and the spoke roles it assumes",
		Calls: []Call{{Operation{"STS", "GetCallerIdentity"}, nil}, call("STS", "AssumeRole")}},
	{Name: Organization, Role: awsx.RoleHub, About: "--org, --ou, and account names and OU paths",
		Calls: calls("Organizations", "ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent")},
	{Name: State, Role: awsx.RoleHub, About: "the DynamoDB state store (apply, undo, history, the Lambda)",
		Calls: append(calls("DynamoDB", "DescribeTable", "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"),
			Call{Operation{"DynamoDB", "TransactWriteItems"}, []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}})},
	{Name: StateInit, Role: awsx.RoleHub, About: "keywarden state init (the templates create the table instead)", Optional: true,
		Calls: calls("DynamoDB", "CreateTable", "DescribeTable", "UpdateContinuousBackups")},
	{Name: ConfigS3, Role: awsx.RoleHub, About: "the Lambda's policy from S3 (KEYWARDEN_CONFIG=s3://…)", Optional: true,
		Calls: calls("S3", "GetObject")},
	{Name: ConfigSSM, Role: awsx.RoleHub, About: "the Lambda's policy from SSM (KEYWARDEN_CONFIG=ssm:/…); SecureString needs kms:Decrypt", Optional: true,
		Calls: calls("SSM", "GetParameter"), Indirect: []string{"kms:Decrypt"}},
	{Name: Reports, Role: awsx.RoleHub, About: "the Lambda's reports in S3 (automation.reports_s3)", Optional: true,
		Calls: calls("S3", "PutObject")},
	{Name: NotifySNS, Role: awsx.RoleHub, About: "notifications through SNS", Optional: true,
		Calls: calls("SNS", "Publish")},
	{Name: NotifySES, Role: awsx.RoleHub, About: "notifications through SES", Optional: true,
		Calls: []Call{{Operation{"SESv2", "SendEmail"}, []string{"ses:SendEmail"}}}},
	{Name: Logs, Role: awsx.RoleHub, About: "the Lambda function's output (JSON logs) in its log group",
		Indirect: []string{"logs:CreateLogStream", "logs:PutLogEvents"}},

	{Name: Scan, Role: awsx.RoleRead, About: "scan, plan, and the fresh read of apply and export",
		Calls: calls("IAM", "GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails",
			"GetAccountSummary", "ListUsers", "ListAccessKeys", "GetAccessKeyLastUsed")},
	{Name: SecurityHub, Role: awsx.RoleRead, About: "export securityhub and the Lambda's automation.security_hub", Optional: true,
		Calls: calls("SecurityHub", "GetFindings", "BatchImportFindings")},

	{Name: Act, Role: awsx.RoleAct, About: "apply (deactivate, delete) and undo: each key read again right before it is changed",
		Calls: calls("IAM", "ListAccessKeys", "GetAccessKeyLastUsed", "UpdateAccessKey", "DeleteAccessKey")},
	{Name: Rotate, Role: awsx.RoleAct, About: "rotation: a new key, stored in Secrets Manager under keywarden's secret names; " +
		"with rotation.kms_key_id, the key's use through Secrets Manager; with replica_regions, replication", Optional: true,
		Calls: append(calls("IAM", "CreateAccessKey"),
			calls("Secrets Manager", "DescribeSecret", "CreateSecret", "PutSecretValue", "PutResourcePolicy", "TagResource")...),
		Indirect: []string{"secretsmanager:ReplicateSecretToRegions", "kms:GenerateDataKey", "kms:Decrypt"}},
}

// Find returns the group of that name.
func Find(name string) (Group, bool) {
	i := slices.IndexFunc(Groups, func(g Group) bool { return g.Name == name })
	if i < 0 {
		return Group{}, false
	}
	return Groups[i], true
}

// Actions is every IAM action of the groups, direct and indirect, sorted,
// each once.
func Actions(groups ...Group) []string {
	var out []string
	for _, g := range groups {
		for _, c := range g.Calls {
			out = append(out, c.Actions...)
		}
		out = append(out, g.Indirect...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Operations is every operation of the groups, sorted, each once.
func Operations(groups ...Group) []Operation {
	var out []Operation
	for _, g := range groups {
		for _, c := range g.Calls {
			out = append(out, c.Operation)
		}
	}
	return sortOps(out)
}

// Of returns the groups of a role.
func Of(role awsx.Role) []Group {
	var out []Group
	for _, g := range Groups {
		if g.Role == role {
			out = append(out, g)
		}
	}
	return out
}

func sortOps(ops []Operation) []Operation {
	slices.SortFunc(ops, func(a, b Operation) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ops)
}

// roleTitles name the identities in the documentation.
var roleTitles = map[awsx.Role]string{
	awsx.RoleHub:  "hub",
	awsx.RoleRead: "read role",
	awsx.RoleAct:  "act role",
}

// Table renders the list as the Markdown table of docs/deploy.md.
func Table() string {
	var b strings.Builder
	b.WriteString("| identity | group | IAM actions | needed for |\n|---|---|---|---|\n")
	for _, g := range Groups {
		var acts []string
		for _, a := range Actions(Group{Calls: g.Calls}) {
			acts = append(acts, "`"+a+"`")
		}
		for _, a := range g.Indirect {
			acts = append(acts, "`"+a+"`"+" (by AWS)")
		}
		if len(acts) == 0 {
			acts = []string{"none"}
		}
		about := g.About
		if g.Optional {
			about += " (optional)"
		}
		b.WriteString("| " + roleTitles[g.Role] + " | `" + g.Name + "` | " + strings.Join(acts, ", ") + " | " + strings.ReplaceAll(about, "|", "\\|") + " |\n")
	}
	return b.String()
}

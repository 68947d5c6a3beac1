package report

import (
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ASFF, the AWS Security Finding Format, is how findings reach AWS Security
// Hub. This file makes it from the Document as plain values (report never
// imports the AWS SDK); internal/securityhub imports them.
//
// One ASFF finding is made per Finding: per key and rule. Its Id is stable
// (see ASFFID), so that importing the next scan updates the finding rather
// than adding another. Exempt findings are exported ARCHIVED (see
// ASFFFinding.RecordState).

// ASFFSchemaVersion is the ASFF SchemaVersion of every finding.
const ASFFSchemaVersion = "2018-10-08"

// ASFFGeneratorPrefix begins the GeneratorId of every finding keywarden
// makes ("keywarden/max_age"): it is how keywarden's findings are told
// from others' under the same product.
const ASFFGeneratorPrefix = "keywarden/"

// DefaultASFFRegion is the region of the findings when ASFFOptions gives
// none: the region keywarden uses when the AWS configuration names none.
const DefaultASFFRegion = "us-east-1"

// The ASFF enum values keywarden uses.
const (
	ASFFRecordActive   = "ACTIVE"
	ASFFRecordArchived = "ARCHIVED"
	ASFFCompliancePass = "PASSED"
	ASFFComplianceFail = "FAILED"
)

// ASFF limits on text fields, in characters.
const (
	asffTitleMax       = 256
	asffDescriptionMax = 1024
	asffRemediationMax = 512
)

// ASFFOptions are what ASFF needs besides the Document.
type ASFFOptions struct {
	// Region is the Security Hub region the findings are imported into; it
	// is part of ProductArn and of each resource. "" means
	// DefaultASFFRegion.
	Region string
	// ProductAccount is the account of the default product ARN
	// (arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default) every
	// finding carries. "" means each finding's own account, which is what
	// BatchImportFindings accepts from a custom integration: it must be
	// called from the finding's account (AwsAccountId).
	ProductAccount string
	// Partition is the ARN partition (aws, aws-us-gov, aws-cn); "" means
	// the partition of the Document's caller.
	Partition string
	// ProductVersion is keywarden's version, output as the ProviderVersion
	// product field; "" leaves it out.
	ProductVersion string
}

// ASFFFinding is one finding in the AWS Security Finding Format. The JSON
// names are ASFF's; the fields are those keywarden sets. Times are ISO 8601
// strings (RFC 3339, UTC, to the second).
type ASFFFinding struct {
	SchemaVersion string   `json:"SchemaVersion"`
	ID            string   `json:"Id"`
	ProductARN    string   `json:"ProductArn"`
	ProductName   string   `json:"ProductName"`
	CompanyName   string   `json:"CompanyName"`
	GeneratorID   string   `json:"GeneratorId"`
	AWSAccountID  string   `json:"AwsAccountId"`
	Types         []string `json:"Types"`
	// FirstObservedAt and LastObservedAt are when the scan saw the
	// problem; CreatedAt and UpdatedAt when the finding was made. All four
	// are the Document's GeneratedAt; the Security Hub export keeps the
	// CreatedAt and FirstObservedAt of a finding already there and sets
	// UpdatedAt to the time of the import.
	FirstObservedAt       string             `json:"FirstObservedAt"`
	LastObservedAt        string             `json:"LastObservedAt"`
	CreatedAt             string             `json:"CreatedAt"`
	UpdatedAt             string             `json:"UpdatedAt"`
	Severity              ASFFSeverity       `json:"Severity"`
	Title                 string             `json:"Title"`
	Description           string             `json:"Description"`
	Remediation           ASFFRemediation    `json:"Remediation"`
	ProductFields         map[string]string  `json:"ProductFields"`
	Resources             []ASFFResource     `json:"Resources"`
	Compliance            ASFFCompliance     `json:"Compliance"`
	FindingProviderFields ASFFProviderFields `json:"FindingProviderFields"`
	// RecordState is ACTIVE, or ARCHIVED for an exempt finding: the key
	// still breaks the rule (Compliance stays FAILED) but the risk was
	// accepted, so the finding leaves Security Hub's default views. When
	// the exemption ends, the next import makes the finding ACTIVE again,
	// and Security Hub moves a RESOLVED or NOTIFIED workflow back to NEW.
	// (BatchImportFindings cannot set Workflow on an existing finding, so
	// SUPPRESSED, which belongs to the customer, is not used.)
	RecordState string `json:"RecordState"`
}

// ASFFSeverity is a finding's severity: Label is ASFF's, Original the
// policy's (info, low, medium, high, critical).
type ASFFSeverity struct {
	Label    string `json:"Label"`
	Original string `json:"Original,omitempty"`
}

// ASFFRemediation says how to fix what a finding reports.
type ASFFRemediation struct {
	Recommendation ASFFRecommendation `json:"Recommendation"`
}

// ASFFRecommendation is the text of a remediation.
type ASFFRecommendation struct {
	Text string `json:"Text"`
}

// ASFFResource is a resource a finding is about: the access key
// (AwsIamAccessKey, Id the key ID), its user (AwsIamUser, Id the user ARN),
// or for a root key the account (AwsAccount, Id AWS::::Account:ID).
type ASFFResource struct {
	Type      string               `json:"Type"`
	ID        string               `json:"Id"`
	Partition string               `json:"Partition"`
	Region    string               `json:"Region"`
	Details   *ASFFResourceDetails `json:"Details,omitempty"`
}

// ASFFResourceDetails holds the details of a resource, under its type.
type ASFFResourceDetails struct {
	AWSIAMAccessKey *ASFFAccessKeyDetails `json:"AwsIamAccessKey,omitempty"`
	AWSIAMUser      *ASFFUserDetails      `json:"AwsIamUser,omitempty"`
}

// ASFFAccessKeyDetails are the details of an AwsIamAccessKey resource.
type ASFFAccessKeyDetails struct {
	AccessKeyID   string `json:"AccessKeyId"`
	AccountID     string `json:"AccountId"`
	CreatedAt     string `json:"CreatedAt,omitempty"`
	PrincipalName string `json:"PrincipalName"`
	PrincipalType string `json:"PrincipalType"`
}

// ASFFUserDetails are the details of an AwsIamUser resource.
type ASFFUserDetails struct {
	UserName string `json:"UserName"`
}

// ASFFCompliance is a finding's compliance: FAILED while the rule fires
// (PASSED once the Security Hub export resolves it), and the requirements
// it relates to, from the rule's controls: "CIS AWS Foundations Benchmark
// v1.4.0–v4.0.1/1.14", "AWS Security Hub/IAM.3".
type ASFFCompliance struct {
	Status              string   `json:"Status"`
	RelatedRequirements []string `json:"RelatedRequirements,omitempty"`
}

// ASFFProviderFields repeats Severity and Types where a finding provider
// may update them: Security Hub keeps a customer's changes to the
// top-level fields.
type ASFFProviderFields struct {
	Severity ASFFSeverity `json:"Severity"`
	Types    []string     `json:"Types"`
}

// ASFFProductARN is the product ARN of a custom integration in an account:
// arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default.
func ASFFProductARN(partition, region, account string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":securityhub:" + region + ":" + account + ":product/" + account + "/default"
}

// The ASFF Types of keywarden's findings.
const (
	asffTypeBestPractice = "Software and Configuration Checks/AWS Security Best Practices"
	asffTypeCIS          = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
)

// findingTypes are the ASFF Types of a finding (also OCSF's
// finding_info.types): a best-practice check, and an industry standard one
// when the rule maps to a CIS recommendation.
func findingTypes(f Finding) []string {
	types := []string{asffTypeBestPractice}
	for _, c := range f.Controls {
		if c.Framework == "CIS AWS Foundations Benchmark" {
			return append(types, asffTypeCIS)
		}
	}
	return types
}

// ASFFID is the Id of a finding's ASFF finding, stable from one scan to the
// next for as long as the key breaks the rule:
//
//	keywarden/ACCOUNT/user/USER/KEY/RULE   an IAM user's key
//	keywarden/ACCOUNT/root/KEY/RULE        a root key
//
// KEY is the key's creation time (20250120T093000Z), which both ways of
// reading keys know, unlike its ID (not in the credential report) or slot
// (not from the API); when the creation time is unknown, the key ID, else
// slotN, else "unknown". Rotating a key makes a new key, so a new Id.
// ASFF makes two findings with the same Id (two keys of one user created in
// the same second, two expired exemptions of one key) distinct by adding
// /2, /3, … to the later ones in the Document's order.
func ASFFID(f Finding) string {
	var b strings.Builder
	b.WriteString(ASFFGeneratorPrefix)
	b.WriteString(f.AccountID)
	if f.UserName == RootUserName {
		b.WriteString("/root/")
	} else {
		b.WriteString("/user/")
		b.WriteString(f.UserName)
		b.WriteString("/")
	}
	switch {
	case !f.KeyCreatedAt.IsZero():
		b.WriteString(f.KeyCreatedAt.UTC().Format("20060102T150405Z"))
	case f.AccessKeyID != "":
		b.WriteString(f.AccessKeyID)
	case f.KeySlot > 0:
		b.WriteString("slot" + strconv.Itoa(f.KeySlot))
	default:
		b.WriteString("unknown")
	}
	b.WriteString("/")
	b.WriteString(f.Rule)
	return b.String()
}

// ASFF returns the Document's findings in the AWS Security Finding Format,
// one per finding, in the Document's order; never nil.
func ASFF(doc *Document, opts ASFFOptions) []ASFFFinding {
	out := make([]ASFFFinding, 0, len(doc.Findings))
	for a := range asffFindings(doc, opts) {
		out = append(out, a)
	}
	return out
}

// asffFindings yields the ASFF findings of ASFF one at a time, each made
// when it is asked for.
func asffFindings(doc *Document, opts ASFFOptions) iter.Seq[ASFFFinding] {
	if opts.Region == "" {
		opts.Region = DefaultASFFRegion
	}
	if opts.Partition == "" {
		opts.Partition = arnPartition(doc.Caller)
	}
	at := asffTime(doc.GeneratedAt)
	ids := findingIDs(doc.Findings)
	return func(yield func(ASFFFinding) bool) {
		for i, f := range doc.Findings {
			a := asffFinding(f, opts, at)
			a.ID = ids[i]
			if !yield(a) {
				return
			}
		}
	}
}

// findingIDs returns the ASFFID of each finding, made distinct: the second
// finding with an Id gets /2 added, the third /3, and so on.
func findingIDs(fs []Finding) []string {
	ids := make([]string, len(fs))
	seen := map[string]int{}
	for i, f := range fs {
		id := ASFFID(f)
		seen[id]++
		if n := seen[id]; n > 1 {
			id += "/" + strconv.Itoa(n)
		}
		ids[i] = id
	}
	return ids
}

func asffFinding(f Finding, opts ASFFOptions, at string) ASFFFinding {
	productAccount := opts.ProductAccount
	if productAccount == "" {
		productAccount = f.AccountID
	}
	types := findingTypes(f)
	var reqs []string
	for _, c := range f.Controls {
		reqs = append(reqs, requirement(c, "/"))
	}
	sev := ASFFSeverity{Label: asffSeverity(f.Severity), Original: f.Severity}
	title := ruleTitle(f.Rule)
	desc := f.Message
	if desc == "" {
		desc = title
	}
	if f.Exempt {
		desc = sentence(desc) + " " + exemptionText(f)
	}
	state := ASFFRecordActive
	if f.Exempt {
		state = ASFFRecordArchived
	}
	return ASFFFinding{
		SchemaVersion:   ASFFSchemaVersion,
		ProductARN:      ASFFProductARN(opts.Partition, opts.Region, productAccount),
		ProductName:     "keywarden",
		CompanyName:     "keywarden",
		GeneratorID:     ASFFGeneratorPrefix + f.Rule,
		AWSAccountID:    f.AccountID,
		Types:           types,
		FirstObservedAt: at,
		LastObservedAt:  at,
		CreatedAt:       at,
		UpdatedAt:       at,
		Severity:        sev,
		Title:           truncate(title, asffTitleMax),
		Description:     truncate(desc, asffDescriptionMax),
		Remediation: ASFFRemediation{Recommendation: ASFFRecommendation{
			Text: truncate(ruleRemediation(f.Rule), asffRemediationMax),
		}},
		ProductFields:         asffProductFields(f, opts.ProductVersion),
		Resources:             asffResources(f, opts),
		Compliance:            ASFFCompliance{Status: ASFFComplianceFail, RelatedRequirements: reqs},
		FindingProviderFields: ASFFProviderFields{Severity: sev, Types: types},
		RecordState:           state,
	}
}

func asffResources(f Finding, opts ASFFOptions) []ASFFResource {
	res := func(typ, id string) ASFFResource {
		return ASFFResource{Type: typ, ID: id, Partition: opts.Partition, Region: opts.Region}
	}
	if f.UserName == RootUserName {
		return []ASFFResource{res("AwsAccount", "AWS::::Account:"+f.AccountID)}
	}
	userARN := f.UserARN
	if userARN == "" {
		userARN = "arn:" + opts.Partition + ":iam::" + f.AccountID + ":user/" + f.UserName
	}
	user := res("AwsIamUser", userARN)
	user.Details = &ASFFResourceDetails{AWSIAMUser: &ASFFUserDetails{UserName: f.UserName}}
	if f.AccessKeyID == "" {
		return []ASFFResource{user}
	}
	key := res("AwsIamAccessKey", f.AccessKeyID)
	key.Details = &ASFFResourceDetails{AWSIAMAccessKey: &ASFFAccessKeyDetails{
		AccessKeyID: f.AccessKeyID, AccountID: f.AccountID, CreatedAt: optASFFTime(f.KeyCreatedAt),
		PrincipalName: f.UserName, PrincipalType: "IAMUser",
	}}
	return []ASFFResource{key, user}
}

// asffProductFields are keywarden's own fields of a finding, under
// keywarden/ (empty ones left out: ASFF wants values).
func asffProductFields(f Finding, version string) map[string]string {
	m := map[string]string{"ProviderName": "keywarden"}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("ProviderVersion", version)
	set("keywarden/rule", f.Rule)
	set("keywarden/severity", f.Severity)
	set("keywarden/stage", f.Stage)
	set("keywarden/due_at", optASFFTime(f.DueAt))
	set("keywarden/next_stage", f.NextStage)
	set("keywarden/next_stage_at", optASFFTime(f.NextStageAt))
	set("keywarden/account_name", f.AccountName)
	set("keywarden/user_name", f.UserName)
	set("keywarden/access_key_id", f.AccessKeyID)
	if f.KeySlot > 0 {
		set("keywarden/key_slot", strconv.Itoa(f.KeySlot))
	}
	set("keywarden/key_created_at", optASFFTime(f.KeyCreatedAt))
	set("keywarden/exempt", strconv.FormatBool(f.Exempt))
	set("keywarden/exemption_reason", f.ExemptionReason)
	set("keywarden/exemption_source", f.ExemptionSource)
	set("keywarden/exemption_expires", f.ExemptionExpires)
	if f.Estimated {
		set("keywarden/estimated", "true")
	}
	return m
}

// RenderASFF writes the Document's findings in the AWS Security Finding
// Format: a JSON array, indented, with a trailing newline; [] when there
// are none. The array is what `aws securityhub batch-import-findings
// --findings file://FILE` reads (at most 100 findings per call).
func RenderASFF(w io.Writer, doc *Document, opts ASFFOptions) error {
	// As json.Encoder would write the whole array, one finding at a time.
	s := newJSONStream(w)
	streamSeq(s, asffFindings(doc, opts), 0)
	return s.flush()
}

// asffSeverity maps a policy severity to an ASFF Severity.Label.
func asffSeverity(s string) string {
	switch s {
	case "info":
		return "INFORMATIONAL"
	case "low", "medium", "high", "critical":
		return strings.ToUpper(s)
	}
	return "MEDIUM"
}

func asffTime(t time.Time) string { return stamp(t).Format(time.RFC3339) }

func optASFFTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return asffTime(t)
}

// requirement names a control as a compliance requirement, the framework
// and version joined to the ID by sep: "CIS AWS Foundations Benchmark
// v5.0.0/1.13", "AWS Security Hub/IAM.3".
func requirement(c Control, sep string) string {
	name := c.Framework
	if c.Versions != "" {
		name += " " + c.Versions
	}
	return name + sep + c.ID
}

// exemptionText says that a finding is exempt, why and until when.
func exemptionText(f Finding) string {
	s := "Exempt"
	if f.ExemptionExpires != "" {
		s += " until " + f.ExemptionExpires
	}
	if f.ExemptionSource != "" {
		s += " (" + f.ExemptionSource + ")"
	}
	if f.ExemptionReason != "" {
		s += ": " + f.ExemptionReason
	}
	return s + "."
}

// sentence ends s with a full stop unless it ends with one already.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// ruleTitle is the title of a rule's findings.
func ruleTitle(rule string) string {
	switch rule {
	case "max_age":
		return "IAM access key is older than the rotation threshold"
	case "unused":
		return "Active IAM access key has not been used recently"
	case "unused_initial":
		return "IAM access key has never been used since it was created"
	case "multiple_active":
		return "IAM user has more than one active access key"
	case "root_key":
		return "Root user has an active access key"
	case "inactive_cleanup":
		return "Inactive IAM access key has not been deleted"
	case "exemption_expired":
		return "keywarden exemption has expired"
	}
	return fmt.Sprintf("keywarden finding: %s", rule)
}

// ruleRemediation is what to do about a rule's findings.
func ruleRemediation(rule string) string {
	switch rule {
	case "max_age":
		return "Rotate the access key: create a new key, move what uses the old one to it, then deactivate and delete the old key. 'keywarden plan' shows the next step."
	case "unused":
		return "Deactivate the unused access key, and delete it once nothing has broken. 'keywarden plan' and 'keywarden apply' can do both."
	case "unused_initial":
		return "Delete the access key that was created with the user and never used; create a key only when a workload needs one."
	case "multiple_active":
		return "Keep one active access key per user: once its users have moved to the other key, deactivate the less recently used one."
	case "root_key":
		return "Delete the root user's access key: sign in as the root user and delete it under Security credentials. Use IAM users or roles instead."
	case "inactive_cleanup":
		return "Delete the inactive access key. 'keywarden apply' deletes it when the policy's delete stage is due."
	case "exemption_expired":
		return "Renew the exemption in the policy file with a new expiry date, or fix the key so that the rule no longer fires."
	}
	return "Run 'keywarden policy explain' for the key to see why the rule fires."
}

// truncate cuts s to at most n characters, ending with … when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

package report

import (
	"bufio"
	"encoding/json"
	"io"
	"iter"
	"slices"
	"time"
)

// OCSF, the Open Cybersecurity Schema Framework, is read by SIEMs and data
// lakes (Amazon Security Lake among them). keywarden writes each finding as
// an OCSF 1.1.0 Compliance Finding event (class 2003, category 2,
// Findings) with the cloud profile: one JSON object per line.

// OCSFVersion is the OCSF schema version of the events (metadata.version).
const OCSFVersion = "1.1.0"

// OCSF class, category, activity and type of keywarden's events.
const (
	OCSFClassUID    = 2003 // Compliance Finding
	OCSFCategoryUID = 2    // Findings
	OCSFActivityID  = 1    // Create
	OCSFTypeUID     = OCSFClassUID*100 + OCSFActivityID
)

// OCSFOptions are what OCSF needs besides the Document.
type OCSFOptions struct {
	// ProductVersion is keywarden's version (metadata.product.version);
	// "" leaves it out.
	ProductVersion string
	// Partition is the ARN partition of the resources; "" means the
	// partition of the Document's caller.
	Partition string
}

// OCSFFinding is one Compliance Finding event. Times are milliseconds since
// the Unix epoch, as OCSF's timestamp type.
type OCSFFinding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	// Time is when the scan was made (the Document's generated_at).
	Time       int64  `json:"time"`
	SeverityID int    `json:"severity_id"`
	Severity   string `json:"severity"`
	// StatusID is 1 (New), or 3 (Suppressed) for an exempt finding.
	StatusID    int                `json:"status_id"`
	Status      string             `json:"status"`
	Message     string             `json:"message"`
	Metadata    OCSFMetadata       `json:"metadata"`
	Cloud       OCSFCloud          `json:"cloud"`
	FindingInfo OCSFFindingInfo    `json:"finding_info"`
	Compliance  OCSFCompliance     `json:"compliance"`
	Remediation OCSFRemediation    `json:"remediation"`
	Resources   []OCSFResource     `json:"resources"`
	Unmapped    OCSFKeywardenExtra `json:"unmapped"`
}

// OCSFMetadata says what made the event and to which schema.
type OCSFMetadata struct {
	Version  string      `json:"version"`
	Product  OCSFProduct `json:"product"`
	Profiles []string    `json:"profiles"`
}

// OCSFProduct is keywarden.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// OCSFCloud is the cloud profile: the AWS account the finding is in.
type OCSFCloud struct {
	Provider string      `json:"provider"`
	Account  OCSFAccount `json:"account"`
}

// OCSFAccount is an AWS account (type_id 10).
type OCSFAccount struct {
	UID    string `json:"uid"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
}

// OCSFFindingInfo identifies and describes the finding; UID is the ASFF Id
// (see ASFFID), stable from one scan to the next.
type OCSFFindingInfo struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Desc          string   `json:"desc"`
	Types         []string `json:"types"`
	CreatedTime   int64    `json:"created_time"`
	FirstSeenTime int64    `json:"first_seen_time"`
	LastSeenTime  int64    `json:"last_seen_time"`
}

// OCSFCompliance is the rule as a control, the standards and requirements
// it maps to, and the result: always Fail (status_id 3), since keywarden
// reports only the keys that break a rule. StatusDetail says why an exempt
// finding is exempt.
type OCSFCompliance struct {
	Control      string   `json:"control"`
	Standards    []string `json:"standards"`
	Requirements []string `json:"requirements,omitempty"`
	Status       string   `json:"status"`
	StatusID     int      `json:"status_id"`
	StatusDetail string   `json:"status_detail,omitempty"`
}

// OCSFRemediation says how to fix what the finding reports.
type OCSFRemediation struct {
	Desc string `json:"desc"`
}

// OCSFResource is a resource the finding is about, typed as in ASFF: the
// access key (AwsIamAccessKey), its user (AwsIamUser), or for a root key
// the account (AwsAccount).
type OCSFResource struct {
	UID            string     `json:"uid"`
	Name           string     `json:"name,omitempty"`
	Type           string     `json:"type"`
	CloudPartition string     `json:"cloud_partition"`
	Owner          *OCSFUser  `json:"owner,omitempty"`
	Data           *OCSFKeyID `json:"data,omitempty"`
}

// OCSFUser is the IAM user owning an access key.
type OCSFUser struct {
	Name   string `json:"name"`
	UID    string `json:"uid"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
}

// OCSFKeyID is what identifies the key a resource stands for.
type OCSFKeyID struct {
	AccessKeyID  string `json:"access_key_id,omitempty"`
	KeySlot      int    `json:"key_slot,omitempty"`
	KeyCreatedAt string `json:"key_created_at,omitempty"`
}

// OCSFKeywardenExtra holds the fields of a keywarden finding that OCSF has
// no place for, as in the JSON output's findings[] (times RFC 3339).
type OCSFKeywardenExtra struct {
	Rule             string `json:"rule"`
	Severity         string `json:"severity"`
	Stage            string `json:"stage,omitempty"`
	DueAt            string `json:"due_at,omitempty"`
	NextStage        string `json:"next_stage,omitempty"`
	NextStageAt      string `json:"next_stage_at,omitempty"`
	Exempt           bool   `json:"exempt"`
	ExemptionReason  string `json:"exemption_reason,omitempty"`
	ExemptionSource  string `json:"exemption_source,omitempty"`
	ExemptionExpires string `json:"exemption_expires,omitempty"`
	Estimated        bool   `json:"estimated"`
}

// OCSF returns the Document's findings as OCSF Compliance Finding events,
// one per finding, in the Document's order; never nil.
func OCSF(doc *Document, opts OCSFOptions) []OCSFFinding {
	out := make([]OCSFFinding, 0, len(doc.Findings))
	for e := range ocsfFindings(doc, opts) {
		out = append(out, e)
	}
	return out
}

// ocsfFindings yields the events of OCSF one at a time, each made when it
// is asked for.
func ocsfFindings(doc *Document, opts OCSFOptions) iter.Seq[OCSFFinding] {
	if opts.Partition == "" {
		opts.Partition = arnPartition(doc.Caller)
	}
	at := ocsfTime(doc.GeneratedAt)
	ids := findingIDs(doc.Findings)
	return func(yield func(OCSFFinding) bool) {
		for i, f := range doc.Findings {
			sevID, sev := ocsfSeverity(f.Severity)
			statusID, status := 1, "New"
			detail := ""
			if f.Exempt {
				statusID, status = 3, "Suppressed"
				detail = exemptionText(f)
			}
			standards := []string{}
			var reqs []string
			for _, c := range f.Controls {
				std := c.Framework
				if c.Versions != "" {
					std += " " + c.Versions
				}
				if !slices.Contains(standards, std) {
					standards = append(standards, std)
				}
				reqs = append(reqs, requirement(c, " "))
			}
			if len(standards) == 0 {
				standards = append(standards, "keywarden policy")
			}
			title := ruleTitle(f.Rule)
			desc := f.Message
			if desc == "" {
				desc = title
			}
			if !yield(OCSFFinding{
				ActivityID: OCSFActivityID, ActivityName: "Create",
				CategoryUID: OCSFCategoryUID, CategoryName: "Findings",
				ClassUID: OCSFClassUID, ClassName: "Compliance Finding",
				TypeUID: OCSFTypeUID, TypeName: "Compliance Finding: Create",
				Time:       at,
				SeverityID: sevID, Severity: sev,
				StatusID: statusID, Status: status,
				Message: f.Message,
				Metadata: OCSFMetadata{
					Version:  OCSFVersion,
					Product:  OCSFProduct{Name: "keywarden", VendorName: "keywarden", Version: opts.ProductVersion},
					Profiles: []string{"cloud"},
				},
				Cloud: OCSFCloud{Provider: "AWS", Account: OCSFAccount{
					UID: f.AccountID, Name: f.AccountName, Type: "AWS Account", TypeID: 10,
				}},
				FindingInfo: OCSFFindingInfo{
					UID: ids[i], Title: title, Desc: desc, Types: findingTypes(f),
					CreatedTime: at, FirstSeenTime: at, LastSeenTime: at,
				},
				Compliance: OCSFCompliance{
					Control: f.Rule, Standards: standards, Requirements: reqs,
					Status: "Fail", StatusID: 3, StatusDetail: detail,
				},
				Remediation: OCSFRemediation{Desc: ruleRemediation(f.Rule)},
				Resources:   ocsfResources(f, opts.Partition),
				Unmapped: OCSFKeywardenExtra{
					Rule: f.Rule, Severity: f.Severity, Stage: f.Stage, DueAt: optASFFTime(f.DueAt),
					NextStage: f.NextStage, NextStageAt: optASFFTime(f.NextStageAt),
					Exempt: f.Exempt, ExemptionReason: f.ExemptionReason, ExemptionSource: f.ExemptionSource,
					ExemptionExpires: f.ExemptionExpires, Estimated: f.Estimated,
				},
			}) {
				return
			}
		}
	}
}

func ocsfResources(f Finding, partition string) []OCSFResource {
	key := &OCSFKeyID{AccessKeyID: f.AccessKeyID, KeySlot: f.KeySlot, KeyCreatedAt: optASFFTime(f.KeyCreatedAt)}
	if f.UserName == RootUserName {
		return []OCSFResource{{
			UID: "AWS::::Account:" + f.AccountID, Name: f.AccountName, Type: "AwsAccount",
			CloudPartition: partition, Data: key,
		}}
	}
	userARN := f.UserARN
	if userARN == "" {
		userARN = "arn:" + partition + ":iam::" + f.AccountID + ":user/" + f.UserName
	}
	user := OCSFResource{UID: userARN, Name: f.UserName, Type: "AwsIamUser", CloudPartition: partition}
	if f.AccessKeyID == "" {
		user.Data = key
		return []OCSFResource{user}
	}
	return []OCSFResource{{
		UID: f.AccessKeyID, Name: f.AccessKeyID, Type: "AwsIamAccessKey", CloudPartition: partition,
		Owner: &OCSFUser{Name: f.UserName, UID: userARN, Type: "User", TypeID: 1},
		Data:  key,
	}, user}
}

// RenderOCSF writes the Document's findings as OCSF events, one compact
// JSON object per line (JSON Lines); nothing when there are none.
func RenderOCSF(w io.Writer, doc *Document, opts OCSFOptions) error {
	bw := bufio.NewWriterSize(w, writeBufSize)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for e := range ocsfFindings(doc, opts) {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ocsfSeverity maps a policy severity to OCSF's severity_id and caption.
func ocsfSeverity(s string) (int, string) {
	switch s {
	case "info":
		return 1, "Informational"
	case "low":
		return 2, "Low"
	case "medium":
		return 3, "Medium"
	case "high":
		return 4, "High"
	case "critical":
		return 5, "Critical"
	}
	return 0, "Unknown"
}

func ocsfTime(t time.Time) int64 { return stamp(t).UnixMilli() }

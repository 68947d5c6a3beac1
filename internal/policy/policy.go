// Package policy is keywarden's policy: the rules that judge access keys,
// their stages and thresholds, exemptions with reasons and expiry dates,
// overrides per account or OU, and the defaults, which follow CIS AWS
// Foundations. It loads and validates the policy file and turns an
// inventory into findings. It never talks to AWS.
package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// RuleName names a rule.
type RuleName string

// The rules.
const (
	MaxAge           RuleName = "max_age"          // active key older than a threshold
	Unused           RuleName = "unused"           // active key not used for a threshold (never used: since creation)
	UnusedInitial    RuleName = "unused_initial"   // active key never used since it was created
	MultipleActive   RuleName = "multiple_active"  // user with two active keys
	RootKey          RuleName = "root_key"         // the root user has an access key
	InactiveCleanup  RuleName = "inactive_cleanup" // inactive key left in place
	ExemptionExpired RuleName = "exemption_expired"
)

// Rules lists the configurable rules in the order they are documented.
var Rules = []RuleName{MaxAge, Unused, UnusedInitial, MultipleActive, RootKey, InactiveCleanup}

// Stage is how far a finding has gone: warn → rotate → deactivate → delete.
// Rules without thresholds (multiple_active, root_key) report.
type Stage string

// The stages, in order.
const (
	StageReport     Stage = "report"
	StageWarn       Stage = "warn"
	StageRotate     Stage = "rotate"
	StageDeactivate Stage = "deactivate"
	StageDelete     Stage = "delete"
)

// Stages lists the staged stages in order.
var Stages = []Stage{StageWarn, StageRotate, StageDeactivate, StageDelete}

// allowedStages says which stages each rule may have.
var allowedStages = map[RuleName][]Stage{
	MaxAge:          {StageWarn, StageRotate, StageDeactivate, StageDelete},
	Unused:          {StageWarn, StageDeactivate, StageDelete},
	UnusedInitial:   {StageWarn, StageDeactivate, StageDelete},
	InactiveCleanup: {StageWarn, StageDelete},
}

// Severity is how bad a finding is.
type Severity string

// The severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

var severityRank = map[Severity]int{SeverityInfo: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4}

// AtLeast reports whether s is as severe as other.
func (s Severity) AtLeast(other Severity) bool { return severityRank[s] >= severityRank[other] }

// Duration is a policy duration: a whole number of hours, days or weeks,
// written 36h, 90d, 2w.
type Duration time.Duration

// ParseDuration reads 36h, 90d or 2w.
func ParseDuration(s string) (Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("%q is not a duration: want a number and a unit, like 90d, 36h or 2w", s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 32)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a duration: want a number and a unit, like 90d, 36h or 2w", s)
	}
	unit := map[byte]time.Duration{'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q: want h (hours), d (days) or w (weeks)", s, s[len(s)-1:])
	}
	if n > int64(maxDuration/unit) {
		return 0, fmt.Errorf("%q is too long: at most %dd (100 years)", s, int64(maxDuration/(24*time.Hour)))
	}
	return Duration(time.Duration(n) * unit), nil
}

// String writes the duration in days, or in hours when it is not a whole
// number of days: thresholds read best in days.
func (d Duration) String() string {
	h := time.Duration(d) / time.Hour
	if h%24 == 0 {
		return strconv.FormatInt(int64(h/24), 10) + "d"
	}
	return strconv.FormatInt(int64(h), 10) + "h"
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Thresholds are a rule's stages: the age (or idle time) at which each
// falls due. A nil threshold means the rule has no such stage.
type Thresholds struct {
	Warn       *Duration
	Rotate     *Duration
	Deactivate *Duration
	Delete     *Duration
}

// Get returns the threshold of a stage.
func (t Thresholds) Get(s Stage) *Duration {
	switch s {
	case StageWarn:
		return t.Warn
	case StageRotate:
		return t.Rotate
	case StageDeactivate:
		return t.Deactivate
	case StageDelete:
		return t.Delete
	}
	return nil
}

func (t *Thresholds) set(s Stage, d *Duration) {
	switch s {
	case StageWarn:
		t.Warn = d
	case StageRotate:
		t.Rotate = d
	case StageDeactivate:
		t.Deactivate = d
	case StageDelete:
		t.Delete = d
	}
}

// RuleConfig configures one rule. In an override, only the fields it sets
// change the rule.
type RuleConfig struct {
	Enabled  *bool // nil: enabled
	Severity Severity
	Thresholds
	// Action is multiple_active's: "report" (default) or
	// "deactivate_less_used", which deactivates the key used less recently.
	Action string
}

// Multiple-active actions.
const (
	ActionReport             = "report"
	ActionDeactivateLessUsed = "deactivate_less_used"
)

// IsEnabled reports whether the rule runs.
func (c RuleConfig) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Exemption keeps keys from being judged by some rules, for a reason and
// possibly until a date. Every criterion it sets must match (a list matches
// when any of its entries does); an exemption with no criteria is refused.
type Exemption struct {
	Accounts []string          // account IDs
	OUs      []string          // OU IDs: the OU and every OU below it
	Users    []string          // user name globs, e.g. svc-legacy-*
	Paths    []string          // IAM path globs, e.g. /service/*
	Groups   []string          // group names (a user in any of them)
	Tags     map[string]string // user tags; a value of "*" matches any value
	Rules    []RuleName        // empty: every rule
	Reason   string            // required
	Expires  *Date             // last day it applies; nil: no expiry
	Line     int               // where it is in the policy file
}

// Date is a calendar day (UTC).
type Date struct{ Year, Month, Day int }

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date: want YYYY-MM-DD", s)
	}
	return Date{t.Year(), int(t.Month()), t.Day()}, nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// End is the first instant after the day: an exemption that expires on a
// day applies through that whole day (UTC).
func (d Date) End() time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day+1, 0, 0, 0, 0, time.UTC)
}

// Override changes rules for some accounts or OUs. Account overrides beat
// OU overrides, which beat the global rules; between OUs, the one nearest
// the account wins.
type Override struct {
	Accounts []string
	OUs      []string
	Rules    map[RuleName]RuleConfig
	Line     int
}

// AccountsConfig is the scan's selection of accounts, as in the scan flags
// (which win over it).
type AccountsConfig struct {
	Organization bool
	OUs          []string
	Accounts     []string
	Exclude      []string
	RoleName     string
	// ActRoleName is the role apply, undo and rotation act through; empty
	// means the CLI's default (DefaultActRoleName). Left out of the hash
	// when empty, so that plans made before it existed stay valid.
	ActRoleName   string `json:",omitempty"`
	ExternalIDEnv string // the environment variable holding the external ID
}

// Default names of the spoke roles the deploy templates create: one that
// only reads (scan) and one that acts (deactivate, delete, rotate).
const (
	DefaultRoleName    = "KeywardenSpoke"
	DefaultActRoleName = "KeywardenSpokeAct"
)

// Safety holds the guards remediation honours.
type Safety struct {
	ProtectedUsers []string // user name globs never acted on
	// RecentUseGuard: a key used this recently is not deactivated by any
	// rule (max_age needs rotation first).
	RecentUseGuard Duration
	// MaxActions caps the deactivations and deletions of one apply.
	MaxActions int
	// MaxAccountFraction caps the share of an account's active keys one
	// apply may deactivate (at least one key is always allowed).
	MaxAccountFraction float64
	// MaxPlanAge is how old a saved plan may be when it is applied.
	MaxPlanAge Duration
}

// Policy is a whole policy: the defaults, or a file laid over them.
type Policy struct {
	Version    int
	Accounts   AccountsConfig
	Rules      map[RuleName]RuleConfig
	Exemptions []Exemption
	Overrides  []Override
	Safety     Safety
	// Notifications says who is told and how. It is not part of Hash:
	// changing a channel does not make a plan stale.
	Notifications Notifications
	// Automation says what unattended runs do. Not part of Hash either.
	Automation Automation
	// Rotation says what the rotate stage does. Part of Hash when enabled:
	// a plan made under another rotation configuration is refused.
	Rotation Rotation

	// Source is the file it was loaded from, "" for the built-in defaults.
	Source string
	// Hash identifies the policy's content, so that a plan can tell whether
	// it was made under the same policy.
	Hash string
}

// Notifications says who is told about keys, through which channels, and
// how often. Routing looks, in order, for a contact in the user's tags
// (OwnerTags), in the owners map (Owners), in the account's Organizations
// e-mail (AccountContact), and else uses Default. The security team gets
// its own digest of every run. Without channels, nothing is sent: the
// notify actions of a plan are only recorded.
//
// Secrets are never in the policy: channels name the environment variable
// or the file that holds them.
type Notifications struct {
	// OwnerTags are the user tag keys that may hold the owner's contact,
	// tried in order.
	OwnerTags []string
	// OwnerChannel is the channel that reaches contacts found in tags and
	// account e-mails, and owners entries without a channel. When the file
	// leaves it out, the loader sets it to the default's channel, else to
	// the only e-mail channel.
	OwnerChannel string
	// Owners maps users and accounts to contacts; the first match wins.
	Owners []OwnerRoute
	// AccountContact uses the account's Organizations e-mail.
	AccountContact bool
	// Default is told about keys whose owner is not found; nil: nobody.
	Default *Contact
	// SecurityTeam gets one digest of everything per run; nil: no digest.
	SecurityTeam *Contact
	// RenotifyAfter is how long a warning is not repeated to the same
	// recipient. Announcements of what was done are sent once.
	RenotifyAfter Duration
	// Channels by name.
	Channels map[string]channelconfig.Config
	// Templates override the default messages.
	Templates Templates
}

// OwnerRoute is an entry of the owners map: keys of the users (name globs)
// in the accounts it lists go to its contact. Every criterion it sets must
// match; it sets at least one.
type OwnerRoute struct {
	Users    []string
	Accounts []string
	Contact  string
	Channel  string // "" : the owner channel
	Line     int
}

// Contact is a fixed recipient: an address (e-mail, Slack handle, …) and
// the channel that reaches it.
type Contact struct {
	Contact string
	Channel string
}

// Templates are Go template files that replace the default messages: text
// (text/template) and the HTML part of e-mails (html/template), for owners
// and for the security team. Paths are relative to the policy file's
// directory; "" keeps the default.
type Templates struct {
	Owner     string
	Team      string
	OwnerHTML string
	TeamHTML  string
}

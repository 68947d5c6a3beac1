package policy

import "time"

// Default returns the built-in policy, which follows CIS AWS Foundations and
// AWS Security Hub: keys rotated within 90 days, keys unused for 45 days
// disabled, one active key per user, no root access keys. With it a scan
// flags what CIS would flag, plus keys never used a week after creation.
func Default() *Policy {
	p := &Policy{
		Version: 1,
		Accounts: AccountsConfig{
			RoleName:      DefaultRoleName,
			ExternalIDEnv: "KEYWARDEN_EXTERNAL_ID",
		},
		Rules:         defaultRules(),
		Safety:        DefaultSafety(),
		Notifications: DefaultNotifications(),
		Automation:    Automation{Mode: ModeReport},
		Rotation:      DefaultRotation(),
	}
	p.Hash = hashPolicy(p)
	return p
}

// DefaultSafety is the guards' defaults.
func DefaultSafety() Safety {
	return Safety{
		RecentUseGuard:     Duration(24 * time.Hour),
		MaxActions:         50,
		MaxAccountFraction: 0.25,
		MaxPlanAge:         Duration(24 * time.Hour),
	}
}

// DefaultNotifications is the notifications' defaults: owners found in the
// tags owner, email or contact, else by their account's e-mail; warnings
// repeated weekly; no channels, so nothing is sent until some are set.
func DefaultNotifications() Notifications {
	return Notifications{
		OwnerTags:      []string{"owner", "email", "contact"},
		AccountContact: true,
		RenotifyAfter:  Duration(7 * 24 * time.Hour),
	}
}

func dayCount(n int) *Duration {
	d := Duration(n) * Duration(24*60*60*1e9)
	return &d
}

func disabled() *bool { f := false; return &f }

func defaultRules() map[RuleName]RuleConfig {
	return map[RuleName]RuleConfig{
		MaxAge:          {Severity: SeverityMedium, Thresholds: Thresholds{Rotate: dayCount(90)}},
		Unused:          {Severity: SeverityMedium, Thresholds: Thresholds{Deactivate: dayCount(45)}},
		UnusedInitial:   {Severity: SeverityLow, Thresholds: Thresholds{Deactivate: dayCount(7)}},
		MultipleActive:  {Severity: SeverityMedium, Action: ActionReport},
		RootKey:         {Severity: SeverityCritical},
		InactiveCleanup: {Enabled: disabled(), Severity: SeverityLow, Thresholds: Thresholds{Delete: dayCount(30)}},
	}
}

// ExemptionExpiredSeverity is the severity of an expired exemption's finding.
const ExemptionExpiredSeverity = SeverityMedium

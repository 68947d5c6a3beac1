package policy

import (
	"regexp"
	"time"
)

// Automation modes: what a scheduled run (the Lambda, keywarden serve)
// does.
const (
	// ModeReport scans, keeps what it found, and sends the warnings the
	// policy's stages call for; it changes no key. The default.
	ModeReport = "report"
	// ModeEnforce plans and applies within the safety limits, then tells
	// the owners.
	ModeEnforce = "enforce"
)

// Automation is the policy's automation section: what a run that nobody
// watches does.
type Automation struct {
	Mode string // ModeReport (default) or ModeEnforce
	// Schedule is when it runs, in EventBridge's syntax: "rate(1 day)" or
	// "cron(0 6 * * ? *)"; "" leaves it to the deployment.
	Schedule string
	// SecurityHub also imports the findings into AWS Security Hub.
	SecurityHub bool
	// ReportsS3 also writes the HTML and JSON reports under this
	// s3://bucket/prefix.
	ReportsS3 string
	// SnapshotRetention is how long the snapshot of each scan is kept in
	// the state store (for trends): nil is DefaultSnapshotRetention, zero
	// keeps them forever. SnapshotMaxAge reads it.
	SnapshotRetention *Duration
	Line              int
}

// SnapshotMaxAge is how long snapshots are kept; zero: forever.
func (a Automation) SnapshotMaxAge() time.Duration {
	if a.SnapshotRetention == nil {
		return time.Duration(DefaultSnapshotRetention)
	}
	return time.Duration(*a.SnapshotRetention)
}

// DefaultSnapshotRetention keeps a little more than a year of snapshots,
// for year-on-year trends.
const DefaultSnapshotRetention = Duration(400 * 24 * time.Hour)

var (
	scheduleRate = regexp.MustCompile(`^rate\((1 (minute|hour|day)|[1-9][0-9]* (minutes|hours|days))\)$`)
	scheduleCron = regexp.MustCompile(`^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$`)
	s3URL        = regexp.MustCompile(`^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$`)
)

package report

import (
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

var (
	// fixtureGenerated is when the fixture's document is made; fixtureAsOf
	// is later, as with --as-of for a forecast.
	fixtureGenerated = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fixtureAsOf      = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

	// secretTag is in a user's tags; tags must never be output.
	secretTagKey   = "rotation-note"
	secretTagValue = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 30, 0, 0, time.UTC) }

// fixture is a scan of three accounts, listed out of order: one read from
// a credential report two hours old (with a root key, a key whose ID was
// not read, a never-used key, an inactive key), one read from the API after
// a fallback, and one that could not be read.
func fixture() *inventory.Inventory {
	return &inventory.Inventory{
		StartedAt:  fixtureGenerated.Add(-40 * time.Second),
		FinishedAt: fixtureGenerated.Add(-time.Second),
		Caller:     "arn:aws:sts::999999999999:assumed-role/keywarden-hub/keywarden",
		Accounts: []inventory.AccountInventory{
			{
				Account: inventory.Account{
					ID: "333333333333", Name: "legacy", Email: "legacy@example.com",
					OUPath: "Root/Legacy", OUIDs: []string{"r-ab12", "ou-ab12-legacy"}, State: "ACTIVE",
				},
				Status:    inventory.AccountFailed,
				Error:     "User: arn:aws:sts::999999999999:assumed-role/keywarden-hub/keywarden is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::333333333333:role/keywarden-spoke",
				ErrorCode: "AccessDenied",
				Calls:     1,
				Duration:  183 * time.Millisecond,
			},
			{
				Account: inventory.Account{
					ID: "111111111111", Name: "prod-payments", Email: "aws+prod-payments@example.com",
					OUPath: "Root/Workloads/Prod", OUIDs: []string{"r-ab12", "ou-ab12-workloads", "ou-ab12-prod"}, State: "ACTIVE",
				},
				Status:            inventory.AccountOK,
				Source:            inventory.SourceReport,
				ReportGeneratedAt: fixtureGenerated.Add(-2 * time.Hour),
				ReadAt:            fixtureGenerated.Add(-5 * time.Second),
				Users: []inventory.User{
					{
						Name: "svc-payments", ARN: "arn:aws:iam::111111111111:user/services/svc-payments", Path: "/services/",
						Keys: []inventory.Key{
							{
								Slot: 1, Status: inventory.StatusInactive, CreatedAt: day(2024, 6, 1),
								LastUsedAt: day(2024, 12, 1), LastUsedService: "ec2", LastUsedRegion: "eu-west-1",
							},
							{
								ID: "AKIAEXAMPLEPAYMENTS2", Slot: 2, Status: inventory.StatusActive, CreatedAt: day(2025, 1, 20),
								LastUsedAt: day(2026, 3, 12), LastUsedService: "s3", LastUsedRegion: "eu-west-1",
							},
						},
					},
					{
						Name: "alice", ARN: "arn:aws:iam::111111111111:user/alice", Path: "/",
						Tags:    inventory.Tags{{Key: secretTagKey, Value: secretTagValue}, {Key: "owner", Value: "alice@example.com"}},
						Groups:  []string{"developers"},
						Console: &inventory.Console{PasswordEnabled: true, PasswordLastUsed: day(2026, 2, 28), MFAActive: true},
						Keys: []inventory.Key{
							{Slot: 1, Status: inventory.StatusActive, CreatedAt: day(2026, 2, 10)},
						},
					},
					{
						Name: "carol", ARN: "arn:aws:iam::111111111111:user/carol", Path: "/",
					},
				},
				Root: inventory.Root{
					KeysPresent: true,
					Keys: []inventory.Key{
						{
							Slot: 1, Status: inventory.StatusActive, CreatedAt: day(2021, 11, 3),
							LastUsedAt: time.Date(2026, 3, 14, 20, 0, 0, 0, time.UTC), LastUsedService: "iam",
						},
					},
				},
				Calls:    4,
				Duration: 2350 * time.Millisecond,
			},
			{
				Account: inventory.Account{
					ID: "222222222222", Name: "dev-sandbox", Email: "aws+dev@example.com",
					OUPath: "Root/Workloads/Dev", OUIDs: []string{"r-ab12", "ou-ab12-workloads", "ou-ab12-dev"}, State: "ACTIVE",
				},
				Status:   inventory.AccountOK,
				Source:   inventory.SourceAPI,
				Fallback: "credential report not ready after 30s",
				ReadAt:   fixtureGenerated.Add(-3 * time.Second),
				Users: []inventory.User{
					{
						Name: "dave", ARN: "arn:aws:iam::222222222222:user/dave", Path: "/",
						Keys: []inventory.Key{
							{
								ID: "AKIAEXAMPLEDAVE00001", Status: inventory.StatusActive, CreatedAt: day(2025, 3, 1),
								LastUsedAt: day(2026, 2, 27), LastUsedService: "sts",
							},
						},
					},
				},
				Calls:    9,
				Duration: 4120 * time.Millisecond,
			},
		},
	}
}

func fixtureDoc() *Document {
	return Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf})
}

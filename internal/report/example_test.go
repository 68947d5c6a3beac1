package report_test

import (
	"fmt"
	"os"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/report"
)

func ExampleRender() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inv := &inventory.Inventory{
		Caller: "arn:aws:sts::999999999999:assumed-role/keywarden-hub/keywarden",
		Accounts: []inventory.AccountInventory{{
			Account: inventory.Account{ID: "111111111111", Name: "prod", OUPath: "Root/Prod"},
			Status:  inventory.AccountOK,
			Source:  inventory.SourceAPI,
			Users: []inventory.User{{
				Name: "alice",
				ARN:  "arn:aws:iam::111111111111:user/alice",
				Keys: []inventory.Key{{
					ID:         "AKIAEXAMPLEALICE0001",
					Status:     inventory.StatusActive,
					CreatedAt:  now.AddDate(0, 0, -120),
					LastUsedAt: now.AddDate(0, 0, -3), LastUsedService: "s3", LastUsedRegion: "eu-west-1",
				}},
			}},
		}},
	}
	f, err := report.ParseFormat("table")
	if err != nil {
		fmt.Println(err)
		return
	}
	doc := report.Build(inv, report.BuildOptions{GeneratedAt: now})
	if err := report.Render(os.Stdout, doc, f); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 111111111111  prod  Root/Prod  (API)
	//   USER   KEY ID                STATUS  AGE   LAST USED  SERVICE
	//   alice  AKIAEXAMPLEALICE0001  Active  120d  3d ago     s3
	//
	// accounts                 1: 1 read, 0 failed
	// users                    1
	// access keys              1: 1 active, 0 inactive
	// accounts with root keys  0
}

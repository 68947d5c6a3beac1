package orggen_test

import (
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
)

func ExampleGenerate() {
	clock := awsemu.NewClock()
	clock.Freeze()
	clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sb := awsemu.New(awsemu.Options{Seed: 1, Clock: clock})

	org, err := orggen.Generate(sb, orggen.Options{Seed: 7, ExternalID: "kw-demo"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range org.Accounts {
		fmt.Printf("%s %-18s %-9s %-22s %2d users %2d keys\n", a.ID, a.Name, a.State, a.OUPath, a.Users, a.Keys)
	}
	fmt.Printf("%d users, %d keys (%d active, %d root)\n", org.Users, org.Keys, org.ActiveKeys, org.RootKeys)
	admin, _ := sb.AccessKey(org.AdminKeyID)
	fmt.Printf("hub: %s in %s, key created %s, role %s\n",
		admin.User, admin.Account, admin.CreatedAt.Format(time.DateOnly), org.RoleName)
	// Output:
	// 520638668920 acme-management    ACTIVE    Root                    6 users  6 keys
	// 211997544308 prod-marketing     ACTIVE    Root/Workloads/Prod    21 users 26 keys
	// 308570050652 staging-reporting  ACTIVE    Root/Workloads/NonProd 19 users 19 keys
	// 948971881799 security-audit     ACTIVE    Root/Security          23 users 20 keys
	// 268003820848 legacy-inventory   SUSPENDED Root/Suspended         20 users 17 keys
	// 808939816365 infra-network      ACTIVE    Root/Infrastructure    17 users 18 keys
	// 106 users, 106 keys (87 active, 1 root)
	// hub: keywarden-admin in 520638668920, key created 2026-02-19, role KeywardenSpoke
}

package inventory_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/inventory"
)

// wantAccount is the account as Discover should describe it from the
// organization's tree.
func (e *env) wantAccount(a orggen.Account) inventory.Account {
	parents := map[string]string{}
	for _, ou := range e.org.OUs {
		parents[ou.ID] = ou.ParentID
	}
	var ids []string
	for id := a.ParentID; id != ""; id = parents[id] {
		ids = append([]string{id}, ids...)
	}
	return inventory.Account{ID: a.ID, Name: a.Name, Email: a.Email, OUPath: a.OUPath, OUIDs: ids, State: a.State}
}

// ouID returns the ID of the OU at path, e.g. "Root/Workloads".
func (e *env) ouID(t *testing.T, path string) string {
	t.Helper()
	for _, ou := range e.org.OUs {
		if ou.Path == path {
			return ou.ID
		}
	}
	t.Fatalf("no OU %s in the organization", path)
	return ""
}

// accountsWhere returns the manifest's accounts that pass keep, as Discover
// should describe them, split into the ACTIVE ones and the others.
func (e *env) accountsWhere(keep func(orggen.Account) bool) (active, skipped []inventory.Account) {
	for _, a := range e.org.Accounts {
		if !keep(a) {
			continue
		}
		if a.State == awsemu.AccountActive {
			active = append(active, e.wantAccount(a))
		} else {
			skipped = append(skipped, e.wantAccount(a))
		}
	}
	byAccountID := func(a, b inventory.Account) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(active, byAccountID)
	slices.SortFunc(skipped, byAccountID)
	return active, skipped
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	e := smallEnv(t, awsemu.Options{}, 12, 1)
	var members, suspended []orggen.Account
	for _, a := range e.org.Accounts {
		switch {
		case a.State == awsemu.AccountSuspended:
			suspended = append(suspended, a)
		case !a.Management:
			members = append(members, a)
		}
	}
	if len(suspended) == 0 || len(members) < 3 {
		t.Fatalf("the organization has %d members and %d suspended accounts; the test needs 3 and 1", len(members), len(suspended))
	}
	all := func(orggen.Account) bool { return true }
	under := func(path string) func(orggen.Account) bool {
		return func(a orggen.Account) bool { return a.OUPath == path || strings.HasPrefix(a.OUPath, path+"/") }
	}
	orgActive, orgSkipped := e.accountsWhere(all)
	workloads, workloadsSkipped := e.accountsWhere(under("Root/Workloads"))
	prod, _ := e.accountsWhere(under("Root/Workloads/Prod"))
	prodOrSecurity, _ := e.accountsWhere(func(a orggen.Account) bool {
		return under("Root/Workloads/Prod")(a) || under("Root/Security")(a)
	})
	withoutFirst, _ := e.accountsWhere(func(a orggen.Account) bool { return a.ID != members[0].ID })
	if len(workloads) <= len(prod) || len(prod) == 0 {
		t.Fatalf("Workloads has %d accounts and Prod %d: the nested case needs accounts in and beside Prod", len(workloads), len(prod))
	}

	// A member account's view of Organizations: it cannot list the tree.
	memberOrgs := organizations.NewFromConfig(e.assumer().Config(members[0].ID, nil))

	tests := []struct {
		name        string
		org         string // hub, member or none
		sel         inventory.Selection
		want        []inventory.Account
		wantSkipped []inventory.Account
		wantErr     error  // errors.Is
		wantErrText string // part of the message
	}{
		{name: "organization", org: "hub", sel: inventory.Selection{Organization: true},
			want: orgActive, wantSkipped: orgSkipped},
		{name: "OU and the OUs below it", org: "hub", sel: inventory.Selection{OUs: []string{e.ouID(t, "Root/Workloads")}},
			want: workloads, wantSkipped: workloadsSkipped},
		{name: "leaf OU", org: "hub", sel: inventory.Selection{OUs: []string{e.ouID(t, "Root/Workloads/Prod")}},
			want: prod},
		{name: "two OUs", org: "hub", sel: inventory.Selection{OUs: []string{e.ouID(t, "Root/Workloads/Prod"), e.ouID(t, "Root/Security")}},
			want: prodOrSecurity},
		{name: "organization but excluded", org: "hub", sel: inventory.Selection{Organization: true, Exclude: []string{members[0].ID}},
			want: withoutFirst, wantSkipped: orgSkipped},
		{name: "explicit accounts named from the organization", org: "hub",
			sel:  inventory.Selection{Accounts: []string{members[2].ID, members[1].ID, members[2].ID}},
			want: sortedAccounts(e.wantAccount(members[1]), e.wantAccount(members[2]))},
		{name: "explicit accounts without Organizations access", org: "member",
			sel:  inventory.Selection{Accounts: []string{members[1].ID, members[2].ID}},
			want: sortedAccounts(inventory.Account{ID: members[1].ID}, inventory.Account{ID: members[2].ID})},
		{name: "explicit accounts without an Organizations client", org: "none",
			sel:  inventory.Selection{Accounts: []string{members[1].ID}, Exclude: []string{members[2].ID}},
			want: []inventory.Account{{ID: members[1].ID}}},
		{name: "explicit accounts minus excluded", org: "hub",
			sel:  inventory.Selection{Accounts: []string{members[1].ID, members[2].ID}, Exclude: []string{members[2].ID}},
			want: []inventory.Account{e.wantAccount(members[1])}},
		{name: "explicit suspended account is skipped", org: "hub",
			sel:         inventory.Selection{Accounts: []string{suspended[0].ID, members[1].ID}},
			want:        []inventory.Account{e.wantAccount(members[1])},
			wantSkipped: []inventory.Account{e.wantAccount(suspended[0])}},
		{name: "OU plus an account outside it", org: "hub",
			sel:  inventory.Selection{OUs: []string{e.ouID(t, "Root/Workloads/Prod")}, Accounts: []string{e.org.ManagementAccount}},
			want: sortedAccounts(append(slices.Clone(prod), e.wantAccount(e.org.Accounts[0]))...)},
		{name: "nothing selected reads the caller's account", org: "hub", sel: inventory.Selection{},
			want: []inventory.Account{{ID: e.org.ManagementAccount}}},
		{name: "unknown OU", org: "hub", sel: inventory.Selection{OUs: []string{"ou-zzzz-zzzzzzzz"}},
			wantErrText: "ou-zzzz-zzzzzzzz is not in the organization"},
		{name: "organization without Organizations access", org: "member", sel: inventory.Selection{Organization: true},
			wantErr: inventory.ErrNoOrganization},
		{name: "OU without an Organizations client", org: "none", sel: inventory.Selection{OUs: []string{e.ouID(t, "Root/Security")}},
			wantErr: inventory.ErrNoOrganization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *inventory.Selected
			var err error
			switch tt.org {
			case "hub":
				got, err = inventory.Discover(t.Context(), e.orgs(), e.org.ManagementAccount, tt.sel)
			case "member":
				got, err = inventory.Discover(t.Context(), memberOrgs, e.org.ManagementAccount, tt.sel)
			default:
				got, err = inventory.Discover(t.Context(), nil, e.org.ManagementAccount, tt.sel)
			}
			if tt.wantErr != nil || tt.wantErrText != "" {
				if err == nil {
					t.Fatalf("Discover = %d accounts, want an error", len(got.Accounts))
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Discover error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErrText) {
					t.Errorf("Discover error %q, want it to say %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Accounts, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("accounts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkipped, got.Skipped, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedAccounts(accounts ...inventory.Account) []inventory.Account {
	slices.SortFunc(accounts, func(a, b inventory.Account) int { return strings.Compare(a.ID, b.ID) })
	return accounts
}

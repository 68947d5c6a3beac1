package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"golang.org/x/sync/errgroup"
)

// orgLister is what account discovery needs from AWS Organizations; the
// caller must be the management account or a delegated administrator.
type orgLister interface {
	organizations.ListRootsAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	organizations.ListAccountsForParentAPIClient
}

// Selection says which accounts to read.
type Selection struct {
	// Organization selects every ACTIVE account of the organization.
	Organization bool
	// OUs narrows the organization to these OUs and every OU below them.
	OUs []string
	// Accounts lists accounts explicitly.
	Accounts []string
	// Exclude removes accounts from whatever was selected.
	Exclude []string
	// NeedOUs reads the organization's tree whatever the selection, so
	// that every account has its OU path (a policy with OU-scoped
	// exemptions or overrides needs it).
	NeedOUs bool
}

// UsesOrganization reports whether the selection needs the organization's tree.
func (s Selection) UsesOrganization() bool { return s.Organization || len(s.OUs) > 0 }

// Selected is the outcome of account discovery.
type Selected struct {
	Accounts []Account // to read, ordered by ID
	// Skipped are accounts that were selected but are not ACTIVE, with their state.
	Skipped []Account
	// TreeError says why the organization's tree could not be read when
	// it was wanted but not required (an explicit list, or NeedOUs): the
	// accounts then have no OU path.
	TreeError error
}

// ErrNoOrganization is returned when the organization cannot be listed
// (the caller is not its management account, or there is none).
var ErrNoOrganization = errors.New("the organization cannot be listed")

// orgTree is the organization as read from the root down.
type orgTree struct {
	accounts []Account          // every account, with its OU path
	units    map[string]orgUnit // every root and OU by ID
}

type orgUnit struct {
	id, name string
	parent   string // "" for a root
}

// readOrgTree walks the organization from its roots: two calls per OU,
// whatever the number of accounts, instead of ListParents per account.
func readOrgTree(ctx context.Context, org orgLister) (*orgTree, error) {
	var roots []types.Root
	p := organizations.NewListRootsPaginator(org, &organizations.ListRootsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list organization roots: %w", err)
		}
		roots = append(roots, page.Roots...)
	}
	t := &orgTree{units: make(map[string]orgUnit)}
	type pending struct {
		unit      orgUnit
		path, ids []string // names and IDs from the root down to the unit, inclusive
	}
	var level []pending
	for _, r := range roots {
		u := orgUnit{id: aws.ToString(r.Id), name: aws.ToString(r.Name)}
		level = append(level, pending{u, []string{u.name}, []string{u.id}})
	}
	// One level of the tree at a time, its units in parallel.
	for len(level) > 0 {
		var mu sync.Mutex
		var next []pending
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4) // Organizations allows few calls per second
		for _, p := range level {
			t.units[p.unit.id] = p.unit
			g.Go(func() error {
				accounts, children, err := listUnit(gctx, org, p.unit.id)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, a := range accounts {
					t.accounts = append(t.accounts, orgAccount(a, p.path, p.ids))
				}
				for _, ou := range children {
					u := orgUnit{id: aws.ToString(ou.Id), name: aws.ToString(ou.Name), parent: p.unit.id}
					next = append(next, pending{u, append(slices.Clip(p.path), u.name), append(slices.Clip(p.ids), u.id)})
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		level = next
	}
	sort.Slice(t.accounts, func(i, j int) bool { return t.accounts[i].ID < t.accounts[j].ID })
	return t, nil
}

// listUnit lists the accounts and OUs directly under a root or OU.
func listUnit(ctx context.Context, org orgLister, id string) ([]types.Account, []types.OrganizationalUnit, error) {
	var accounts []types.Account
	ap := organizations.NewListAccountsForParentPaginator(org, &organizations.ListAccountsForParentInput{ParentId: aws.String(id)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list accounts under %s: %w", id, err)
		}
		accounts = append(accounts, page.Accounts...)
	}
	var ous []types.OrganizationalUnit
	op := organizations.NewListOrganizationalUnitsForParentPaginator(org, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(id)})
	for op.HasMorePages() {
		page, err := op.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list OUs under %s: %w", id, err)
		}
		ous = append(ous, page.OrganizationalUnits...)
	}
	return accounts, ous, nil
}

// orgAccount makes an Account from an Organizations listing; path and ids
// run from the root to the account's parent.
func orgAccount(a types.Account, path, ids []string) Account {
	state := string(a.State)
	if state == "" { // the older field, retired in favour of State
		state = string(a.Status)
	}
	return Account{
		ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Email: aws.ToString(a.Email),
		OUPath: joinPath(path), OUIDs: slices.Clone(ids), State: state,
	}
}

func joinPath(path []string) string {
	out := ""
	for i, p := range path {
		if i > 0 {
			out += "/"
		}
		out += p
	}
	return out
}

// under reports whether the account sits in the unit or below it.
func (a Account) under(unitID string) bool { return slices.Contains(a.OUIDs, unitID) }

// Discover resolves a selection into accounts. callerAccount is the
// account of the credentials in use: it is what an empty selection reads.
// org may be nil when the selection does not need the organization; for an
// explicit list it is used, when it works, to name the accounts.
func Discover(ctx context.Context, org orgLister, callerAccount string, sel Selection) (*Selected, error) {
	var tree *orgTree
	var treeErr error
	if sel.UsesOrganization() {
		if org == nil {
			return nil, ErrNoOrganization
		}
		t, err := readOrgTree(ctx, org)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoOrganization, err)
		}
		tree = t
	} else if (len(sel.Accounts) > 0 || sel.NeedOUs) && org != nil {
		// Names and OU paths are a courtesy for an explicit list: without
		// Organizations access the IDs alone will do, and TreeError says why.
		tree, treeErr = readOrgTree(ctx, org)
	} else if sel.NeedOUs {
		treeErr = errors.New("AWS Organizations was not asked")
	}

	var picked []Account
	switch {
	case sel.UsesOrganization():
		for _, ou := range sel.OUs {
			if _, ok := tree.units[ou]; !ok {
				return nil, fmt.Errorf("OU %s is not in the organization", ou)
			}
		}
		for _, a := range tree.accounts {
			if len(sel.OUs) == 0 || slices.ContainsFunc(sel.OUs, a.under) {
				picked = append(picked, a)
			}
		}
		for _, id := range sel.Accounts { // --org/--ou plus --accounts: the union
			if !slices.ContainsFunc(picked, func(a Account) bool { return a.ID == id }) {
				picked = append(picked, lookup(tree, id))
			}
		}
	case len(sel.Accounts) > 0:
		for _, id := range sel.Accounts {
			picked = append(picked, lookup(tree, id))
		}
	default:
		picked = append(picked, lookup(tree, callerAccount))
	}

	out := &Selected{TreeError: treeErr}
	seen := map[string]bool{}
	for _, a := range picked {
		if seen[a.ID] || slices.Contains(sel.Exclude, a.ID) {
			continue
		}
		seen[a.ID] = true
		if a.State != "" && a.State != "ACTIVE" {
			out.Skipped = append(out.Skipped, a)
			continue
		}
		out.Accounts = append(out.Accounts, a)
	}
	sort.Slice(out.Accounts, func(i, j int) bool { return out.Accounts[i].ID < out.Accounts[j].ID })
	return out, nil
}

// lookup finds an account in the tree, or makes one from its ID alone.
func lookup(tree *orgTree, id string) Account {
	if tree != nil {
		i := sort.Search(len(tree.accounts), func(i int) bool { return tree.accounts[i].ID >= id })
		if i < len(tree.accounts) && tree.accounts[i].ID == id {
			return tree.accounts[i]
		}
	}
	return Account{ID: id}
}

package conformance

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/google/go-cmp/cmp"
)

var (
	orgIDPattern  = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	rootIDPattern = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	ouIDPattern   = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
)

func TestOrganizations(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.orgs(tgt.hub)
		ws, prod := tgt.ouIDs[workloadsOU], tgt.ouIDs[prodOU]
		devID, prodID := tgt.members[0], tgt.members[1]

		d, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		ok(t, err, "DescribeOrganization")
		o := d.Organization
		orgID := aws.ToString(o.Id)
		if !orgIDPattern.MatchString(orgID) || aws.ToString(o.MasterAccountId) != tgt.mgmt ||
			aws.ToString(o.Arn) != "arn:aws:organizations::"+tgt.mgmt+":organization/"+orgID ||
			aws.ToString(o.MasterAccountArn) != "arn:aws:organizations::"+tgt.mgmt+":account/"+orgID+"/"+tgt.mgmt ||
			o.FeatureSet != orgtypes.OrganizationFeatureSetAll {
			t.Errorf("DescribeOrganization: Id %q Arn %q MasterAccountId %q MasterAccountArn %q FeatureSet %q",
				orgID, aws.ToString(o.Arn), aws.ToString(o.MasterAccountId), aws.ToString(o.MasterAccountArn), o.FeatureSet)
		}
		// Any member may describe its organization.
		fromMember, err := tgt.orgs(tgt.member(t, 0)).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		ok(t, err, "DescribeOrganization from a member")
		if aws.ToString(fromMember.Organization.Id) != orgID {
			t.Errorf("DescribeOrganization from a member: Id %q, want %q", aws.ToString(fromMember.Organization.Id), orgID)
		}

		roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
		ok(t, err, "ListRoots")
		if len(roots.Roots) != 1 || aws.ToString(roots.Roots[0].Id) != tgt.rootID || !rootIDPattern.MatchString(tgt.rootID) ||
			aws.ToString(roots.Roots[0].Arn) != "arn:aws:organizations::"+tgt.mgmt+":root/"+orgID+"/"+tgt.rootID ||
			aws.ToString(roots.Roots[0].Name) != "Root" {
			t.Errorf("ListRoots: %+v, want one root %s named Root", roots.Roots, tgt.rootID)
		}

		ouNames := func(parent string) []string {
			t.Helper()
			var names []string
			p := organizations.NewListOrganizationalUnitsForParentPaginator(c,
				&organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				ok(t, err, "ListOrganizationalUnitsForParent "+parent)
				for _, ou := range page.OrganizationalUnits {
					id := aws.ToString(ou.Id)
					if !ouIDPattern.MatchString(id) || aws.ToString(ou.Arn) != "arn:aws:organizations::"+tgt.mgmt+":ou/"+orgID+"/"+id {
						t.Errorf("OU %q: Arn %q", id, aws.ToString(ou.Arn))
					}
					names = append(names, aws.ToString(ou.Name)+"="+id)
				}
			}
			return names
		}
		if got := ouNames(tgt.rootID); !cmp.Equal(got, []string{workloadsOU + "=" + ws}) {
			t.Errorf("OUs under the root: %v", got)
		}
		if got := ouNames(ws); !cmp.Equal(got, []string{prodOU + "=" + prod}) {
			t.Errorf("OUs under Workloads: %v", got)
		}
		if got := ouNames(prod); len(got) != 0 {
			t.Errorf("OUs under Prod: %v, want none", got)
		}

		accountsIn := func(parent string) []string {
			t.Helper()
			var ids []string
			p := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				ok(t, err, "ListAccountsForParent "+parent)
				for _, a := range page.Accounts {
					ids = append(ids, aws.ToString(a.Id))
				}
			}
			return ids
		}
		for parent, want := range map[string][]string{tgt.rootID: {tgt.mgmt}, ws: {devID}, prod: {prodID}} {
			if got := accountsIn(parent); !cmp.Equal(got, want) {
				t.Errorf("ListAccountsForParent %s: %v, want %v", parent, got, want)
			}
		}

		for child, want := range map[string]string{
			tgt.mgmt: string(orgtypes.ParentTypeRoot) + " " + tgt.rootID,
			devID:    string(orgtypes.ParentTypeOrganizationalUnit) + " " + ws,
			prodID:   string(orgtypes.ParentTypeOrganizationalUnit) + " " + prod,
			prod:     string(orgtypes.ParentTypeOrganizationalUnit) + " " + ws,
			ws:       string(orgtypes.ParentTypeRoot) + " " + tgt.rootID,
		} {
			out, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
			ok(t, err, "ListParents "+child)
			var got []string
			for _, p := range out.Parents {
				got = append(got, string(p.Type)+" "+aws.ToString(p.Id))
			}
			if !cmp.Equal(got, []string{want}) {
				t.Errorf("ListParents %s: %v, want [%s]", child, got, want)
			}
		}

		// ListAccounts one account per page: every account exactly once.
		var pages int
		var ids []string
		p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			ok(t, err, "ListAccounts page")
			pages++
			if len(page.Accounts) > 1 {
				t.Errorf("ListAccounts MaxResults=1: a page of %d accounts", len(page.Accounts))
			}
			for _, a := range page.Accounts {
				id := aws.ToString(a.Id)
				ids = append(ids, id)
				if aws.ToString(a.Arn) != "arn:aws:organizations::"+tgt.mgmt+":account/"+orgID+"/"+id ||
					a.Status != orgtypes.AccountStatusActive || a.State != orgtypes.AccountStateActive ||
					a.JoinedTimestamp == nil || aws.ToString(a.Email) == "" || aws.ToString(a.Name) == "" {
					t.Errorf("ListAccounts: account %s: Arn %q Status %q State %q Joined %v Email %q Name %q", id,
						aws.ToString(a.Arn), a.Status, a.State, a.JoinedTimestamp, aws.ToString(a.Email), aws.ToString(a.Name))
				}
				for i, m := range memberSpec {
					if id == tgt.members[i] && (aws.ToString(a.Name) != m.name || aws.ToString(a.Email) != m.email) {
						t.Errorf("ListAccounts: member %s: Name %q Email %q, want %q %q", id, aws.ToString(a.Name), aws.ToString(a.Email), m.name, m.email)
					}
				}
			}
			if pages > 10 {
				t.Fatal("ListAccounts: more than 10 pages for 3 accounts")
			}
		}
		want := slices.Sorted(slices.Values([]string{tgt.mgmt, devID, prodID}))
		if got := slices.Sorted(slices.Values(ids)); !cmp.Equal(got, want) {
			t.Errorf("ListAccounts: %v, want each of %v once", got, want)
		}
		if pages != 3 {
			t.Errorf("ListAccounts MaxResults=1: %d pages for 3 accounts, want 3", pages)
		}
	})
}

func TestOrganizationsErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.orgs(tgt.hub)

		_, err := c.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String("ou-zzzz-zzzzzzzz")})
		wantTyped[*orgtypes.ParentNotFoundException](t, err, "ListOrganizationalUnitsForParent unknown parent")
		_, err = c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-zzzz-zzzzzzzz")})
		wantTyped[*orgtypes.ParentNotFoundException](t, err, "ListAccountsForParent unknown parent")

		_, err = c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("999999999999")})
		if tgt.deviates(orgsListParentsUnknown) {
			wantTyped[*orgtypes.AccountNotFoundException](t, err, "ListParents unknown account (moto)")
		} else {
			wantTyped[*orgtypes.ChildNotFoundException](t, err, "ListParents unknown account")
		}

		_, err = c.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
		if tgt.deviates(orgsMaxResultsUnchecked) {
			ok(t, err, "ListAccounts MaxResults=21 (moto accepts it)")
		} else {
			wantTyped[*orgtypes.InvalidInputException](t, err, "ListAccounts MaxResults=21")
			wantAPIError(t, err, "ListAccounts MaxResults=21", "InvalidInputException", 400)
		}

		_, err = c.ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: aws.String("not-a-token")})
		if tgt.deviates(orgsBadNextToken) {
			wantAPIError(t, err, "ListAccounts bad NextToken (moto)", "InvalidToken", 400)
		} else {
			in := wantTyped[*orgtypes.InvalidInputException](t, err, "ListAccounts bad NextToken")
			if in != nil && in.Reason != orgtypes.InvalidInputExceptionReasonInvalidPaginationToken {
				// The model's enum value (the SDK's InvalidPaginationToken
				// constant); the prose of the docs calls it INVALID_PAGINATION_TOKEN.
				t.Errorf("ListAccounts bad NextToken: Reason %q, want %q (organizations model enum)", in.Reason, orgtypes.InvalidInputExceptionReasonInvalidPaginationToken)
			}
		}

		raw := tgt.rawSigned(t, tgt.hubKey, "organizations", "application/x-amz-json-1.1",
			"AWSOrganizationsV20161128.ListRoots", "{}", nil)
		ct := raw.header.Get("Content-Type")
		if raw.status != 200 || !strings.Contains(raw.body, `"Roots"`) {
			t.Errorf("raw ListRoots: HTTP %d:\n%s", raw.status, raw.body)
		}
		if tgt.deviates(jsonContentType) {
			if !strings.HasPrefix(ct, "text/html") {
				t.Errorf("raw ListRoots (moto): Content-Type %q, want text/html", ct)
			}
		} else if ct != "application/x-amz-json-1.1" {
			t.Errorf("raw ListRoots: Content-Type %q, want application/x-amz-json-1.1", ct)
		}
	})
}

// TestOrganizationsNotInUse runs against a hub account that belongs to no
// organization.
func TestOrganizationsNotInUse(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.orgs(tgt.loner(t))
		_, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		wantTyped[*orgtypes.AWSOrganizationsNotInUseException](t, err, "DescribeOrganization outside an organization")
		out, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{})
		if tgt.deviates(orgsListWithoutOrg) {
			ok(t, err, "ListAccounts outside an organization (moto)")
			if len(out.Accounts) != 0 {
				t.Errorf("ListAccounts outside an organization (moto): %d accounts, want none", len(out.Accounts))
			}
			return
		}
		wantTyped[*orgtypes.AWSOrganizationsNotInUseException](t, err, "ListAccounts outside an organization")
	})
}

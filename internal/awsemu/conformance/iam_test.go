package conformance

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	uuidPattern      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	awsUserIDPattern = regexp.MustCompile(`^AIDA[A-Z0-9]{16,}$`)
	motoIDPattern    = regexp.MustCompile(`^[a-z0-9]{20}$`)
	accessKeyPattern = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
)

func TestUserLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		before := time.Now().Add(-time.Minute)

		created, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/")})
		ok(t, err, "CreateUser")
		u := created.User
		wantARN := "arn:aws:iam::" + tgt.mgmt + ":user/eng/alice"
		if aws.ToString(u.Arn) != wantARN || aws.ToString(u.Path) != "/eng/" || aws.ToString(u.UserName) != "alice" {
			t.Errorf("CreateUser: Arn %q Path %q UserName %q, want %q /eng/ alice", aws.ToString(u.Arn), aws.ToString(u.Path), aws.ToString(u.UserName), wantARN)
		}
		if u.CreateDate == nil || u.CreateDate.Before(before) || u.CreateDate.After(time.Now().Add(time.Minute)) {
			t.Errorf("CreateUser: CreateDate %v, want about now", u.CreateDate)
		}
		if tgt.deviates(iamIDFormat) {
			if !motoIDPattern.MatchString(aws.ToString(u.UserId)) {
				t.Errorf("CreateUser: UserId %q, want moto's 20 lowercase characters", aws.ToString(u.UserId))
			}
		} else if !awsUserIDPattern.MatchString(aws.ToString(u.UserId)) {
			t.Errorf("CreateUser: UserId %q, want AIDA…", aws.ToString(u.UserId))
		}
		if tgt.deviates(fractionalTimestamps) {
			// moto sends microseconds; a whole second happens once in a million.
			if u.CreateDate != nil && u.CreateDate.Nanosecond() == 0 {
				t.Logf("CreateUser: moto sent a whole-second CreateDate (rare but possible)")
			}
		} else if u.CreateDate != nil && u.CreateDate.Nanosecond() != 0 {
			t.Errorf("CreateUser: CreateDate %v has a fraction of a second, want whole seconds", u.CreateDate)
		}
		rid, _ := awsmiddleware.GetRequestIDMetadata(created.ResultMetadata)
		if tgt.deviates(iamIDFormat) {
			if len(rid) != 52 {
				t.Errorf("CreateUser: request ID %q, want moto's 52 characters", rid)
			}
		} else if !uuidPattern.MatchString(rid) {
			t.Errorf("CreateUser: request ID %q, want a UUID", rid)
		}

		_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
		wantTyped[*types.EntityAlreadyExistsException](t, err, "CreateUser again")
		wantAPIError(t, err, "CreateUser again", "EntityAlreadyExists", http.StatusConflict)

		got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
		ok(t, err, "GetUser")
		if diff := cmp.Diff(u, got.User, cmpopts.IgnoreUnexported(types.User{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("GetUser differs from CreateUser (-create +get):\n%s", diff)
		}

		if names := userNames(t, c, ""); !cmp.Equal(names, []string{adminUser, "alice"}) {
			t.Errorf("ListUsers: %v, want [%s alice]", names, adminUser)
		}
		if names := userNames(t, c, "/eng/"); !cmp.Equal(names, []string{"alice"}) {
			t.Errorf("ListUsers PathPrefix=/eng/: %v, want [alice]", names)
		}

		groups, err := c.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("alice")})
		ok(t, err, "ListGroupsForUser")
		if len(groups.Groups) != 0 {
			t.Errorf("ListGroupsForUser: %d groups, want none", len(groups.Groups))
		}

		_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{
			{Key: aws.String("team"), Value: aws.String("payments")},
			{Key: aws.String("owner"), Value: aws.String("alice@example.com")},
			{Key: aws.String("cost-center"), Value: aws.String("")},
		}})
		ok(t, err, "TagUser")
		wantTags := []string{"cost-center=", "owner=alice@example.com", "team=payments"}
		if tgt.deviates(tagsInsertionOrder) {
			wantTags = []string{"team=payments", "owner=alice@example.com", "cost-center="}
		}
		if got := listTags(t, c, "alice"); !cmp.Equal(got, wantTags) {
			t.Errorf("ListUserTags: %v, want %v", got, wantTags)
		}
		got, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
		ok(t, err, "GetUser")
		if n := len(got.User.Tags); n != 3 {
			t.Errorf("GetUser: %d tags, want 3", n)
		}

		_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{
			{Key: aws.String("owner"), Value: aws.String("bob@example.com")},
		}})
		ok(t, err, "TagUser (overwrite)")
		_, err = c.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("alice"), TagKeys: []string{"team", "cost-center"}})
		ok(t, err, "UntagUser")
		if got := listTags(t, c, "alice"); !cmp.Equal(got, []string{"owner=bob@example.com"}) {
			t.Errorf("ListUserTags after overwrite and untag: %v, want [owner=bob@example.com]", got)
		}

		_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
		ok(t, err, "DeleteUser")
		_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
		wantTyped[*types.NoSuchEntityException](t, err, "GetUser after DeleteUser")
		if names := userNames(t, c, ""); !cmp.Equal(names, []string{adminUser}) {
			t.Errorf("ListUsers after DeleteUser: %v, want [%s]", names, adminUser)
		}
		_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
		wantAPIError(t, err, "DeleteUser again", "NoSuchEntity", http.StatusNotFound)
	})
}

func listTags(t *testing.T, c *iam.Client, user string) []string {
	t.Helper()
	out, err := c.ListUserTags(t.Context(), &iam.ListUserTagsInput{UserName: aws.String(user)})
	ok(t, err, "ListUserTags")
	var tags []string
	for _, tag := range out.Tags {
		tags = append(tags, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
	}
	return tags
}

func TestKeyLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")})
		ok(t, err, "CreateUser")

		created, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
		ok(t, err, "CreateAccessKey")
		k := created.AccessKey
		id, secret := aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey)
		if !accessKeyPattern.MatchString(id) {
			t.Errorf("CreateAccessKey: AccessKeyId %q, want AKIA + 16 characters", id)
		}
		if len(secret) != 40 {
			t.Errorf("CreateAccessKey: secret has %d characters, want 40", len(secret))
		}
		if k.Status != types.StatusTypeActive || aws.ToString(k.UserName) != "bob" || k.CreateDate == nil {
			t.Errorf("CreateAccessKey: Status %q UserName %q CreateDate %v, want Active bob <set>", k.Status, aws.ToString(k.UserName), k.CreateDate)
		}

		wantKeys := func(op string, want ...string) {
			t.Helper()
			out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("bob")})
			ok(t, err, op)
			var got []string
			for _, m := range out.AccessKeyMetadata {
				got = append(got, aws.ToString(m.AccessKeyId)+" "+string(m.Status)+" "+aws.ToString(m.UserName))
			}
			if !cmp.Equal(got, want) {
				t.Errorf("%s: %v, want %v", op, got, want)
			}
		}
		wantKeys("ListAccessKeys", id+" Active bob")

		// The secret never comes back after CreateAccessKey.
		raw := tgt.rawQuery(t, tgt.hubKey, "iam", iamForm("ListAccessKeys", "UserName", "bob"))
		if raw.status != http.StatusOK || !strings.Contains(raw.body, id) {
			t.Errorf("raw ListAccessKeys: HTTP %d, body without the key ID:\n%s", raw.status, raw.body)
		}
		if strings.Contains(raw.body, secret) || strings.Contains(raw.body, "SecretAccessKey") {
			t.Errorf("raw ListAccessKeys shows the secret:\n%s", raw.body)
		}
		if strings.Contains(raw.body, "<IsTruncated>") == tgt.deviates(isTruncatedMissing) {
			t.Errorf("raw ListAccessKeys: <IsTruncated> present = %v, want %v:\n%s",
				strings.Contains(raw.body, "<IsTruncated>"), !tgt.deviates(isTruncatedMissing), raw.body)
		}

		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: types.StatusTypeInactive})
		ok(t, err, "UpdateAccessKey Inactive")
		wantKeys("ListAccessKeys after deactivation", id+" Inactive bob")
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: types.StatusTypeActive})
		ok(t, err, "UpdateAccessKey Active")
		wantKeys("ListAccessKeys after reactivation", id+" Active bob")

		// Unknown user, unknown key, and a key that belongs to someone else.
		_, err = c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ghost")})
		wantTyped[*types.NoSuchEntityException](t, err, "ListAccessKeys unknown user")
		_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ghost")})
		wantTyped[*types.NoSuchEntityException](t, err, "CreateAccessKey unknown user")
		unknown := "AKIAZZZZZZZZZZZZZZZZ"
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(unknown), Status: types.StatusTypeInactive})
		wantTyped[*types.NoSuchEntityException](t, err, "UpdateAccessKey unknown key")
		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(unknown)})
		wantTyped[*types.NoSuchEntityException](t, err, "DeleteAccessKey unknown key")
		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("ghost"), AccessKeyId: aws.String(id)})
		wantTyped[*types.NoSuchEntityException](t, err, "DeleteAccessKey unknown user")
		wantKeys("ListAccessKeys after failed calls", id+" Active bob")

		// Status values outside the enum.
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: "Bogus"})
		if tgt.deviates(noInputValidation) {
			ok(t, err, "UpdateAccessKey Status=Bogus (moto accepts it)")
			wantKeys("ListAccessKeys after Status=Bogus", id+" Bogus bob")
			_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: types.StatusTypeActive})
			ok(t, err, "UpdateAccessKey Active")
		} else {
			wantAPIError(t, err, "UpdateAccessKey Status=Bogus", "ValidationError", http.StatusBadRequest)
			wantKeys("ListAccessKeys after Status=Bogus", id+" Active bob")
		}

		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id)})
		ok(t, err, "DeleteAccessKey")
		wantKeys("ListAccessKeys after DeleteAccessKey")
		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id)})
		wantTyped[*types.NoSuchEntityException](t, err, "DeleteAccessKey again")
	})
}

func TestAccessKeyQuota(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")})
		ok(t, err, "CreateUser")
		var ids []string
		for range 2 {
			out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")})
			ok(t, err, "CreateAccessKey")
			ids = append(ids, aws.ToString(out.AccessKey.AccessKeyId))
		}
		third := func(op string) {
			t.Helper()
			_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")})
			le := wantTyped[*types.LimitExceededException](t, err, op)
			wantAPIError(t, err, op, "LimitExceeded", http.StatusConflict)
			if le != nil && le.ErrorMessage() != "Cannot exceed quota for AccessKeysPerUser: 2" {
				t.Errorf("%s: message %q", op, le.ErrorMessage())
			}
		}
		third("third CreateAccessKey")

		// Inactive keys count towards the quota.
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String(ids[0]), Status: types.StatusTypeInactive})
		ok(t, err, "UpdateAccessKey")
		third("third CreateAccessKey with one key inactive")

		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String(ids[0])})
		ok(t, err, "DeleteAccessKey")
		_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")})
		ok(t, err, "CreateAccessKey after a delete")

		// AWS refuses to delete a user that still has keys.
		_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("carol")})
		if tgt.deviates(deleteUserWithKeys) {
			ok(t, err, "DeleteUser with keys (moto allows it)")
			return
		}
		wantTyped[*types.DeleteConflictException](t, err, "DeleteUser with keys")
		wantAPIError(t, err, "DeleteUser with keys", "DeleteConflict", http.StatusConflict)
		out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("carol")})
		ok(t, err, "ListAccessKeys after refused DeleteUser")
		if len(out.AccessKeyMetadata) != 2 {
			t.Errorf("ListAccessKeys after refused DeleteUser: %d keys, want 2", len(out.AccessKeyMetadata))
		}
	})
}

func TestErrorCodes(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)

		_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("ghost")})
		nse := wantTyped[*types.NoSuchEntityException](t, err, "GetUser unknown")
		wantAPIError(t, err, "GetUser unknown", "NoSuchEntity", http.StatusNotFound)
		if nse != nil && nse.ErrorMessage() != "The user with name ghost cannot be found." {
			t.Errorf("GetUser unknown: message %q", nse.ErrorMessage())
		}

		for op, call := range map[string]func() error{
			"ListUserTags unknown": func() error {
				_, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("ghost")})
				return err
			},
			"TagUser unknown": func() error {
				_, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("ghost"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
				return err
			},
			"UntagUser unknown": func() error {
				_, err := c.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("ghost"), TagKeys: []string{"k"}})
				return err
			},
			"ListGroupsForUser unknown": func() error {
				_, err := c.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("ghost")})
				return err
			},
			"DeleteUser unknown": func() error {
				_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("ghost")})
				return err
			},
		} {
			err := call()
			wantTyped[*types.NoSuchEntityException](t, err, op)
			wantAPIError(t, err, op, "NoSuchEntity", http.StatusNotFound)
		}

		// A name outside the pattern.
		_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bad name!")})
		if tgt.deviates(noInputValidation) {
			wantAPIError(t, err, "GetUser bad name (moto)", "NoSuchEntity", http.StatusNotFound)
		} else {
			wantAPIError(t, err, "GetUser bad name", "ValidationError", http.StatusBadRequest)
		}
	})
}

func TestListUsersPagination(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		var want []string
		for _, n := range []string{"p-gina", "p-abe", "p-fay", "p-cal", "p-eve", "p-dan", "p-bea"} {
			_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n), Path: aws.String("/paging/")})
			ok(t, err, "CreateUser "+n)
			want = append(want, n)
		}
		slices.Sort(want)

		var got []string
		var sizes []int
		p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{PathPrefix: aws.String("/paging/"), MaxItems: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			ok(t, err, "ListUsers page")
			sizes = append(sizes, len(page.Users))
			for _, u := range page.Users {
				got = append(got, aws.ToString(u.UserName))
			}
			if len(sizes) > 10 {
				t.Fatal("ListUsers: more than 10 pages for 7 users")
			}
		}
		slices.Sort(got)
		if !cmp.Equal(got, want) {
			t.Errorf("ListUsers through the paginator: %v, want each of %v once", got, want)
		}
		wantSizes := []int{2, 2, 2, 1}
		if tgt.deviates(maxItemsIgnored) {
			wantSizes = []int{7}
		}
		if !cmp.Equal(sizes, wantSizes) {
			t.Errorf("ListUsers MaxItems=2: page sizes %v, want %v", sizes, wantSizes)
		}

		first, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/paging/"), MaxItems: aws.Int32(2)})
		ok(t, err, "ListUsers MaxItems=2")
		if tgt.deviates(maxItemsIgnored) {
			if first.IsTruncated || first.Marker != nil {
				t.Errorf("ListUsers (moto): IsTruncated %v Marker %v, want false, none", first.IsTruncated, first.Marker)
			}
		} else if !first.IsTruncated || aws.ToString(first.Marker) == "" {
			t.Errorf("ListUsers MaxItems=2 of 7: IsTruncated %v Marker %q, want true and a marker", first.IsTruncated, aws.ToString(first.Marker))
		}
		all, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/paging/")})
		ok(t, err, "ListUsers")
		if all.IsTruncated || all.Marker != nil || len(all.Users) != 7 {
			t.Errorf("ListUsers without MaxItems: %d users, IsTruncated %v, Marker %v; want 7, false, none", len(all.Users), all.IsTruncated, all.Marker)
		}

		_, err = c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(0)})
		if tgt.deviates(maxItemsIgnored) {
			ok(t, err, "ListUsers MaxItems=0 (moto accepts it)")
		} else {
			wantAPIError(t, err, "ListUsers MaxItems=0", "ValidationError", http.StatusBadRequest)
		}
	})
}

func TestAccountSummaryAndAliases(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		for _, n := range []string{"s1", "s2"} {
			_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n)})
			ok(t, err, "CreateUser")
		}
		out, err := c.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
		ok(t, err, "GetAccountSummary")
		m := out.SummaryMap
		for _, k := range []string{"Users", "UsersQuota", "Groups", "GroupsQuota", "AccessKeysPerUserQuota",
			"GroupsPerUserQuota", "AccountMFAEnabled", "AccountAccessKeysPresent", "Roles", "RolesQuota", "Policies", "PoliciesQuota"} {
			if _, ok := m[k]; !ok {
				t.Errorf("GetAccountSummary: no %s in %v", k, m)
			}
		}
		want := map[string]int32{
			"Users":                    3, // admin, s1, s2
			"AccessKeysPerUserQuota":   2,
			"AccountAccessKeysPresent": 0, // the management root user has no key
			"AccountMFAEnabled":        0,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("GetAccountSummary: %s = %d, want %d", k, m[k], v)
			}
		}

		aliases, err := c.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
		ok(t, err, "ListAccountAliases")
		if len(aliases.AccountAliases) != 0 || aliases.IsTruncated {
			t.Errorf("ListAccountAliases: %v IsTruncated %v, want none", aliases.AccountAliases, aliases.IsTruncated)
		}
		raw := tgt.rawQuery(t, tgt.hubKey, "iam", iamForm("ListAccountAliases"))
		if raw.status != http.StatusOK || !strings.Contains(raw.body, "<AccountAliases") {
			t.Errorf("raw ListAccountAliases: HTTP %d:\n%s", raw.status, raw.body)
		}
		if strings.Contains(raw.body, "<IsTruncated>") == tgt.deviates(isTruncatedMissing) {
			t.Errorf("raw ListAccountAliases: <IsTruncated> present = %v, want %v:\n%s",
				strings.Contains(raw.body, "<IsTruncated>"), !tgt.deviates(isTruncatedMissing), raw.body)
		}
	})
}

func TestUnknownAction(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		raw := tgt.rawQuery(t, tgt.hubKey, "iam", iamForm("FrobnicateUsers"))
		if tgt.deviates(unknownActionHTML) {
			if raw.status != http.StatusInternalServerError || !strings.Contains(strings.ToLower(raw.body), "<html") {
				t.Errorf("unknown Action (moto): HTTP %d, want 500 HTML:\n%s", raw.status, raw.body)
			}
			return
		}
		if raw.status != http.StatusBadRequest || !strings.Contains(raw.body, "<Code>InvalidAction</Code>") ||
			!strings.Contains(raw.body, "<ErrorResponse") || !strings.Contains(raw.header.Get("Content-Type"), "xml") {
			t.Errorf("unknown Action: HTTP %d Content-Type %q, want 400 InvalidAction XML:\n%s", raw.status, raw.header.Get("Content-Type"), raw.body)
		}
	})
}

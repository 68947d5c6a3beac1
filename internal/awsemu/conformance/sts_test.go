package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestAccessKeyLastUsed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("frank")})
		ok(t, err, "CreateUser")
		k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("frank")})
		ok(t, err, "CreateAccessKey")
		id := k.AccessKey.AccessKeyId

		never, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: id})
		ok(t, err, "GetAccessKeyLastUsed (never used)")
		if aws.ToString(never.UserName) != "frank" {
			t.Errorf("GetAccessKeyLastUsed: UserName %q, want frank", aws.ToString(never.UserName))
		}
		if lu := never.AccessKeyLastUsed; lu == nil || lu.LastUsedDate != nil ||
			aws.ToString(lu.ServiceName) != "N/A" || aws.ToString(lu.Region) != "N/A" {
			t.Errorf("GetAccessKeyLastUsed (never used): %+v, want no LastUsedDate, ServiceName and Region N/A", lu)
		}

		before := time.Now().Add(-time.Minute)
		frank := tgt.iam(tgt.keyConfig(t, aws.ToString(id), aws.ToString(k.AccessKey.SecretAccessKey)))
		_, err = frank.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("frank")})
		ok(t, err, "ListAccessKeys signed with frank's key")

		used, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: id})
		ok(t, err, "GetAccessKeyLastUsed (used)")
		lu := used.AccessKeyLastUsed
		if lu == nil || lu.LastUsedDate == nil {
			t.Fatalf("GetAccessKeyLastUsed after use: %+v, want a LastUsedDate", lu)
		}
		if d := *lu.LastUsedDate; d.Before(before) || d.After(time.Now().Add(time.Minute)) {
			t.Errorf("GetAccessKeyLastUsed: LastUsedDate %v, want about now", d)
		}
		if aws.ToString(lu.ServiceName) != "iam" || aws.ToString(lu.Region) != region {
			t.Errorf("GetAccessKeyLastUsed: ServiceName %q Region %q, want iam %s", aws.ToString(lu.ServiceName), aws.ToString(lu.Region), region)
		}
	})
}

func TestCallerIdentityAndIsolation(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		hub, err := tgt.sts(tgt.hub).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		ok(t, err, "GetCallerIdentity (hub)")
		if aws.ToString(hub.Account) != tgt.mgmt || aws.ToString(hub.Arn) != "arn:aws:iam::"+tgt.mgmt+":user/"+adminUser {
			t.Errorf("GetCallerIdentity (hub): Account %q Arn %q, want %s and the admin user", aws.ToString(hub.Account), aws.ToString(hub.Arn), tgt.mgmt)
		}

		cfgA, cfgB := tgt.member(t, 0), tgt.member(t, 1)
		a := tgt.members[0]
		id, err := tgt.sts(cfgA).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		ok(t, err, "GetCallerIdentity (member A)")
		wantARN := "arn:aws:sts::" + a + ":assumed-role/" + spokeRole + "/" + sessionName
		if aws.ToString(id.Account) != a || aws.ToString(id.Arn) != wantARN {
			t.Errorf("GetCallerIdentity (member A): Account %q Arn %q, want %s %s", aws.ToString(id.Account), aws.ToString(id.Arn), a, wantARN)
		}
		if !strings.HasSuffix(aws.ToString(id.UserId), ":"+sessionName) {
			t.Errorf("GetCallerIdentity (member A): UserId %q, want <role id>:%s", aws.ToString(id.UserId), sessionName)
		}

		iamA, iamB, iamHub := tgt.iam(cfgA), tgt.iam(cfgB), tgt.iam(tgt.hub)
		created, err := iamA.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("only-in-a")})
		ok(t, err, "CreateUser in member A")
		if got, want := aws.ToString(created.User.Arn), "arn:aws:iam::"+a+":user/only-in-a"; got != want {
			t.Errorf("CreateUser in member A: Arn %q, want %q", got, want)
		}
		for name, c := range map[string]*iam.Client{"member B": iamB, "hub": iamHub} {
			_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("only-in-a")})
			wantTyped[*types.NoSuchEntityException](t, err, "GetUser only-in-a in "+name)
			for _, n := range userNames(t, c, "") {
				if n == "only-in-a" {
					t.Errorf("ListUsers in %s shows member A's user", name)
				}
			}
		}
		if names := userNames(t, iamA, ""); len(names) != 1 || names[0] != "only-in-a" {
			t.Errorf("ListUsers in member A: %v, want [only-in-a]", names)
		}

		// A key created in member A acts in member A.
		k, err := iamA.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("only-in-a")})
		ok(t, err, "CreateAccessKey in member A")
		direct := tgt.keyConfig(t, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
		who, err := tgt.sts(direct).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		ok(t, err, "GetCallerIdentity with member A's user key")
		if aws.ToString(who.Account) != a || aws.ToString(who.Arn) != "arn:aws:iam::"+a+":user/only-in-a" {
			t.Errorf("GetCallerIdentity with member A's user key: Account %q Arn %q", aws.ToString(who.Account), aws.ToString(who.Arn))
		}
		_, err = iamHub.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("only-in-a")})
		wantTyped[*types.NoSuchEntityException](t, err, "ListAccessKeys for member A's user from the hub")
		if ids := userNames(t, iamB, ""); len(ids) != 0 {
			t.Errorf("ListUsers in member B: %v, want none", ids)
		}
	})
}

func TestAssumeRole(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.sts(tgt.hub)
		role := tgt.roleARN(tgt.members[0], spokeRole)

		out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("direct"),
			ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(900)})
		ok(t, err, "AssumeRole")
		cr := out.Credentials
		if cr == nil || !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || aws.ToString(cr.SessionToken) == "" ||
			len(aws.ToString(cr.SecretAccessKey)) != 40 {
			t.Errorf("AssumeRole: credentials %+v, want an ASIA… key, a 40-character secret and a session token", cr)
		} else if exp := aws.ToTime(cr.Expiration); exp.Before(time.Now().Add(14*time.Minute)) || exp.After(time.Now().Add(16*time.Minute)) {
			t.Errorf("AssumeRole DurationSeconds=900: Expiration %v, want in 15 minutes", exp)
		}
		wantARN := "arn:aws:sts::" + tgt.members[0] + ":assumed-role/" + spokeRole + "/direct"
		if aws.ToString(out.AssumedRoleUser.Arn) != wantARN || !strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":direct") {
			t.Errorf("AssumeRole: AssumedRoleUser %q %q, want %s", aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(out.AssumedRoleUser.AssumedRoleId), wantARN)
		}
		// PackedPolicySize (deprecated in the SDK, so read from the wire).
		raw := tgt.rawQuery(t, tgt.hubKey, "sts", url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"},
			"RoleArn": {role}, "RoleSessionName": {"raw"}, "ExternalId": {externalID}})
		if raw.status != http.StatusOK {
			t.Errorf("raw AssumeRole: HTTP %d:\n%s", raw.status, raw.body)
		} else if strings.Contains(raw.body, "<PackedPolicySize>") != tgt.deviates(packedPolicySizeAlways) {
			t.Errorf("raw AssumeRole without session policy: <PackedPolicySize> present = %v, want %v:\n%s",
				!tgt.deviates(packedPolicySizeAlways), tgt.deviates(packedPolicySizeAlways), raw.body)
		}

		refused := []struct {
			op   string
			in   sts.AssumeRoleInput
			code string
			http int
		}{
			{"AssumeRole wrong ExternalId", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s1"), ExternalId: aws.String("wrong-id")}, "AccessDenied", http.StatusForbidden},
			{"AssumeRole without ExternalId", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s1")}, "AccessDenied", http.StatusForbidden},
			{"AssumeRole nonexistent role", sts.AssumeRoleInput{RoleArn: aws.String(tgt.roleARN(tgt.members[0], "NoSuchRole")), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID)}, "AccessDenied", http.StatusForbidden},
			{"AssumeRole 1-character session name", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("x"), ExternalId: aws.String(externalID)}, "ValidationError", http.StatusBadRequest},
			{"AssumeRole DurationSeconds=100", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(100)}, "ValidationError", http.StatusBadRequest},
		}
		for _, r := range refused {
			_, err := c.AssumeRole(ctx, &r.in)
			if tgt.deviates(assumeRoleUnchecked) {
				ok(t, err, r.op+" (moto accepts it)")
				continue
			}
			wantAPIError(t, err, r.op, r.code, r.http)
		}
	})
}

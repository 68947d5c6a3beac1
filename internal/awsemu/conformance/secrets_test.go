package conformance

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/go-cmp/cmp"
)

// Secrets Manager, as keywarden's rotation uses it: a secret per IAM user
// holding the new access key, a resource policy for the user, tags, a
// replica region, and a new version at each rotation.

// secrets is a Secrets Manager client for cfg, signing for region ("": the
// configuration's).
func (tgt *target) secrets(cfg aws.Config, region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if region != "" {
			o.Region = region
		}
	})
}

// secretARN matches the ARN of a secret in account and region.
func secretARN(region, account, name string) *regexp.Regexp {
	return regexp.MustCompile(`^arn:aws:secretsmanager:` + region + `:` + account + `:secret:` + regexp.QuoteMeta(name) + `-[A-Za-z0-9]{6}$`)
}

// keyValue is what keywarden stores: the access key as JSON.
func keyValue(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": secret})
	return string(b)
}

// token is a ClientRequestToken (a UUID) numbered n.
func token(n int) *string {
	return aws.String("5ec4e700-0000-4000-8000-" + strings.Repeat("0", 11) + string(rune('0'+n)))
}

// wantSecretError checks a Secrets Manager error code and its status: 400,
// or moto's 404 for ResourceNotFoundException.
func wantSecretError(t *testing.T, tgt *target, err error, op, code string) {
	t.Helper()
	status := http.StatusBadRequest
	if code == "ResourceNotFoundException" && tgt.deviates(smNotFound404) {
		status = http.StatusNotFound
	}
	wantAPIError(t, err, op, code, status)
}

func tagSet(tags []smtypes.Tag) []string {
	var out []string
	for _, tg := range tags {
		out = append(out, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	slices.Sort(out)
	return out
}

func TestSecretLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.secrets(tgt.hub, "")
		name := "keywarden/iam-user/alice"
		v1 := keyValue("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		v2 := keyValue("AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")
		before := time.Now().Add(-time.Minute)

		create := func(value string, tok *string) (*secretsmanager.CreateSecretOutput, error) {
			return c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: tok,
				Description: aws.String("access key of alice"), KmsKeyId: aws.String("alias/keywarden"),
				Tags: []smtypes.Tag{{Key: aws.String("managed-by"), Value: aws.String("keywarden")}, {Key: aws.String("owner"), Value: aws.String("alice")}},
			})
		}
		created, err := create(v1, token(1))
		ok(t, err, "CreateSecret")
		arn := aws.ToString(created.ARN)
		if !secretARN(region, tgt.mgmt, name).MatchString(arn) || aws.ToString(created.Name) != name || aws.ToString(created.VersionId) != *token(1) {
			t.Errorf("CreateSecret: ARN %q Name %q VersionId %q", arn, aws.ToString(created.Name), aws.ToString(created.VersionId))
		}
		// A retry with the same token and value is answered like the first call.
		retried, err := create(v1, token(1))
		ok(t, err, "CreateSecret retried with the same token")
		if aws.ToString(retried.ARN) != arn || aws.ToString(retried.VersionId) != *token(1) {
			t.Errorf("CreateSecret retried: ARN %q VersionId %q, want %q %q", aws.ToString(retried.ARN), aws.ToString(retried.VersionId), arn, *token(1))
		}
		_, err = create(v2, token(1))
		wantTyped[*smtypes.ResourceExistsException](t, err, "CreateSecret: the same token with another value")
		wantSecretError(t, tgt, err, "CreateSecret: the same token with another value", "ResourceExistsException")
		_, err = create(v1, token(9))
		wantTyped[*smtypes.ResourceExistsException](t, err, "CreateSecret of an existing name")

		get := func(op string, in *secretsmanager.GetSecretValueInput, value, version string, stages ...string) {
			t.Helper()
			out, err := c.GetSecretValue(ctx, in)
			ok(t, err, op)
			if aws.ToString(out.SecretString) != value || aws.ToString(out.VersionId) != version || aws.ToString(out.ARN) != arn ||
				aws.ToString(out.Name) != name || !cmp.Equal(slices.Sorted(slices.Values(out.VersionStages)), stages) {
				t.Errorf("%s: value match %v, VersionId %q ARN %q Name %q stages %v; want %s %s %v",
					op, aws.ToString(out.SecretString) == value, aws.ToString(out.VersionId), aws.ToString(out.ARN), aws.ToString(out.Name), out.VersionStages, version, arn, stages)
			}
			if out.CreatedDate == nil || out.CreatedDate.Before(before) || out.CreatedDate.After(time.Now().Add(time.Minute)) {
				t.Errorf("%s: CreatedDate %v, want about now", op, out.CreatedDate)
			}
		}
		partial := strings.TrimSuffix(arn, arn[len(arn)-7:])
		for _, id := range []string{name, arn, partial} {
			get("GetSecretValue by "+id, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}, v1, *token(1), "AWSCURRENT")
		}

		// A rotation puts a new version: AWSCURRENT moves, the old one becomes AWSPREVIOUS.
		put := func(value string, tok *string) (*secretsmanager.PutSecretValueOutput, error) {
			return c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value), ClientRequestToken: tok})
		}
		for _, op := range []string{"PutSecretValue", "PutSecretValue retried with the same token"} {
			out, err := put(v2, token(2))
			ok(t, err, op)
			if aws.ToString(out.VersionId) != *token(2) || !cmp.Equal(out.VersionStages, []string{"AWSCURRENT"}) || aws.ToString(out.ARN) != arn {
				t.Errorf("%s: VersionId %q stages %v ARN %q", op, aws.ToString(out.VersionId), out.VersionStages, aws.ToString(out.ARN))
			}
		}
		_, err = put(v1, token(2))
		wantTyped[*smtypes.ResourceExistsException](t, err, "PutSecretValue: the same token with another value")
		get("GetSecretValue after the rotation", &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, v2, *token(2), "AWSCURRENT")
		get("GetSecretValue AWSPREVIOUS", &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String("AWSPREVIOUS")}, v1, *token(1), "AWSPREVIOUS")
		get("GetSecretValue by VersionId", &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: token(1)}, v1, *token(1), "AWSPREVIOUS")
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: token(1), VersionStage: aws.String("AWSCURRENT")})
		mismatchStatus := http.StatusBadRequest
		if tgt.deviates(smNotFound404) {
			mismatchStatus = http.StatusNotFound
		}
		wantAPIError(t, err, "GetSecretValue VersionId/VersionStage mismatch", "InvalidRequestException", mismatchStatus)
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: token(8)})
		wantSecretError(t, tgt, err, "GetSecretValue of an unknown version", "ResourceNotFoundException")

		// A third version leaves the first without a label.
		_, err = put(keyValue("AKIAJ3EXAMPLEEXAMPLE", "third"), token(3))
		ok(t, err, "PutSecretValue third")
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		ok(t, err, "DescribeSecret")
		want := map[string][]string{*token(3): {"AWSCURRENT"}, *token(2): {"AWSPREVIOUS"}}
		if tgt.deviates(smDeprecatedVersionsListed) {
			want[*token(1)] = []string{}
		}
		if diff := cmp.Diff(want, d.VersionIdsToStages); diff != "" {
			t.Errorf("DescribeSecret VersionIdsToStages (-want +got):\n%s", diff)
		}
		if aws.ToString(d.ARN) != arn || aws.ToString(d.Name) != name || aws.ToString(d.Description) != "access key of alice" ||
			aws.ToString(d.KmsKeyId) != "alias/keywarden" || d.DeletedDate != nil || d.CreatedDate == nil || d.LastChangedDate == nil {
			t.Errorf("DescribeSecret: %+v", d)
		}
		if tgt.deviates(smLastAccessedNever) {
			if d.LastAccessedDate != nil {
				t.Errorf("DescribeSecret (moto): LastAccessedDate %v, want none", d.LastAccessedDate)
			}
		} else if today := time.Now().UTC().Truncate(24 * time.Hour); d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(today) {
			t.Errorf("DescribeSecret: LastAccessedDate %v, want today %v", d.LastAccessedDate, today)
		}

		// The resource policy that lets alice read her key.
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + tgt.mgmt +
			`:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
		pol, err := c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(name)})
		ok(t, err, "GetResourcePolicy before any")
		if pol.ResourcePolicy != nil {
			t.Errorf("GetResourcePolicy before any: %q, want none", aws.ToString(pol.ResourcePolicy))
		}
		pp, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(name), ResourcePolicy: aws.String(policy), BlockPublicPolicy: aws.Bool(true)})
		ok(t, err, "PutResourcePolicy")
		if aws.ToString(pp.ARN) != arn || aws.ToString(pp.Name) != name {
			t.Errorf("PutResourcePolicy: ARN %q Name %q", aws.ToString(pp.ARN), aws.ToString(pp.Name))
		}
		pol, err = c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
		ok(t, err, "GetResourcePolicy")
		if aws.ToString(pol.ResourcePolicy) != policy || aws.ToString(pol.ARN) != arn {
			t.Errorf("GetResourcePolicy: %q ARN %q, want the policy put", aws.ToString(pol.ResourcePolicy), aws.ToString(pol.ARN))
		}

		_, err = c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(name), Tags: []smtypes.Tag{
			{Key: aws.String("owner"), Value: aws.String("bob")}, {Key: aws.String("rotated"), Value: aws.String("2026-11-22")}}})
		ok(t, err, "TagResource")
		d, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		ok(t, err, "DescribeSecret after TagResource")
		if got, want := tagSet(d.Tags), []string{"managed-by=keywarden", "owner=bob", "rotated=2026-11-22"}; !cmp.Equal(got, want) {
			t.Errorf("tags after TagResource: %v, want %v", got, want)
		}

		if tgt.sb != nil {
			st, found := tgt.sb.Secret(tgt.mgmt, region, name)
			cur, _ := st.Current()
			if !found || st.ARN != arn || st.Policy != policy || len(st.Versions) != 3 || cur.ID != *token(3) {
				t.Errorf("sb.Secret: found %v ARN %q policy %v, %d versions, current %q", found, st.ARN, st.Policy == policy, len(st.Versions), cur.ID)
			}
		}

		// Scheduled deletion.
		del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), RecoveryWindowInDays: aws.Int64(7)})
		ok(t, err, "DeleteSecret")
		if due := time.Now().AddDate(0, 0, 7); del.DeletionDate == nil || del.DeletionDate.Sub(due).Abs() > time.Minute || aws.ToString(del.ARN) != arn {
			t.Errorf("DeleteSecret: DeletionDate %v (want about %v) ARN %q", del.DeletionDate, due, aws.ToString(del.ARN))
		}
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		wantTyped[*smtypes.InvalidRequestException](t, err, "GetSecretValue of a secret scheduled for deletion")
		wantSecretError(t, tgt, err, "GetSecretValue of a secret scheduled for deletion", "InvalidRequestException")
		d, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		ok(t, err, "DescribeSecret of a secret scheduled for deletion")
		if d.DeletedDate == nil {
			t.Error("DescribeSecret of a secret scheduled for deletion: no DeletedDate")
		}
		_, err = put(v1, token(4))
		if tgt.deviates(smScheduledWritable) {
			ok(t, err, "PutSecretValue on a secret scheduled for deletion (moto)")
		} else {
			wantSecretError(t, tgt, err, "PutSecretValue on a secret scheduled for deletion", "InvalidRequestException")
		}
		_, err = create(v1, token(5))
		if tgt.deviates(smRecreateScheduled) {
			wantTyped[*smtypes.ResourceExistsException](t, err, "CreateSecret of a name scheduled for deletion (moto)")
		} else {
			wantTyped[*smtypes.InvalidRequestException](t, err, "CreateSecret of a name scheduled for deletion")
		}
		listed := func(planned bool) []string {
			t.Helper()
			out, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(planned),
				Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{name}}}})
			ok(t, err, "ListSecrets")
			var names []string
			for _, s := range out.SecretList {
				names = append(names, aws.ToString(s.Name))
			}
			return names
		}
		if got := listed(false); len(got) != 0 {
			t.Errorf("ListSecrets: %v, want no secret scheduled for deletion", got)
		}
		if got := listed(true); !cmp.Equal(got, []string{name}) {
			t.Errorf("ListSecrets IncludePlannedDeletion: %v, want [%s]", got, name)
		}
		_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
		ok(t, err, "DeleteSecret ForceDeleteWithoutRecovery of a secret scheduled for deletion")
		_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		wantTyped[*smtypes.ResourceNotFoundException](t, err, "DescribeSecret after ForceDeleteWithoutRecovery")
	})
}

func TestSecretListing(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.secrets(tgt.hub, "")
		users := []string{"carol", "dave", "erin"}
		for _, u := range users {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keywarden/iam-user/" + u), SecretString: aws.String("v-" + u),
				Tags: []smtypes.Tag{{Key: aws.String("managed-by"), Value: aws.String("keywarden")}}})
			ok(t, err, "CreateSecret "+u)
		}
		_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})
		ok(t, err, "CreateSecret app/db")

		var names []string
		pages := 0
		p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1),
			Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"keywarden/iam-user/"}}}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			ok(t, err, "ListSecrets page")
			if pages++; pages > 10 {
				t.Fatal("ListSecrets: more than 10 pages for 3 secrets")
			}
			if len(page.SecretList) > 1 {
				t.Errorf("ListSecrets MaxResults=1: a page of %d", len(page.SecretList))
			}
			for _, s := range page.SecretList {
				names = append(names, aws.ToString(s.Name))
				if !secretARN(region, tgt.mgmt, aws.ToString(s.Name)).MatchString(aws.ToString(s.ARN)) || tagSet(s.Tags)[0] != "managed-by=keywarden" ||
					len(s.SecretVersionsToStages) != 1 {
					t.Errorf("ListSecrets entry: %+v", s)
				}
			}
		}
		if want := []string{"keywarden/iam-user/carol", "keywarden/iam-user/dave", "keywarden/iam-user/erin"}; !cmp.Equal(slices.Sorted(slices.Values(names)), want) || pages != 3 {
			t.Errorf("ListSecrets name prefix, one per page: %v in %d pages, want each of %v once in 3 pages", names, pages, want)
		}
		all, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		ok(t, err, "ListSecrets")
		if len(all.SecretList) != 4 || all.NextToken != nil {
			t.Errorf("ListSecrets: %d secrets, NextToken %v; want 4 and none", len(all.SecretList), all.NextToken)
		}
	})
}

func TestSecretErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.secrets(tgt.hub, "")
		missing := aws.String("keywarden/iam-user/ghost")
		notFound := []struct {
			op   string
			call func() error
		}{
			{"GetSecretValue", func() error {
				_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: missing})
				return err
			}},
			{"DescribeSecret", func() error {
				_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: missing})
				return err
			}},
			{"PutSecretValue", func() error {
				_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: missing, SecretString: aws.String("v")})
				return err
			}},
			{"TagResource", func() error {
				_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: missing, Tags: []smtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
				return err
			}},
			{"PutResourcePolicy", func() error {
				_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: missing, ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
				return err
			}},
			{"GetResourcePolicy", func() error {
				_, err := c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: missing})
				return err
			}},
			{"DeleteSecret", func() error {
				_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: missing})
				return err
			}},
		}
		for _, tc := range notFound {
			err := tc.call()
			wantTyped[*smtypes.ResourceNotFoundException](t, err, tc.op+" of an unknown secret")
			wantSecretError(t, tgt, err, tc.op+" of an unknown secret", "ResourceNotFoundException")
		}
		_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: missing, ForceDeleteWithoutRecovery: aws.Bool(true)})
		ok(t, err, "DeleteSecret ForceDeleteWithoutRecovery of an unknown secret")

		name := aws.String("keywarden/iam-user/hal")
		_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name})
		ok(t, err, "CreateSecret without a value")
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		wantSecretError(t, tgt, err, "GetSecretValue of a secret without a value", "ResourceNotFoundException")
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name})
		wantSecretError(t, tgt, err, "PutSecretValue without a value", "InvalidRequestException")
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String("first")})
		ok(t, err, "PutSecretValue first value")
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		ok(t, err, "GetSecretValue first value")
		if aws.ToString(got.SecretString) != "first" || !cmp.Equal(got.VersionStages, []string{"AWSCURRENT"}) {
			t.Errorf("GetSecretValue first value: stages %v", got.VersionStages)
		}

		for _, tc := range []struct {
			op   string
			in   secretsmanager.DeleteSecretInput
			code string
		}{
			{"RecoveryWindowInDays 3", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(3)}, "InvalidParameterException"},
			{"RecoveryWindowInDays 31", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(31)}, "InvalidParameterException"},
			{"RecoveryWindowInDays with ForceDeleteWithoutRecovery", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)}, "InvalidParameterException"},
		} {
			tc.in.SecretId = name
			_, err := c.DeleteSecret(ctx, &tc.in)
			wantSecretError(t, tgt, err, "DeleteSecret "+tc.op, tc.code)
		}
		_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("replicated-here"), SecretString: aws.String("v"),
			AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String(region)}}})
		wantSecretError(t, tgt, err, "CreateSecret with a replica in its own region", "InvalidParameterException")

		// What moto lets through.
		lax := []struct {
			op, code string
			dev      deviation
			call     func() error
		}{
			{"CreateSecret named with a space and '!'", "InvalidParameterException", smNoNameValidation, func() error {
				_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad name!"), SecretString: aws.String("v")})
				return err
			}},
			{"CreateSecret with a 513-character name", "ValidationException", smNoNameValidation, func() error {
				_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(strings.Repeat("n", 513)), SecretString: aws.String("v")})
				return err
			}},
			{"CreateSecret with both SecretString and SecretBinary", "InvalidParameterException", smBothValues, func() error {
				_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("v"), SecretBinary: []byte("v")})
				return err
			}},
			{"PutResourcePolicy that is not JSON", "MalformedPolicyDocumentException", smPolicyUnchecked, func() error {
				_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: name, ResourcePolicy: aws.String("allow hal")})
				return err
			}},
			{"PutResourcePolicy public with BlockPublicPolicy", "PublicPolicyException", smPolicyUnchecked, func() error {
				_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: name, BlockPublicPolicy: aws.Bool(true),
					ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`)})
				return err
			}},
			{"ListSecrets MaxResults 101", "ValidationException", smListUnchecked, func() error {
				_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)})
				return err
			}},
		}
		for _, tc := range lax {
			err := tc.call()
			if tgt.deviates(tc.dev) {
				ok(t, err, tc.op+" (moto accepts it)")
				continue
			}
			wantSecretError(t, tgt, err, tc.op, tc.code)
		}
		_, err = c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("not-a-token")})
		if tgt.deviates(smListUnchecked) {
			if err == nil || httpStatus(err) != http.StatusInternalServerError {
				t.Errorf("ListSecrets bad NextToken (moto): %v (HTTP %d), want HTTP 500", err, httpStatus(err))
			}
		} else {
			wantTyped[*smtypes.InvalidNextTokenException](t, err, "ListSecrets bad NextToken")
		}

		// The signature is checked on Secrets Manager too.
		wrong := tgt.secrets(tgt.keyConfig(t, tgt.hubKey.AccessKeyID, "0000000000000000000000000000000000000000"), "")
		_, err = wrong.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name})
		if tgt.deviates(signaturesUnchecked) {
			ok(t, err, "DescribeSecret with a wrong secret key (moto)")
		} else {
			wantAPIError(t, err, "DescribeSecret with a wrong secret key", "InvalidSignatureException", http.StatusBadRequest)
		}
	})
}

// TestSecretAccountsAndRegions: secrets belong to an account and a region;
// a replica is readable in its region.
func TestSecretAccountsAndRegions(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		const replicaRegion, otherRegion = "eu-west-1", "ap-northeast-1"
		hub := tgt.secrets(tgt.hub, "")
		name := aws.String("keywarden/iam-user/ivy")
		created, err := hub.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("hub-value"),
			AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String(replicaRegion)}}})
		ok(t, err, "CreateSecret with a replica")
		wantStatus := smtypes.StatusTypeInProgress
		if tgt.deviates(smReplicationInSyncAtOnce) {
			wantStatus = smtypes.StatusTypeInSync
		}
		if rs := created.ReplicationStatus; len(rs) != 1 || aws.ToString(rs[0].Region) != replicaRegion || rs[0].Status != wantStatus {
			t.Errorf("CreateSecret ReplicationStatus %+v, want %s %s", rs, replicaRegion, wantStatus)
		}
		d, err := hub.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name})
		ok(t, err, "DescribeSecret")
		if rs := d.ReplicationStatus; len(rs) != 1 || aws.ToString(rs[0].Region) != replicaRegion || rs[0].Status != smtypes.StatusTypeInSync ||
			aws.ToString(rs[0].KmsKeyId) != "alias/aws/secretsmanager" {
			t.Errorf("DescribeSecret ReplicationStatus %+v, want %s InSync with the AWS managed key", rs, replicaRegion)
		}

		got, err := tgt.secrets(tgt.hub, replicaRegion).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		ok(t, err, "GetSecretValue in the replica's region")
		if aws.ToString(got.SecretString) != "hub-value" || !secretARN(replicaRegion, tgt.mgmt, *name).MatchString(aws.ToString(got.ARN)) {
			t.Errorf("GetSecretValue in the replica's region: ARN %q", aws.ToString(got.ARN))
		}
		_, err = tgt.secrets(tgt.hub, otherRegion).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		wantSecretError(t, tgt, err, "GetSecretValue in another region", "ResourceNotFoundException")

		// A member account has its own secrets.
		member := tgt.secrets(tgt.member(t, 0), "")
		_, err = member.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		wantSecretError(t, tgt, err, "GetSecretValue in a member account", "ResourceNotFoundException")
		mine, err := member.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("member-value")})
		ok(t, err, "CreateSecret in a member account")
		if !secretARN(region, tgt.members[0], *name).MatchString(aws.ToString(mine.ARN)) {
			t.Errorf("CreateSecret in a member account: ARN %q", aws.ToString(mine.ARN))
		}
		got, err = hub.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		ok(t, err, "GetSecretValue in the hub")
		if aws.ToString(got.SecretString) != "hub-value" {
			t.Error("GetSecretValue in the hub: the member's value")
		}

		// A replicated secret is deleted once its replicas are removed.
		_, err = hub.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name, ForceDeleteWithoutRecovery: aws.Bool(true)})
		wantSecretError(t, tgt, err, "DeleteSecret of a replicated secret", "InvalidParameterException")
		rm, err := hub.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: name, RemoveReplicaRegions: []string{replicaRegion}})
		ok(t, err, "RemoveRegionsFromReplication")
		if len(rm.ReplicationStatus) != 0 {
			t.Errorf("RemoveRegionsFromReplication: %+v left", rm.ReplicationStatus)
		}
		_, err = tgt.secrets(tgt.hub, replicaRegion).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
		wantSecretError(t, tgt, err, "GetSecretValue of a removed replica", "ResourceNotFoundException")
		_, err = hub.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name, ForceDeleteWithoutRecovery: aws.Bool(true)})
		ok(t, err, "DeleteSecret after removing the replica")
	})
}

// TestSecretWire looks at the bytes of a DescribeSecret answer.
func TestSecretWire(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		_, err := tgt.secrets(tgt.hub, "").CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("wire"), SecretString: aws.String("v")})
		ok(t, err, "CreateSecret")
		raw := tgt.rawSigned(t, tgt.hubKey, "secretsmanager", "application/x-amz-json-1.1", "secretsmanager.DescribeSecret", `{"SecretId":"wire"}`, nil)
		if raw.status != http.StatusOK || !strings.Contains(raw.body, `"VersionIdsToStages"`) {
			t.Fatalf("raw DescribeSecret: HTTP %d:\n%s", raw.status, raw.body)
		}
		if tgt.deviates(smDescribeExtras) {
			if !strings.Contains(raw.body, "null") || !strings.Contains(raw.body, `"SecretVersionsToStages"`) {
				t.Errorf("raw DescribeSecret (moto): no null and no SecretVersionsToStages:\n%s", raw.body)
			}
		} else if strings.Contains(raw.body, "null") || strings.Contains(raw.body, "SecretVersionsToStages") {
			t.Errorf("raw DescribeSecret: a null or a ListSecrets-only member:\n%s", raw.body)
		}
		ct := raw.header.Get("Content-Type")
		if tgt.deviates(jsonContentType) {
			if !strings.HasPrefix(ct, "text/html") {
				t.Errorf("raw DescribeSecret (moto): Content-Type %q, want text/html", ct)
			}
		} else if ct != "application/x-amz-json-1.1" {
			t.Errorf("raw DescribeSecret: Content-Type %q, want application/x-amz-json-1.1", ct)
		}
		missing := tgt.rawSigned(t, tgt.hubKey, "secretsmanager", "application/x-amz-json-1.1", "secretsmanager.DescribeSecret", `{"SecretId":"nope"}`, nil)
		wantStatus := http.StatusBadRequest
		if tgt.deviates(smNotFound404) {
			wantStatus = http.StatusNotFound
		}
		if missing.status != wantStatus || !strings.Contains(missing.body, `"__type": "ResourceNotFoundException"`) && !strings.Contains(missing.body, `"__type":"ResourceNotFoundException"`) {
			t.Errorf("raw DescribeSecret of an unknown secret: HTTP %d (want %d):\n%s", missing.status, wantStatus, missing.body)
		}
	})
}

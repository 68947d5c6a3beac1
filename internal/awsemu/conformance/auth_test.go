package conformance

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
)

// TestSignatureChecks signs calls with keys AWS would refuse. moto, with
// authentication off, accepts them all.
func TestSignatureChecks(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		hub := tgt.iam(tgt.hub)
		_, err := hub.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("gina")})
		ok(t, err, "CreateUser")
		k, err := hub.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("gina")})
		ok(t, err, "CreateAccessKey")
		id, secret := aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
		gina := tgt.iam(tgt.keyConfig(t, id, secret))
		call := func() error {
			_, err := gina.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("gina")})
			return err
		}
		refused := func(op string, err error, code string) {
			t.Helper()
			if tgt.deviates(signaturesUnchecked) {
				ok(t, err, op+" (moto checks no signature)")
				return
			}
			wantAPIError(t, err, op, code, http.StatusForbidden)
		}
		ok(t, call(), "call with an active key")

		setStatus := func(s types.StatusType) {
			t.Helper()
			_, err := hub.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("gina"), AccessKeyId: aws.String(id), Status: s})
			ok(t, err, "UpdateAccessKey "+string(s))
		}
		setStatus(types.StatusTypeInactive)
		refused("call with a deactivated key", call(), "InvalidClientTokenId")
		_, err = tgt.orgs(tgt.keyConfig(t, id, secret)).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if tgt.deviates(signaturesUnchecked) {
			ok(t, err, "Organizations call with a deactivated key (moto)")
		} else {
			wantAPIError(t, err, "Organizations call with a deactivated key", "UnrecognizedClientException", 0)
		}
		setStatus(types.StatusTypeActive)
		ok(t, call(), "call with a reactivated key")

		wrong := tgt.iam(tgt.keyConfig(t, id, "0000000000000000000000000000000000000000"))
		_, err = wrong.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("gina")})
		refused("call with a wrong secret", err, "SignatureDoesNotMatch")
		_, err = tgt.orgs(tgt.keyConfig(t, id, "0000000000000000000000000000000000000000")).
			DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if tgt.deviates(signaturesUnchecked) {
			ok(t, err, "Organizations call with a wrong secret (moto)")
		} else {
			wantAPIError(t, err, "Organizations call with a wrong secret", "InvalidSignatureException", 0)
		}

		unknown := tgt.iam(tgt.keyConfig(t, "AKIAZZZZZZZZZZZZZZZZ", secret))
		_, err = unknown.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
		refused("call with an unknown key", err, "InvalidClientTokenId")

		_, err = hub.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("gina"), AccessKeyId: aws.String(id)})
		ok(t, err, "DeleteAccessKey")
		_, err = gina.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
		refused("call with a deleted key", err, "InvalidClientTokenId")
	})
}

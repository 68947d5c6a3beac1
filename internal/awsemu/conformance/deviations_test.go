package conformance

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// deviation names one way in which moto 5.2.1 departs from AWS's documented
// behaviour. The sandbox follows AWS. A check that meets such a difference
// asks tgt.deviates(d) and then asserts moto's recorded behaviour instead of
// AWS's; it never skips.
type deviation string

// deviationInfo says what moto does, what AWS does, and where that is written.
// "ref §15.2 #n" points into the team's AWS wire reference notes, whose
// table records probes of moto 5.2.1 against the AWS API references.
type deviationInfo struct {
	moto, aws, source string
}

const (
	reportRootRowMissing       deviation = "report-root-row-missing"
	reportPasswordLastChanged  deviation = "report-password-last-changed"
	reportPasswordLastUsed     deviation = "report-password-last-used"
	reportPasswordNextRotation deviation = "report-password-next-rotation"
	reportKeyUseNotSupported   deviation = "report-key-use-not-supported"
	reportLive                 deviation = "report-live"
	reportGeneratedTimeFixed   deviation = "report-generated-time-fixed"
	maxItemsIgnored            deviation = "iam-max-items-ignored"
	isTruncatedMissing         deviation = "iam-is-truncated-missing"
	tagsInsertionOrder         deviation = "iam-tags-insertion-order"
	noInputValidation          deviation = "iam-no-input-validation"
	deleteUserWithKeys         deviation = "iam-delete-user-with-keys"
	unknownActionHTML          deviation = "query-unknown-action-500-html"
	iamIDFormat                deviation = "iam-id-format"
	fractionalTimestamps       deviation = "iam-fractional-timestamps"
	assumeRoleUnchecked        deviation = "sts-assume-role-unchecked"
	packedPolicySizeAlways     deviation = "sts-packed-policy-size"
	signaturesUnchecked        deviation = "sigv4-unchecked"
	orgsListWithoutOrg         deviation = "orgs-list-without-org"
	orgsMaxResultsUnchecked    deviation = "orgs-max-results-unchecked"
	orgsBadNextToken           deviation = "orgs-bad-next-token"
	orgsListParentsUnknown     deviation = "orgs-list-parents-unknown-child"
	jsonContentType            deviation = "json-success-content-type"
	smNotFound404              deviation = "sm-not-found-404"
	smDescribeExtras           deviation = "sm-describe-nulls"
	smDeprecatedVersionsListed deviation = "sm-deprecated-versions-listed"
	smLastAccessedNever        deviation = "sm-last-accessed-never"
	smNoNameValidation         deviation = "sm-no-name-validation"
	smBothValues               deviation = "sm-both-values-accepted"
	smPolicyUnchecked          deviation = "sm-policy-unchecked"
	smListUnchecked            deviation = "sm-list-unchecked"
	smScheduledWritable        deviation = "sm-scheduled-writable"
	smRecreateScheduled        deviation = "sm-recreate-scheduled"
	smReplicationInSyncAtOnce  deviation = "sm-replication-in-sync-at-once"
)

// deviations is the one list of known differences between moto and AWS.
var deviations = map[deviation]deviationInfo{
	reportRootRowMissing: {
		moto:   "the credential report has no <root_account> row",
		aws:    "the first data row is <root_account>,arn:aws:iam::<acct>:root,…",
		source: "ref §15.2 #1; IAM User Guide, Getting credential reports",
	},
	reportPasswordLastChanged: {
		moto:   "password_last_changed is the user's creation time for a user without a password",
		aws:    "N/A when the user has no password",
		source: "ref §15.2 #2; IAM User Guide, Getting credential reports",
	},
	reportPasswordLastUsed: {
		moto:   "password_last_used is not_supported for a user without a password",
		aws:    "N/A when the user has no password (not_supported is for root fields)",
		source: "ref §15.2 #3; IAM User Guide, Getting credential reports",
	},
	reportPasswordNextRotation: {
		moto:   "password_next_rotation is always not_supported",
		aws:    "N/A unless a password policy forces rotation",
		source: "ref §15.2 #4; IAM User Guide, Getting credential reports",
	},
	reportKeyUseNotSupported: {
		moto:   "access_key_N_last_used_region/_service are always not_supported, even after use",
		aws:    "N/A for an unused key; the region and service namespace after use",
		source: "ref §15.2 #5; IAM User Guide, Getting credential reports",
	},
	reportLive: {
		moto:   "GetCredentialReport builds the report live, so changes after generation show at once",
		aws:    "the report is a snapshot taken at generation and reused for 4 hours",
		source: "ref §15.2 #6, §4.12; IAM User Guide, Getting credential reports",
	},
	reportGeneratedTimeFixed: {
		moto:   "GeneratedTime is always 2015-02-02T20:02:02Z",
		aws:    "GeneratedTime is when the report was generated",
		source: "ref §15.2 #7; IAM API GetCredentialReport",
	},
	maxItemsIgnored: {
		moto:   "ListUsers ignores MaxItems (one page, IsTruncated=false) and accepts MaxItems=0",
		aws:    "MaxItems (1–1000) bounds the page and sets IsTruncated/Marker; MaxItems=0 → ValidationError 400",
		source: "ref §15.2 #9, §4.1; IAM API ListUsers (MaxItems range from the model)",
	},
	isTruncatedMissing: {
		moto:   "ListAccessKeys and ListAccountAliases responses have no <IsTruncated> element",
		aws:    "IsTruncated is always present (required in the output shape)",
		source: "ref §15.2 #10; botocore iam model",
	},
	tagsInsertionOrder: {
		moto:   "ListUserTags returns tags in insertion order",
		aws:    "ListUserTags returns tags sorted by key",
		source: "ref §15.2 #11, §4.9; IAM API ListUserTags",
	},
	noInputValidation: {
		moto:   "no input validation: UpdateAccessKey Status=Bogus succeeds; GetUser UserName=\"bad name!\" → NoSuchEntity",
		aws:    "ValidationError 400 for enum/pattern/length violations",
		source: "ref §15.2 #12; AWS common errors (ValidationError)",
	},
	deleteUserWithKeys: {
		moto:   "DeleteUser succeeds on a user that still has access keys",
		aws:    "DeleteConflict 409 until the keys are deleted",
		source: "ref §15.2 #15, §4.8; IAM API DeleteUser",
	},
	unknownActionHTML: {
		moto:   "an unknown Action gets HTTP 500 with an HTML body",
		aws:    "InvalidAction 400 as Query XML",
		source: "ref §15.2 #16; AWS common errors (InvalidAction)",
	},
	iamIDFormat: {
		moto:   "UserId is 20 lowercase characters; request IDs are 52 random characters",
		aws:    "UserId is AIDA… upper case; request IDs are UUIDs",
		source: "ref §15.2 #18; IAM User Guide, Unique identifiers",
	},
	fractionalTimestamps: {
		moto:   "IAM timestamps carry microseconds",
		aws:    "IAM timestamps are whole seconds",
		source: "ref §15.2 #19, §2.2; examples in the botocore iam model",
	},
	assumeRoleUnchecked: {
		moto:   "AssumeRole checks nothing: wrong or missing ExternalId, nonexistent role, 1-character RoleSessionName → 200",
		aws:    "AccessDenied 403 (trust policy, ExternalId, missing role); ValidationError 400 (RoleSessionName 2–64)",
		source: "ref §15.2 #22, §6.1; STS API AssumeRole",
	},
	packedPolicySizeAlways: {
		moto:   "AssumeRole always returns PackedPolicySize",
		aws:    "PackedPolicySize only when session policies or tags were passed",
		source: "ref §15.2 #23; STS API AssumeRole",
	},
	signaturesUnchecked: {
		moto:   "no SigV4 checks (auth off): inactive, deleted or unknown keys and wrong secrets are accepted",
		aws:    "InvalidClientTokenId 403 (unknown, deleted or inactive key), SignatureDoesNotMatch 403 (wrong secret)",
		source: "ref §15.2 #26, §2.4, §13; AWS common errors",
	},
	orgsListWithoutOrg: {
		moto:   "ListAccounts without an organization → 200 with an empty list",
		aws:    "AWSOrganizationsNotInUseException",
		source: "ref §15.2 #27, §7; Organizations API ListAccounts",
	},
	orgsMaxResultsUnchecked: {
		moto:   "Organizations accepts MaxResults above 20",
		aws:    "MaxResults 1–20, otherwise InvalidInputException",
		source: "ref §15.2 #28, §7; Organizations API (MaxResults range from the model)",
	},
	orgsBadNextToken: {
		moto:   "a bad NextToken → InvalidToken",
		aws:    "InvalidInputException (Reason INVALID_PAGINATION_TOKEN)",
		source: "ref §15.2 #29, §7; Organizations API common errors",
	},
	orgsListParentsUnknown: {
		moto:   "ListParents with an unknown account → AccountNotFoundException",
		aws:    "ChildNotFoundException",
		source: "ref §15.2 #30; Organizations API ListParents",
	},
	jsonContentType: {
		moto:   "Organizations and Secrets Manager successes have Content-Type text/html; charset=utf-8",
		aws:    "Content-Type application/x-amz-json-1.1",
		source: "ref §15.2 #31, §3.2",
	},
	smNotFound404: {
		moto:   "Secrets Manager ResourceNotFoundException (and InvalidRequestException for a VersionId/VersionStage mismatch) come with HTTP 404",
		aws:    "HTTP 400 for every client error of the JSON protocol",
		source: "ref §15.2 #32, §3.3, §8",
	},
	smDescribeExtras: {
		moto:   "DescribeSecret sends null members (LastAccessedDate, NextRotationDate, DeletedDate) and ListSecrets' SecretVersionsToStages",
		aws:    "absent members are left out; SecretVersionsToStages belongs to ListSecrets entries only",
		source: "ref §15.2 #33, §3.2; Secrets Manager API DescribeSecret (response elements)",
	},
	smDeprecatedVersionsListed: {
		moto:   "VersionIdsToStages keeps a version that lost its last staging label, with an empty list",
		aws:    "VersionIdsToStages lists the versions that have staging labels; the others are deprecated",
		source: "Secrets Manager API DescribeSecret (VersionIdsToStages)",
	},
	smLastAccessedNever: {
		moto:   "DescribeSecret never has a LastAccessedDate, even after GetSecretValue",
		aws:    "LastAccessedDate is the date (day) of the last read in the region; left out only before the first",
		source: "Secrets Manager API DescribeSecret (LastAccessedDate)",
	},
	smNoNameValidation: {
		moto:   "CreateSecret accepts any name: \"bad name!\", 513 characters",
		aws:    "names are 1-512 ASCII letters, digits and /_+=.@- (ValidationException for the length, InvalidParameterException for the characters)",
		source: "ref §8; Secrets Manager API CreateSecret (Name), botocore model NameType",
	},
	smBothValues: {
		moto:   "CreateSecret accepts SecretString and SecretBinary together",
		aws:    "either SecretString or SecretBinary, not both: InvalidParameterException",
		source: "ref §8; Secrets Manager API CreateSecret (SecretBinary, SecretString)",
	},
	smPolicyUnchecked: {
		moto:   "PutResourcePolicy stores any text and ignores BlockPublicPolicy",
		aws:    "MalformedPolicyDocumentException for a policy with syntax errors; PublicPolicyException when BlockPublicPolicy meets a policy open to everyone",
		source: "Secrets Manager API PutResourcePolicy (errors, BlockPublicPolicy)",
	},
	smListUnchecked: {
		moto:   "ListSecrets accepts MaxResults above 100; a bad NextToken gets HTTP 500 with an HTML body",
		aws:    "MaxResults 1-100 (ValidationException); a bad NextToken gets InvalidNextTokenException",
		source: "Secrets Manager API ListSecrets; botocore model MaxResultsType and ListSecrets errors",
	},
	smScheduledWritable: {
		moto:   "PutSecretValue adds a version to a secret scheduled for deletion",
		aws:    "InvalidRequestException: the secret is scheduled for deletion",
		source: "ref §8; botocore model InvalidRequestException (first cause: the secret is scheduled for deletion)",
	},
	smRecreateScheduled: {
		moto:   "CreateSecret of a name scheduled for deletion gets ResourceExistsException",
		aws:    "InvalidRequestException (a secret with this name is already scheduled for deletion)",
		source: "botocore model InvalidRequestException; AWS behaviour reported in localstack/localstack#6530",
	},
	smReplicationInSyncAtOnce: {
		moto:   "CreateSecret reports a new replica InSync (\"Replication succeeded\") at once",
		aws:    "CreateSecret reports a new replica InProgress; DescribeSecret shows InSync once it is made",
		source: "Secrets Manager API ReplicationStatusType (InProgress: Secrets Manager is creating the replica)",
	},
}

// deviates reports whether tgt shows deviation d: moto shows them all, the
// sandbox none. An identifier missing from the table is a bug in the suite.
func (tgt *target) deviates(d deviation) bool {
	if _, ok := deviations[d]; !ok {
		panic(fmt.Sprintf("deviation %q is not in the table", d))
	}
	return tgt.deviating
}

// TestDeviationTable keeps the table complete; -v prints it.
func TestDeviationTable(t *testing.T) {
	ids := make([]string, 0, len(deviations))
	for d := range deviations {
		ids = append(ids, string(d))
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		info := deviations[deviation(id)]
		if info.moto == "" || info.aws == "" || info.source == "" {
			t.Errorf("deviation %s: moto, aws and source must all be filled in", id)
		}
		fmt.Fprintf(&b, "%s\n  moto:   %s\n  AWS:    %s\n  source: %s\n", id, info.moto, info.aws, info.source)
	}
	t.Logf("moto 5.2.1 deviations from AWS (%d):\n%s", len(ids), b.String())
}

package awsx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// Hub is one run's identity in the hub account: who the caller is (looked up
// once), the access key it signs with, the run's ID, and how to act in every
// account through one assume-role cache. Everything a run does in AWS goes
// through one Hub, so that a run has one ID in CloudTrail and in the journal.
type Hub struct {
	// Base is the caller's own configuration.
	Base aws.Config
	// CallerARN is the caller's ARN, as GetCallerIdentity returns it.
	CallerARN string
	// Account is the caller's account ID.
	Account string
	// Partition is the caller's partition: aws, aws-us-gov or aws-cn.
	Partition string
	// KeyID is the access key the caller signs with, never acted on.
	KeyID string
	// RunID names the run in session names, logs and the journal.
	RunID string
	// ClockSkew is how far AWS's clock is ahead of this machine's
	// (negative: behind), from the Date of the GetCallerIdentity answer;
	// zero when AWS sent none. The SDK signs through a skewed clock, so
	// only this tells that key ages and last uses are judged wrongly.
	ClockSkew time.Duration

	hubViaRole bool
	assumer    *Assumer
	actor      *Assumer
	instrument func(Role) func(*middleware.Stack) error
	limits     *accountLimits
}

// Role names the identity a call is made as: the hub's own, the spoke's
// read role (scan), or the spoke's act role (deactivate, delete, rotate).
type Role string

const (
	RoleHub  Role = "hub"
	RoleRead Role = "read"
	RoleAct  Role = "act"
)

// HubOptions configure a Hub.
type HubOptions struct {
	// Command names what the run does (scan, plan, apply, undo, export),
	// for the role session name.
	Command  string
	RoleName string // the spoke's read role, e.g. KeywardenSpoke
	// ActRoleName is the spoke's act role, e.g. KeywardenSpokeAct; ""
	// means RoleName (one role that both reads and acts).
	ActRoleName string
	ExternalID  string // sts:ExternalId the roles require, "" for none
	// HubViaRole reads and acts in the caller's own account through the
	// role too, instead of with the caller's credentials.
	HubViaRole bool
	// RunID, when set, is the run's ID; otherwise a new one is made.
	RunID string
	// Instrument, when set, gives the API option added to every client
	// made for a spoke role (tests record the operations each role calls);
	// the hub's own clients take their options from the base config.
	Instrument func(Role) func(*middleware.Stack) error
}

// NewHub identifies the caller (one GetCallerIdentity call) and prepares
// the assume-role cache. Its errors say what to run to fix the credentials.
func NewHub(ctx context.Context, base aws.Config, opts HubOptions) (*Hub, error) {
	who, err := sts.NewFromConfig(base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, ExplainCredentialsError(err)
	}
	creds, err := base.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, ExplainCredentialsError(err)
	}
	h := &Hub{
		Base: base, CallerARN: aws.ToString(who.Arn), Account: aws.ToString(who.Account),
		KeyID: creds.AccessKeyID, RunID: opts.RunID, hubViaRole: opts.HubViaRole, instrument: opts.Instrument,
		limits: newAccountLimits(),
	}
	h.Partition = PartitionOf(h.CallerARN)
	if server, ok := awsmw.GetServerTime(who.ResultMetadata); ok {
		at, ok := awsmw.GetResponseAt(who.ResultMetadata)
		if !ok {
			at = time.Now()
		}
		// The Date header has whole seconds.
		h.ClockSkew = server.Sub(at.Truncate(time.Second))
	}
	if h.RunID == "" {
		h.RunID = NewRunID(time.Now())
	}
	h.assumer = NewAssumer(base, AssumerOptions{
		RoleName: opts.RoleName, ExternalID: opts.ExternalID, Partition: h.Partition,
		SessionName: SessionName(opts.Command, h.RunID),
	})
	h.actor = h.assumer
	if opts.ActRoleName != "" && opts.ActRoleName != opts.RoleName {
		h.actor = NewAssumer(base, AssumerOptions{
			RoleName: opts.ActRoleName, ExternalID: opts.ExternalID, Partition: h.Partition,
			SessionName: SessionName(opts.Command, h.RunID),
		})
	}
	return h, nil
}

// Config returns the configuration that reads an account: the caller's own
// for its account (unless HubViaRole), else the read role's. When counter
// is not nil it counts the calls made with it.
func (h *Hub) Config(accountID string, counter *CallCounter) aws.Config {
	return h.config(h.assumer, RoleRead, accountID, counter)
}

// ActConfig returns the configuration that changes keys and stores rotated
// ones in an account: the caller's own for its account (unless
// HubViaRole), else the act role's.
func (h *Hub) ActConfig(accountID string, counter *CallCounter) aws.Config {
	return h.config(h.actor, RoleAct, accountID, counter)
}

// config is an account's configuration as role. Every configuration of an
// account, read or act, shares one adaptive rate limit per service, which
// learns from the account's throttling errors (accountLimits).
func (h *Hub) config(a *Assumer, role Role, accountID string, counter *CallCounter) aws.Config {
	var cfg aws.Config
	if accountID == h.Account && !h.hubViaRole {
		cfg = h.Base.Copy()
		if counter != nil {
			cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
		}
	} else {
		cfg = a.Config(accountID, counter)
	}
	if h.limits != nil {
		cfg.APIOptions = append(cfg.APIOptions, h.limits.apiOption(accountID))
	}
	if h.instrument != nil {
		cfg.APIOptions = append(cfg.APIOptions, h.instrument(role))
	}
	return cfg
}

// RoleARN is the read role assumed in an account.
func (h *Hub) RoleARN(accountID string) string { return h.assumer.RoleARN(accountID) }

// ActRoleARN is the act role assumed in an account.
func (h *Hub) ActRoleARN(accountID string) string { return h.actor.RoleARN(accountID) }

// ViaRole says whether an account is reached through the spoke roles
// rather than with the caller's own credentials.
func (h *Hub) ViaRole(accountID string) bool { return accountID != h.Account || h.hubViaRole }

// PartitionOf is the partition of an ARN (aws, aws-us-gov, aws-cn); "aws"
// when s is not an ARN.
func PartitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// NewRunID names one run: its start time and a random suffix.
func NewRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ErrNoCredentials is wrapped by the error of a run that found no usable
// AWS credentials.
var ErrNoCredentials = errors.New("no usable AWS credentials")

// ExplainCredentialsError turns the SDK's error for missing, expired or
// refused credentials into one message that says what to run.
func ExplainCredentialsError(err error) error {
	msg := err.Error()
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "sso") && (strings.Contains(lower, "token") || strings.Contains(lower, "expired") || strings.Contains(lower, "refresh")):
		return fmt.Errorf("%w: the AWS SSO session is not logged in or has expired; run 'aws sso login' (with --profile PROFILE for the profile keywarden uses)", ErrNoCredentials)
	case strings.Contains(lower, "failed to refresh cached credentials") || strings.Contains(lower, "no ec2 imds role found") ||
		strings.Contains(lower, "failed to retrieve credentials") || strings.Contains(lower, "anonymous credentials"):
		return fmt.Errorf("%w: none were found in the environment, the shared config or the instance; set AWS_PROFILE or --profile, run 'aws configure' or 'aws sso login', or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", ErrNoCredentials)
	case strings.Contains(msg, "InvalidClientTokenId") || strings.Contains(msg, "SignatureDoesNotMatch") ||
		strings.Contains(msg, "ExpiredToken") || strings.Contains(msg, "UnrecognizedClientException"):
		return fmt.Errorf("%w: AWS refused them (%s); check the key or renew the session ('aws sso login', or new temporary credentials)", ErrNoCredentials, apiCode(msg))
	}
	return fmt.Errorf("identify the AWS caller (check your AWS credentials, --profile and AWS_ENDPOINT_URL): %w", err)
}

// apiCode picks the AWS error code out of an SDK message.
func apiCode(msg string) string {
	for _, c := range []string{"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	return "refused"
}

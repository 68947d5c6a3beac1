// Package awsx builds AWS configurations: the caller's own from the standard
// AWS configuration chain (profiles, SSO, environment, AWS_ENDPOINT_URL), and
// one per member account through an assume-role credentials cache. It sets
// the retry behaviour every AWS call of keywarden shares, and (through the
// Hub) an adaptive rate limit per account and service.
package awsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// DefaultRegion is used when no region is configured: IAM, STS and
// Organizations are global, so any region works for them.
const DefaultRegion = "us-east-1"

// Options tune how keywarden talks to AWS.
type Options struct {
	Profile string // AWS_PROFILE when empty
	Region  string // the configured region, else DefaultRegion
	// MaxAttempts is how often one call is tried before its error is
	// returned; throttling and 5xx errors are retried with jittered
	// exponential backoff. Zero means DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts; zero means 20 s.
	MaxBackoff time.Duration
	// Endpoint, when set, sends every call there (the sandbox); it wins
	// over AWS_ENDPOINT_URL.
	Endpoint string
	// Credentials, when set, replace the credential chain.
	Credentials aws.CredentialsProvider
	// Logger receives the SDK's own log lines at debug level; nil drops
	// them. They never go to stderr raw: they are not for users.
	Logger *slog.Logger
	// APIOptions are added to every client made from the configuration
	// (tests record the calls).
	APIOptions []func(*middleware.Stack) error
}

// DefaultMaxAttempts is higher than the SDK's 3: IAM throttles accounts
// scanned in bulk, and a scan would rather wait than lose an account.
const DefaultMaxAttempts = 8

// Load returns the caller's configuration from the standard chain.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	var loaders []func(*config.LoadOptions) error
	if opts.Profile != "" {
		loaders = append(loaders, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		loaders = append(loaders, config.WithRegion(opts.Region))
	}
	if opts.Endpoint != "" {
		loaders = append(loaders, config.WithBaseEndpoint(opts.Endpoint))
	}
	if opts.Credentials != nil {
		loaders = append(loaders, config.WithCredentialsProvider(opts.Credentials))
	}
	loaders = append(loaders, config.WithRetryer(NewRetryer(opts)), config.WithHTTPClient(newHTTPClient()),
		config.WithLogger(sdkLogger(opts.Logger)))
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return aws.Config{}, fmt.Errorf("%w: the AWS profile %q is not in the shared config files; check --profile and AWS_PROFILE, or run 'aws configure --profile %s'",
			ErrNoCredentials, noProfile.Profile, noProfile.Profile)
	}
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	cfg.APIOptions = append(cfg.APIOptions, opts.APIOptions...)
	return cfg, nil
}

// sdkLogger sends the SDK's log lines (such as checksum warnings) to log
// at debug level.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if log != nil {
			log.Debug("aws sdk: "+fmt.Sprintf(format, v...), "class", string(c))
		}
	})
}

// newHTTPClient keeps enough idle connections for a scan's parallel calls:
// the SDK's default of ten per host made a scan open a new connection (a
// TLS handshake, against AWS) for about one call in four.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 512
		tr.MaxIdleConnsPerHost = 256
	})
}

// NewRetryer returns the retryer constructor keywarden uses: the SDK's
// standard retryer (throttling codes and 5xx retried, jittered exponential
// backoff) with more attempts and without the client-side retry quota, which
// would otherwise fail calls outright during a burst of throttling.
func NewRetryer(opts Options) func() aws.Retryer {
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	backoff := opts.MaxBackoff
	if backoff <= 0 {
		backoff = 20 * time.Second
	}
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = backoff
			o.RateLimiter = ratelimit.None
		})
	}
}

// sessionNameUnsafe matches what RoleSessionName does not allow.
var sessionNameUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName makes the RoleSessionName keywarden uses, so that CloudTrail
// in each member account shows who acted and in which run:
// keywarden-<command>-<run ID>, at most 64 characters.
func SessionName(command, runID string) string {
	name := sessionNameUnsafe.ReplaceAllString("keywarden-"+command+"-"+runID, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// Assumer hands out configurations that act inside member accounts by
// assuming a role there. Credentials are cached per account and refreshed
// before they expire.
type Assumer struct {
	base        aws.Config
	stsClient   *sts.Client
	partition   string
	roleName    string
	externalID  string
	sessionName string
	duration    time.Duration

	mu        sync.Mutex
	providers map[string]aws.CredentialsProvider
}

// AssumerOptions configure an Assumer.
type AssumerOptions struct {
	RoleName    string // the role in every member account, e.g. KeywardenSpoke
	ExternalID  string // sts:ExternalId the role's trust requires, "" for none
	SessionName string // from SessionName
	// Duration of each session; zero means 15 minutes, renewed as needed.
	Duration time.Duration
	// Partition of the role ARNs (aws, aws-us-gov, aws-cn); "" means aws.
	Partition string
}

// NewAssumer returns an Assumer that assumes roles with base's credentials.
func NewAssumer(base aws.Config, opts AssumerOptions) *Assumer {
	return &Assumer{
		base: base, stsClient: sts.NewFromConfig(base),
		partition: opts.Partition, roleName: opts.RoleName, externalID: opts.ExternalID,
		sessionName: opts.SessionName, duration: opts.Duration,
		providers: make(map[string]aws.CredentialsProvider),
	}
}

// RoleARN is the role assumed in accountID.
func (a *Assumer) RoleARN(accountID string) string {
	partition := a.partition
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":iam::" + accountID + ":role/" + a.roleName
}

// Config returns a configuration whose credentials come from assuming the
// role in accountID; nothing is called until the first request needs them.
// The session is shared by every configuration of the same account. When
// counter is not nil it counts the calls of clients made from the
// configuration, and the AssumeRole calls made for the account.
func (a *Assumer) Config(accountID string, counter *CallCounter) aws.Config {
	cfg := a.base.Copy()
	cfg.Credentials = a.provider(accountID, counter)
	if counter != nil {
		cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
	}
	return cfg
}

func (a *Assumer) provider(accountID string, counter *CallCounter) aws.CredentialsProvider {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.providers[accountID]; ok {
		return p
	}
	client := a.stsClient
	if counter != nil {
		client = sts.NewFromConfig(a.base, func(o *sts.Options) { o.APIOptions = append(o.APIOptions, counter.APIOption) })
	}
	p := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, a.RoleARN(accountID), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = a.sessionName
		if a.externalID != "" {
			o.ExternalID = aws.String(a.externalID)
		}
		if a.duration > 0 {
			o.Duration = a.duration
		}
	}))
	a.providers[accountID] = p
	return p
}

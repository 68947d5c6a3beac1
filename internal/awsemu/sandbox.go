// Package awsemu is a local AWS sandbox: an HTTP server that speaks the real
// AWS wire protocols (IAM and STS over the Query protocol, Organizations and
// Secrets Manager over JSON 1.1) for the operations keywarden uses, so that
// the AWS SDK for Go v2, the AWS CLI and boto3 can talk to it through
// AWS_ENDPOINT_URL.
//
// It holds many accounts, each with its own IAM and its own secrets in each
// region; verifies SigV4 with the keys it issued (a deactivated key stops
// working); issues temporary credentials through AssumeRole that act inside
// the role's account; keeps a movable clock; and injects faults per account
// and operation.
//
// It imports nothing from the rest of keywarden, so that a bug shared by
// client and sandbox cannot make a test pass.
package awsemu

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultRegion is the region the sandbox reports when a request names none.
const DefaultRegion = "us-east-1"

// Options configure a Sandbox. The zero value is usable.
type Options struct {
	// Clock drives every timestamp; nil means a new clock following wall time.
	Clock *Clock
	// Seed makes generated identifiers reproducible.
	Seed uint64
	// SkipSignatureCheck accepts any signature (the key must still exist and
	// be active). Only for benchmarks that measure something else.
	SkipSignatureCheck bool
	// ReportInProgressPolls is how many further GenerateCredentialReport
	// calls answer INPROGRESS (and GetCredentialReport ReportInProgress)
	// after one answered STARTED. Zero makes the report ready at once, as moto does.
	ReportInProgressPolls int
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
	// Now is the real time used for signature skew checks; nil means time.Now.
	Now func() time.Time
	// LastUsedDelay is how long after a use of an access key the use shows
	// in GetAccessKeyLastUsed, the credential report and AccessKey: AWS
	// reports last use minutes to hours late. A use at time t shows once the
	// sandbox clock reaches t + LastUsedDelay; until then the previous use
	// (or none) shows. Zero shows a use at once. SetLastUsedDelay changes it.
	LastUsedDelay time.Duration
	// ControlToken is the bearer token that changes to the sandbox over
	// HTTP (POST /_sandbox/…, such as moving the clock) must carry. Empty:
	// nothing can be changed over HTTP; Go code uses Clock() instead.
	ControlToken string
}

// Sandbox is the emulated AWS. It is an http.Handler.
type Sandbox struct {
	opts  Options
	clock *Clock
	log   *slog.Logger

	mu       sync.Mutex
	ids      *idSource
	accounts map[string]*account
	keys     map[string]*accessKey // long-term keys by ID, across accounts
	sessions map[string]*session   // temporary keys by ID
	org      *organization

	lastUsedDelay time.Duration // see Options.LastUsedDelay

	faults faultSet
	stats  stats
}

// New returns an empty sandbox: no accounts, no organization.
func New(opts Options) *Sandbox {
	clock := opts.Clock
	if clock == nil {
		clock = NewClock()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sandbox{
		opts:     opts,
		clock:    clock,
		log:      log,
		ids:      newIDSource(opts.Seed),
		accounts: make(map[string]*account),
		keys:     make(map[string]*accessKey),
		sessions: make(map[string]*session),

		lastUsedDelay: opts.LastUsedDelay,
	}
	s.faults.init(opts.Seed)
	return s
}

// Clock returns the sandbox clock.
func (s *Sandbox) Clock() *Clock { return s.clock }

// SetLastUsedDelay changes Options.LastUsedDelay from now on. Uses already
// shown stay shown; uses not yet shown show once the new delay has passed.
func (s *Sandbox) SetLastUsedDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUsedDelay = d
}

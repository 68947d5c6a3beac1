package awsemu

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Fault makes the sandbox misbehave the way AWS does under load or
// misconfiguration. A fault applies to the calls that act in Account (for
// AssumeRole: the account of the role) and to Operation; empty means any.
type Fault struct {
	Account   string // 12-digit account ID, "" for every account
	Operation string // e.g. "ListAccessKeys" or "iam:ListAccessKeys", "" for every operation

	Latency time.Duration // added to every matching call
	Jitter  time.Duration // plus a uniform random part in [0, Jitter)

	// ThrottleRate is a token bucket, refilled at this many calls per second
	// (real time) per account, holding ThrottleBurst tokens; a call finding
	// it empty gets the service's throttling error. Zero disables it.
	ThrottleRate  float64
	ThrottleBurst int

	ErrorRate float64 // fraction of calls answered with a 5xx fault

	// DenyAssumeRole makes AssumeRole into the account fail with AccessDenied,
	// as when a spoke role is missing or does not trust the hub.
	DenyAssumeRole bool
	// Deny answers AccessDenied to the matching operations.
	Deny bool

	// Hold, when set, makes matching calls wait until the channel is closed
	// (or the request is cancelled) before they run: a test can stop a client
	// mid-way through a series of calls.
	Hold <-chan struct{}
}

type faultSet struct {
	mu      sync.Mutex
	rules   []Fault
	buckets map[bucketKey]*tokenBucket
	rng     *rand.Rand
}

type bucketKey struct {
	rule    int
	account string
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (f *faultSet) init(seed uint64) {
	f.rng = rand.New(rand.NewPCG(seed^0x5eed, seed+1))
	f.buckets = make(map[bucketKey]*tokenBucket)
}

// SetFaults replaces the active faults.
func (s *Sandbox) SetFaults(faults ...Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rules = append([]Fault(nil), faults...)
	s.faults.buckets = make(map[bucketKey]*tokenBucket)
}

// AddFault adds one fault to the active ones.
func (s *Sandbox) AddFault(f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rules = append(s.faults.rules, f)
}

// faultOutcome is what the matching faults decided for one call.
type faultOutcome struct {
	delay     time.Duration
	throttled bool
	fail      bool
	deny      bool
	denyRole  bool
	holds     []<-chan struct{}
}

func (f Fault) matches(service, op, accountID string) bool {
	if f.Account != "" && f.Account != accountID {
		return false
	}
	if f.Operation == "" {
		return true
	}
	if svc, name, ok := strings.Cut(f.Operation, ":"); ok {
		return strings.EqualFold(svc, service) && name == op
	}
	return f.Operation == op
}

func (fs *faultSet) evaluate(service, op, accountID string, now time.Time) faultOutcome {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out faultOutcome
	for i, f := range fs.rules {
		if !f.matches(service, op, accountID) {
			continue
		}
		out.delay += f.Latency
		if f.Jitter > 0 {
			out.delay += time.Duration(fs.rng.Int64N(int64(f.Jitter)))
		}
		if f.Hold != nil {
			out.holds = append(out.holds, f.Hold)
		}
		if f.ThrottleRate > 0 && !fs.take(bucketKey{i, accountID}, f, now) {
			out.throttled = true
		}
		if f.ErrorRate > 0 && fs.rng.Float64() < f.ErrorRate {
			out.fail = true
		}
		out.deny = out.deny || f.Deny
		out.denyRole = out.denyRole || f.DenyAssumeRole
	}
	return out
}

func (fs *faultSet) take(key bucketKey, f Fault, now time.Time) bool {
	burst := float64(f.ThrottleBurst)
	if burst < 1 {
		burst = 1
	}
	b := fs.buckets[key]
	if b == nil {
		b = &tokenBucket{tokens: burst, last: now}
		fs.buckets[key] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * f.ThrottleRate
	if b.tokens > burst {
		b.tokens = burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// wait sleeps for the outcome's delay and holds, or until ctx ends.
func (o faultOutcome) wait(ctx context.Context) error {
	for _, h := range o.holds {
		select {
		case <-h:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if o.delay <= 0 {
		return nil
	}
	t := time.NewTimer(o.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

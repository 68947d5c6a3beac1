package awsx

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/time/rate"
)

// accountLimits keep a client-side rate limit per account and service,
// shared by every client that acts there. AWS throttles each account's
// calls to a service (IAM's quota is per account), so a scan that reads
// many accounts at once must pace each account, not the run: without it
// every throttled call waits out the retryer's growing backoff, and a
// throttled account took 2.5 times what its quota allows.
type accountLimits struct {
	mu     sync.Mutex
	limits map[limitKey]*adaptiveLimit
	now    func() time.Time
}

type limitKey struct{ account, service string }

func newAccountLimits() *accountLimits {
	return &accountLimits{limits: make(map[limitKey]*adaptiveLimit), now: time.Now}
}

func (l *accountLimits) limit(account, service string) *adaptiveLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limitKey{account, service}
	a := l.limits[k]
	if a == nil {
		a = newAdaptiveLimit(l.now)
		l.limits[k] = a
	}
	return a
}

// apiOption installs the account's limit in a client's middleware stack,
// right after the retry middleware, so that every attempt waits for its
// turn and every throttling error slows the account down. A throttled
// attempt is sent again at its next turn, up to limitResends times,
// before the retryer sees the error: the limit has just been lowered, so
// the pacing takes the place of the retryer's backoff, which is meant for
// clients that do not pace themselves and would hold the call for up to
// seconds.
func (l *accountLimits) apiOption(account string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		m := middleware.FinalizeMiddlewareFunc("KeywardenAccountRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				a := l.limit(account, awsmiddleware.GetServiceID(ctx))
				req, resendable := in.Request.(*smithyhttp.Request)
				for try := 0; ; try++ {
					sent, err := a.wait(ctx)
					if err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
					attempt := in
					if resendable {
						r := req.Clone()
						if err := r.RewindStream(); err != nil {
							resendable = false
						}
						attempt.Request = r
					}
					out, md, err := next.HandleFinalize(ctx, attempt)
					if !a.observe(sent, err) || !resendable || try == limitResends {
						return out, md, err
					}
				}
			})
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(m, "Retry", middleware.After)
		}
		return stack.Finalize.Add(m, middleware.After)
	}
}

// The adaptive limit's tuning (AIMD, as TCP's congestion control).
const (
	// limitCut is what a throttling error multiplies the rate by (0.8
	// rather than TCP's 0.5: the service's quota does not move, and a
	// throttled call costs one turn).
	limitCut = 0.8
	// limitStep is what each call that is not throttled adds to the rate,
	// in calls a second: at 20 calls a second it grows by 10 a second. A
	// throttled call costs little more than one turn (limitResends), so
	// the limit may probe for room quickly.
	limitStep = 0.5
	// limitFloor is the least rate, in calls a second.
	limitFloor = 0.5
	// limitResends is how often a throttled attempt is sent again at its
	// next turn before the retryer handles it.
	limitResends = 3
)

// adaptiveLimit is one account's limit for one service: no limit until
// the first throttling error, then the rate the calls of the second
// before it achieved; every later throttling error of a call sent after
// the last cut multiplies it by limitCut (the calls already sent when it
// was cut tell nothing new), every success adds limitStep. Calls are spaced evenly (a burst of one): the service's own
// burst is left for the throttled retries.
type adaptiveLimit struct {
	mu      sync.Mutex
	now     func() time.Time
	lim     *rate.Limiter
	limited bool
	rate    float64
	cutAt   time.Time
	recent  []time.Time // the starts of the calls of the last second, while not limited
}

func newAdaptiveLimit(now func() time.Time) *adaptiveLimit {
	return &adaptiveLimit{now: now, lim: rate.NewLimiter(rate.Inf, 1)}
}

// wait waits for the call's turn, and says when that was.
func (a *adaptiveLimit) wait(ctx context.Context) (time.Time, error) {
	a.mu.Lock()
	if !a.limited {
		now := a.now()
		a.recent = append(trimBefore(a.recent, now.Add(-time.Second)), now)
	}
	a.mu.Unlock()
	if err := a.lim.Wait(ctx); err != nil {
		return time.Time{}, err
	}
	return a.now(), nil
}

// observe learns from the outcome of a call sent at sent, and says
// whether it was throttled.
func (a *adaptiveLimit) observe(sent time.Time, err error) (throttled bool) {
	throttled = err != nil && throttleCodes.IsErrorThrottle(err) == aws.TrueTernary
	if err != nil && !throttled {
		// Neither a sign of room nor of a limit.
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	switch {
	case throttled && !a.limited:
		a.limited = true
		a.rate = max(limitFloor, float64(len(trimBefore(a.recent, now.Add(-time.Second)))))
		a.recent = nil
		a.cutAt = now
	case throttled && sent.After(a.cutAt):
		a.rate = max(limitFloor, a.rate*limitCut)
		a.cutAt = now
	case !throttled && a.limited:
		a.rate += limitStep
	default:
		return throttled
	}
	a.lim.SetLimitAt(now, rate.Limit(a.rate))
	return throttled
}

// trimBefore drops the times before t from the front of ts.
func trimBefore(ts []time.Time, t time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(t) {
		i++
	}
	return ts[i:]
}

// throttleCodes are the error codes AWS services throttle with.
var throttleCodes = retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}

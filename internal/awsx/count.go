package awsx

import (
	"context"
	"sync/atomic"

	"github.com/aws/smithy-go/middleware"
)

// CallCounter counts the HTTP requests a set of clients sends, retries
// included, so that a scan can report the API calls it cost.
type CallCounter struct{ n atomic.Int64 }

// Calls returns the requests counted so far.
func (c *CallCounter) Calls() int {
	if c == nil {
		return 0
	}
	return int(c.n.Load())
}

// APIOption installs the counter in a client's middleware stack, after the
// retry middleware so that every attempt counts.
func (c *CallCounter) APIOption(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("KeywardenCallCounter",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.n.Add(1)
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

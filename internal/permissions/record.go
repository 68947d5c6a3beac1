package permissions

import (
	"context"
	"errors"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/keywarden/keywarden/internal/awsx"
)

// Recorder notes every operation clients call, by the role they call it
// as, and every call AWS denied. Tests install it to prove that the list
// above is what the code calls.
type Recorder struct {
	mu     sync.Mutex
	calls  map[awsx.Role]map[Operation]bool
	denied []string
}

const recorderID = "KeywardenPermissionsRecorder"

// Option records the calls of a client as role's. A later Option on the
// same stack replaces an earlier one, so that a spoke role's option wins
// over the hub's in a configuration copied from the hub's.
func (r *Recorder) Option(role awsx.Role) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		_, _ = stack.Initialize.Remove(recorderID) // absent the first time
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(recorderID,
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := Operation{Service: awsmiddleware.GetServiceID(ctx), Name: awsmiddleware.GetOperationName(ctx)}
				r.add(role, op)
				out, md, err := next.HandleInitialize(ctx, in)
				if isDenied(err) {
					r.deny(role, op, err)
				}
				return out, md, err
			}), middleware.After)
	}
}

// Instrument is the recorder as awsx.HubOptions.Instrument.
func (r *Recorder) Instrument(role awsx.Role) func(*middleware.Stack) error { return r.Option(role) }

func (r *Recorder) add(role awsx.Role, op Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[awsx.Role]map[Operation]bool{}
	}
	if r.calls[role] == nil {
		r.calls[role] = map[Operation]bool{}
	}
	r.calls[role][op] = true
}

func (r *Recorder) deny(role awsx.Role, op Operation, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.denied = append(r.denied, string(role)+" "+op.String()+": "+err.Error())
}

// Calls returns the operations recorded for role, sorted.
func (r *Recorder) Calls(role awsx.Role) []Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Operation
	for op := range r.calls[role] {
		out = append(out, op)
	}
	return sortOps(out)
}

// Denied returns the calls AWS refused for lack of permission.
func (r *Recorder) Denied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.denied...)
}

// isDenied says whether err is AWS refusing a call for lack of permission:
// its code, or HTTP 403 (moto's refusals of IAM and STS calls reach the
// SDK without a code it can read).
func isDenied(err error) bool {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 403 {
		return true
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	code := api.ErrorCode()
	return strings.HasPrefix(code, "AccessDenied") || code == "UnauthorizedOperation" || code == "AuthorizationError"
}

// Package lambda runs keywarden as an AWS Lambda function on a schedule:
// the same binary, started by the provided.al2023 runtime when
// AWS_LAMBDA_RUNTIME_API is set. What a run does comes from the policy's
// automation section (report or enforce); its state is in the state store
// KEYWARDEN_STATE names, shared with the CLI (docs/lambda.md).
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/smithy-go/middleware"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

// Event is what triggers a run: an EventBridge scheduled event, or a manual
// invocation that may ask for a report-only run with {"mode": "report"}.
type Event struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Mode       string `json:"mode"`
}

// Summary is one run, logged as one record and returned as the response.
type Summary = engine.RunSummary

// Options set up the handler; the zero value reads the real environment.
type Options struct {
	Getenv func(string) string
	// PackageDir is where the function's files are ($LAMBDA_TASK_ROOT).
	PackageDir string
	// AWS tunes the AWS configuration (tests point it at the sandbox).
	AWS            awsx.Options
	Log            *slog.Logger
	ProductVersion string
	// Instrument is given to the run's hub (awsx.HubOptions.Instrument).
	Instrument func(awsx.Role) func(*middleware.Stack) error
	// Reserve is the time kept before the deadline for the notifications
	// and the summary; zero means a minute, or a fifth of the time when
	// less than five minutes are given.
	Reserve time.Duration
}

// Start runs the handler in the Lambda runtime; it does not return.
func Start(version string) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	opts := Options{Getenv: os.Getenv, PackageDir: os.Getenv("LAMBDA_TASK_ROOT"), Log: log, ProductVersion: version}
	awslambda.Start(func(ctx context.Context, ev json.RawMessage) (*Summary, error) {
		return Handle(ctx, opts, ev)
	})
}

// Handle runs keywarden once for one event.
func Handle(ctx context.Context, o Options, raw json.RawMessage) (*Summary, error) {
	start := time.Now()
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// What the environment and the event get wrong is refused before
	// anything is read. A misspelt value would silently act with the
	// function's own role.
	hubViaRole := o.Getenv(EnvHubViaRole)
	if hubViaRole != "" && hubViaRole != "true" && hubViaRole != "false" {
		return nil, fmt.Errorf("%s is %q: want true or false", EnvHubViaRole, hubViaRole)
	}
	var ev Event
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("read the event: %w", err)
		}
	}
	switch ev.Mode {
	case "", policy.ModeReport:
	default:
		return nil, fmt.Errorf("the event asks for mode %q: an invocation may ask only for %q; enforcing is set in the policy's automation section", ev.Mode, policy.ModeReport)
	}
	stateSpec := o.Getenv(EnvState)
	if stateSpec == "" {
		return nil, fmt.Errorf("%s is not set: name the state store, dynamodb://TABLE", EnvState)
	}
	trigger := engine.TriggerManual
	if ev.Source == "aws.events" || ev.DetailType == "Scheduled Event" {
		trigger = engine.TriggerSchedule
	}

	awsOpts := o.AWS
	awsOpts.Logger = o.Log
	cfg, err := awsx.Load(ctx, awsOpts)
	if err != nil {
		return nil, err
	}
	pol, err := loadPolicy(ctx, cfg, o.Getenv(EnvConfig), o.PackageDir)
	if err != nil {
		return nil, err
	}
	st, err := engine.OpenState(ctx, stateSpec, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	role, actRole := pol.Accounts.RoleName, pol.Accounts.ActRoleName
	if role == "" {
		role = policy.DefaultRoleName
	}
	if actRole == "" {
		actRole = policy.DefaultActRoleName
	}
	extEnv := pol.Accounts.ExternalIDEnv
	if extEnv == "" {
		extEnv = EnvExternalID
	}
	hub, err := awsx.NewHub(ctx, cfg, awsx.HubOptions{Command: "lambda", RoleName: role, ActRoleName: actRole, ExternalID: o.Getenv(extEnv),
		HubViaRole: hubViaRole == "true", Instrument: o.Instrument})
	if err != nil {
		return nil, err
	}
	eng := &engine.Engine{Hub: hub, Policy: pol, Store: st, Log: o.Log,
		// The notifications fit in the time kept before the deadline.
		Notify: engine.NotifyOptions{Timeout: 40 * time.Second, Delivery: notify.DeliverOptions{ChannelTimeout: 30 * time.Second}}}
	sum, err := eng.Automate(ctx, engine.AutomationRequest{Trigger: trigger, Mode: ev.Mode,
		Deadline: applyDeadline(ctx, o.Reserve), ProductVersion: o.ProductVersion})
	if err != nil {
		return nil, err
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	o.Log.Info("summary", "summary", sum)
	return sum, nil
}

// applyDeadline is when the apply must stop starting actions: the
// invocation's deadline less what the notifications and the summary need.
func applyDeadline(ctx context.Context, reserve time.Duration) time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	if reserve <= 0 {
		reserve = time.Minute
		if left := time.Until(deadline); left < 5*time.Minute {
			reserve = left / 5
		}
	}
	return deadline.Add(-reserve)
}

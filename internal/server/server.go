// Package server is keywarden serve: a long-running service that runs the
// policy's automation schedule, keeps every scan's snapshot in the state
// store, and serves an HTTP API, a dashboard and Prometheus metrics over
// them (docs/serve.md, docs/api.md).
//
// It listens on loopback unless told otherwise. Whatever changes state
// (starting a run) needs the bearer token and passes a cross-site request
// check; reading is open, or needs the token too (Options.ProtectReads).
// On shutdown a run in progress finishes the action it is doing, journals
// it and stops; the next run carries on.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// Options set up a Server.
type Options struct {
	Policy *policy.Policy
	Store  store.Store
	// NewHub starts one run's session: the caller's identity and a new run
	// ID. Called for every run.
	NewHub func(ctx context.Context) (*awsx.Hub, error)
	// Read tunes how accounts are read; the policy selects them.
	Read engine.Read
	// Notify tunes the delivery of notifications.
	Notify engine.NotifyOptions

	// Token is the bearer token that changes need (and reads, with
	// ProtectReads). Empty: every change is refused.
	Token        string
	ProtectReads bool

	// Keep, if more than zero, keeps at most this many snapshots.
	Keep int
	// Clock drives the scheduler; nil is the real clock.
	Clock Clock
	// Grace is how long a shutdown waits for the run in progress to
	// finish its current action before cutting it off; zero: two minutes.
	Grace          time.Duration
	Log            *slog.Logger
	ProductVersion string
}

// Server is the service. Make it with New, serve it with Serve.
type Server struct {
	o        Options
	schedule Schedule // nil: no schedule, runs only on request
	log      *slog.Logger
	metrics  *metrics

	// runCtx is what runs are done under: not cancelled by a shutdown
	// (stop asks them to stop instead), only after the grace period.
	runCtx    context.Context
	hardStop  context.CancelFunc
	stop      chan struct{}
	stopOnce  sync.Once
	inflight  sync.WaitGroup
	mu        sync.Mutex
	live      map[string]*LiveRun
	order     []string // live run IDs, oldest first
	current   string   // the run in progress, "" when none
	next      time.Time
	scheduled bool

	cacheMu sync.Mutex
	cached  *store.Snapshot // the snapshot read last
}

// LiveRun is a run this process started, as it goes.
type LiveRun struct {
	ID         string             `json:"run_id"`
	Kind       string             `json:"kind"` // scan or undo
	Trigger    string             `json:"trigger"`
	UndoOf     string             `json:"undo_of,omitempty"`
	Mode       string             `json:"mode,omitempty"`
	Status     string             `json:"status"` // running, then the summary's status, or error
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	Summary    *engine.RunSummary `json:"summary,omitempty"`
	// Actions counts an undo's actions by outcome.
	Actions map[string]int `json:"actions,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// Run statuses of a LiveRun besides the summary's.
const (
	StatusRunning = "running"
	StatusError   = "error"
)

// maxLive is how many finished runs are remembered in memory; the state
// store keeps the rest.
const maxLive = 100

// ErrBusy is returned by StartRun while another run is in progress (its
// ID returned too, or "" while that run's session is still starting).
var ErrBusy = errors.New("a run is in progress")

// New makes a server. The policy's automation schedule, if any, must parse.
func New(o Options) (*Server, error) {
	if o.Policy == nil || o.Store == nil || o.NewHub == nil {
		return nil, errors.New("server: a policy, a state store and a hub are required")
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Minute
	}
	s := &Server{o: o, log: o.Log, live: map[string]*LiveRun{}, stop: make(chan struct{})}
	if spec := o.Policy.Automation.Schedule; spec != "" {
		sched, err := ParseSchedule(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: automation.schedule: %w", policySource(o.Policy), err)
		}
		s.schedule = sched
	}
	s.runCtx, s.hardStop = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	return s, nil
}

// policySource names where the automation section is: file and line.
func policySource(p *policy.Policy) string {
	if p.Source == "" {
		return "the built-in policy"
	}
	if p.Automation.Line > 0 {
		return fmt.Sprintf("%s:%d", p.Source, p.Automation.Line)
	}
	return p.Source
}

// Serve serves on ln until ctx ends, runs the schedule meanwhile, then
// shuts down: no new request or run, the run in progress finishes its
// current action and journals it (or is cut off after the grace period).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		s.scheduleLoop(ctx)
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "schedule", s.scheduleText())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	s.Stop()
	<-schedDone
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	s.Wait()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Stop asks the run in progress to stop after its current action, and
// refuses new runs.
func (s *Server) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// Wait waits for the run in progress to end, cutting it off after the
// grace period.
func (s *Server) Wait() {
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.o.Grace):
		s.log.Warn("the run in progress did not stop within the grace period: cutting it off", "grace", s.o.Grace)
		s.hardStop()
		<-done
	}
}

func (s *Server) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *Server) scheduleText() string {
	if s.schedule == nil {
		return "none"
	}
	return s.schedule.String()
}

// scheduleLoop starts a run whenever the schedule says, until ctx ends or
// the server stops. A run due while another is in progress is skipped.
func (s *Server) scheduleLoop(ctx context.Context) {
	if s.schedule == nil {
		return
	}
	clock := s.o.Clock
	next := s.schedule.Next(clock.Now())
	for {
		if next.IsZero() {
			s.log.Error("the schedule never falls due again", "schedule", s.schedule.String())
			return
		}
		s.mu.Lock()
		s.next, s.scheduled = next, true
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-clock.After(next.Sub(clock.Now())):
		}
		switch id, err := s.StartRun(ctx, engine.TriggerSchedule, ""); {
		case errors.Is(err, ErrBusy):
			s.log.Warn("scheduled run skipped: another run is in progress", "running", id)
		case err != nil:
			s.log.Error("scheduled run not started", "error", err)
		}
		now := clock.Now()
		next = s.schedule.Next(next)
		for !next.After(now) { // missed while the machine slept: once, not every one missed
			next = s.schedule.Next(now)
		}
	}
}

// NextRun is when the next scheduled run is due; false without a schedule.
func (s *Server) NextRun() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.scheduled
}

// StartRun starts a run of the policy's automation section now and
// returns its ID; the run goes on in the background. While another run is
// in progress it fails with ErrBusy, and returns that run's ID.
func (s *Server) StartRun(ctx context.Context, trigger, mode string) (string, error) {
	if mode != "" && mode != policy.ModeReport && mode != s.o.Policy.Automation.Mode {
		return "", fmt.Errorf("mode %q: %w", mode, engine.ErrEnforceNotAllowed)
	}
	return s.start(ctx, &LiveRun{Kind: KindScan, Trigger: trigger, Mode: mode})
}

// ErrNotUndoable is returned by StartUndo for a run that is not an apply.
var ErrNotUndoable = errors.New("only an apply can be undone")

// StartUndo starts undoing an apply run (reactivating the keys it
// deactivated that are still as it left them) and returns the undo's run
// ID; it goes on in the background. Unknown run: store.ErrNotFound.
func (s *Server) StartUndo(ctx context.Context, trigger, runID string) (string, error) {
	r, err := s.o.Store.GetRun(ctx, runID)
	if err != nil {
		return "", err
	}
	if r.Command != "apply" {
		return "", fmt.Errorf("run %s (%s): %w", runID, r.Command, ErrNotUndoable)
	}
	return s.start(ctx, &LiveRun{Kind: KindUndo, Trigger: trigger, UndoOf: runID})
}

// Kinds of runs.
const (
	KindScan = "scan" // a run of the automation section: a scan, then warnings or an apply
	KindUndo = "undo"
)

// runStarting holds the slot for a run while its session starts.
const runStarting = "starting"

// start takes the one slot for a run, starts its session and runs it in
// the background.
func (s *Server) start(ctx context.Context, run *LiveRun) (string, error) {
	if s.stopping() {
		return "", errors.New("the service is shutting down")
	}
	s.mu.Lock()
	if s.current != "" {
		id := s.current
		s.mu.Unlock()
		if id == runStarting {
			id = "" // no ID yet: nothing to point a client at
		}
		return id, ErrBusy
	}
	s.current = runStarting
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.mu.Lock()
			s.current = ""
			s.mu.Unlock()
		}
	}()
	hub, err := s.o.NewHub(ctx)
	if err != nil {
		return "", fmt.Errorf("start a run: %w", err)
	}
	eng := &engine.Engine{Hub: hub, Policy: s.o.Policy, Store: s.o.Store, Log: s.log.With("run", hub.RunID), Notify: s.o.Notify}
	run.ID, run.Status, run.StartedAt = hub.RunID, StatusRunning, time.Now().UTC()
	mode := run.Mode
	if run.Kind == KindScan && run.Mode == "" {
		run.Mode = s.o.Policy.Automation.Mode
	}
	s.mu.Lock()
	s.current = run.ID
	s.live[run.ID] = run
	s.order = append(s.order, run.ID)
	if len(s.order) > maxLive {
		delete(s.live, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	started = true
	s.inflight.Add(1)
	go s.do(eng, run, mode)
	return run.ID, nil
}

func (s *Server) do(eng *engine.Engine, run *LiveRun, mode string) {
	defer s.inflight.Done()
	s.log.Info("run started", "run", run.ID, "kind", run.Kind, "trigger", run.Trigger)
	var (
		sum     *engine.RunSummary
		actions map[string]int
		status  string
		err     error
	)
	switch run.Kind {
	case KindUndo:
		var rep *remediate.UndoReport
		rep, err = eng.Undo(s.runCtx, engine.UndoRequest{RunID: run.UndoOf})
		if err == nil {
			status, actions = rep.Status, rep.Counts()
		}
	default:
		sum, err = eng.Automate(s.runCtx, engine.AutomationRequest{Trigger: run.Trigger, Mode: mode, Read: s.o.Read,
			Stop: s.stop, ProductVersion: s.o.ProductVersion, Keep: s.o.Keep})
		if err == nil {
			status = sum.Status
		}
	}
	finished := time.Now().UTC()
	s.mu.Lock()
	run.FinishedAt = finished
	switch {
	case errors.Is(err, remediate.ErrStopped):
		// A shutdown during the scan: stopped, as during an apply (the
		// next run scans afresh), not an error.
		run.Status, run.Error = engine.StatusStopped, err.Error()
	case err != nil:
		run.Status, run.Error = StatusError, err.Error()
	default:
		run.Status, run.Summary, run.Actions = status, sum, actions
	}
	s.current = ""
	s.mu.Unlock()
	s.metrics.observe(run)
	if run.Status == engine.StatusStopped && err != nil {
		s.log.Warn("run stopped by the shutdown before its scan finished", "run", run.ID, "kind", run.Kind)
		return
	}
	if err != nil {
		s.log.Error("run failed", "run", run.ID, "kind", run.Kind, "error", err)
		return
	}
	s.log.Info("run finished", "run", run.ID, "kind", run.Kind, "status", status)
}

// Live returns the runs this process started, newest first.
func (s *Server) Live() []LiveRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LiveRun, 0, len(s.order))
	for _, id := range slices.Backward(s.order) {
		out = append(out, *s.live[id])
	}
	return out
}

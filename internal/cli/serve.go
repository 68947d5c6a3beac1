package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/server"
)

// EnvAPIToken holds the bearer token of keywarden serve's API.
const EnvAPIToken = "KEYWARDEN_API_TOKEN"

type serveFlags struct {
	Addr         string
	TokenFile    string
	ProtectReads bool
	Keep         int

	accountFlags
	state stateFlags
}

func newServeCommand(g *GlobalOptions) *cobra.Command {
	var o serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the policy's schedule and serve an API, a dashboard and metrics",
		Long: `Run keywarden as a service: the policy's automation schedule (report or
enforce, as the Lambda does), a snapshot of every scan kept in the state
store, an HTTP API (docs/api.md), a dashboard with trends, and Prometheus
metrics at /metrics.

It listens on 127.0.0.1:8080 unless --addr says otherwise. Starting a run
needs the API token ($KEYWARDEN_API_TOKEN or --token-file); reading is open
unless --protect-reads. SIGTERM (or Ctrl-C) stops it: a run in progress
finishes the action it is doing and journals it, and the next run carries on.`,
		Example: `  KEYWARDEN_API_TOKEN=$(openssl rand -hex 32) keywarden serve --config keywarden.yaml
  keywarden serve --org --state dynamodb://keywarden-state
  keywarden serve --addr 0.0.0.0:8080 --token-file /run/secrets/keywarden-token --protect-reads`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, o, g) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "listen on this `host:port`")
	f.StringVar(&o.TokenFile, "token-file", "", "read the API token from this `file` (default $"+EnvAPIToken+")")
	f.BoolVar(&o.ProtectReads, "protect-reads", false, "require the API token to read the API, the dashboard and the metrics too")
	f.IntVar(&o.Keep, "keep-snapshots", 0, "keep at most this many scan snapshots (0: only the policy's snapshot_retention limits them)")
	o.accountFlags.add(cmd, false)
	o.state.add(cmd)
	return cmd
}

// readToken reads the API token from a file or the environment.
func readToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(EnvAPIToken)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read the API token: %s is empty", file)
	}
	return tok, nil
}

func runServe(cmd *cobra.Command, o serveFlags, g *GlobalOptions) error {
	ctx, log := cmd.Context(), g.Logger
	if o.Keep < 0 {
		return usagef(cmd, "--keep-snapshots %d: want 0 or more", o.Keep)
	}
	if o.read.AsOf != "" {
		return usagef(cmd, "--as-of: a service judges keys as of each run")
	}
	tok, err := readToken(o.TokenFile)
	if err != nil {
		return err
	}
	if tok != "" && len(tok) < 16 {
		return fmt.Errorf("the API token is %d characters long: use at least 16 (openssl rand -hex 32)", len(tok))
	}
	if o.ProtectReads && tok == "" {
		return usagef(cmd, "--protect-reads needs an API token: set $%s or --token-file", EnvAPIToken)
	}
	j, err := o.prepare(cmd)
	if err != nil {
		return err
	}
	st, err := openState(ctx, o.state.State, o.aws)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg, err := o.aws.config(ctx, log)
	if err != nil {
		return err
	}
	role := j.role
	srv, err := server.New(server.Options{
		Policy: j.pol, Store: st, Read: j.read, Token: tok, ProtectReads: o.ProtectReads, Keep: o.Keep,
		Log: log, ProductVersion: buildVersion(), Notify: engine.NotifyOptions{Delivery: notifyDelivery},
		NewHub: func(ctx context.Context) (*awsx.Hub, error) {
			return awsx.NewHub(ctx, cfg, awsx.HubOptions{Command: "serve", RoleName: role.RoleName, ActRoleName: role.ActRoleName,
				ExternalID: role.ExternalID, HubViaRole: role.HubViaRole})
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	if !isLoopback(ln.Addr()) && !o.ProtectReads {
		log.Warn("listening beyond this machine with open reads: anyone who reaches it sees every finding; consider --protect-reads", "addr", ln.Addr().String())
	}
	if tok == "" {
		log.Warn("no API token: starting runs through the API is disabled; set " + EnvAPIToken + " or --token-file")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "keywarden: serving on http://%s (schedule: %s)\n", ln.Addr(), scheduleOf(j.pol.Automation.Schedule))
	return srv.Serve(ctx, ln)
}

func scheduleOf(s string) string {
	if s == "" {
		return "none; runs start through the API"
	}
	return s
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

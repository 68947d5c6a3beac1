package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
)

// SandboxOptions are the flags of "keywarden sandbox".
type SandboxOptions struct {
	Addr            string
	Seed            uint64
	Accounts        int
	UsersPerAccount int
	RoleName        string
	ExternalID      string
	EnvFile         string

	Latency       time.Duration
	Jitter        time.Duration
	ThrottleRate  float64
	ThrottleBurst int
	ErrorRate     float64
	Unassumable   int
	ReportPolls   int
}

func newSandboxCommand(g *GlobalOptions) *cobra.Command {
	opts := SandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local AWS sandbox with a generated organization",
		Long: `Run a local AWS sandbox: an HTTP server on 127.0.0.1 that speaks the AWS
wire protocols of IAM, STS and Organizations, holding a generated
organization (a management account with an admin user, member accounts in
OUs, each with a spoke role, users with keys of every age and use).

It prints the export lines that point the AWS SDKs and the AWS CLI at it,
with the hub admin's credentials, and runs until Ctrl-C. The credentials are
the sandbox's own and work nowhere else.

Faults can be injected into every account: latency, throttling, server
errors, and accounts whose spoke role cannot be assumed.

See docs/sandbox.md.`,
		Example: `  keywarden sandbox
  keywarden sandbox --accounts 50 --users-per-account 100 --seed 7
  keywarden sandbox --latency 50ms --throttle-rate 10 --unassumable 2`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSandbox(cmd.Context(), opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:4566", "listen on this loopback `host:port` (port 0 picks a free one)")
	f.StringVar(&opts.RoleName, "role-name", orggen.DefaultRoleName, "`name` of the spoke role in every member account")
	f.StringVar(&opts.ExternalID, "external-id", "", "external `ID` the spoke roles require (none when empty)")
	f.StringVar(&opts.EnvFile, "env-file", "", "also write the export lines to this `file` (mode 0600)")
	addSandboxFlags(f, &opts, 5, 20)
	return cmd
}

// addSandboxFlags adds the flags that shape the generated organization and
// the faults, shared by sandbox and demo (which differ in default size).
func addSandboxFlags(f *pflag.FlagSet, o *SandboxOptions, accounts, users int) {
	f.Uint64Var(&o.Seed, "seed", 1, "generate the same organization for the same `seed`")
	f.IntVar(&o.Accounts, "accounts", accounts, "member `accounts` besides the management account")
	f.IntVar(&o.UsersPerAccount, "users-per-account", users, "about this many IAM `users` per member account")
	f.DurationVar(&o.Latency, "latency", 0, "add this `duration` to every sandbox call")
	f.DurationVar(&o.Jitter, "jitter", 0, "add a random `duration` up to this to every sandbox call")
	f.Float64Var(&o.ThrottleRate, "throttle-rate", 0, "throttle each account above this many `calls` per second (0: never)")
	f.IntVar(&o.ThrottleBurst, "throttle-burst", 10, "`calls` an account may burst above --throttle-rate")
	f.Float64Var(&o.ErrorRate, "error-rate", 0, "answer this `fraction` of calls with a 5xx error")
	f.IntVar(&o.Unassumable, "unassumable", 0, "make the spoke role of this many member `accounts` impossible to assume")
	f.IntVar(&o.ReportPolls, "report-polls", 0, "credential reports stay in progress for this many `polls`")
}

func (o SandboxOptions) validate() error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return &UsageError{Command: "keywarden sandbox", Err: fmt.Errorf("--addr %q: %v", o.Addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return &UsageError{Command: "keywarden sandbox", Err: fmt.Errorf("--addr %q: the sandbox listens on loopback only (127.0.0.1 or ::1)", o.Addr)}
	}
	checks := []struct {
		bad  bool
		flag string
		msg  string
	}{
		{o.Accounts < 0 || o.Accounts > 10000, "--accounts", "must be between 0 and 10000"},
		{o.UsersPerAccount < 0 || o.UsersPerAccount > 5000, "--users-per-account", "must be between 0 and 5000"},
		{o.Latency < 0 || o.Jitter < 0, "--latency/--jitter", "must not be negative"},
		{o.ThrottleRate < 0, "--throttle-rate", "must not be negative"},
		{o.ThrottleBurst < 1, "--throttle-burst", "must be at least 1"},
		{o.ErrorRate < 0 || o.ErrorRate > 1, "--error-rate", "must be between 0 and 1"},
		{o.Unassumable < 0 || o.Unassumable > o.Accounts, "--unassumable", "must be between 0 and --accounts"},
		{o.ReportPolls < 0, "--report-polls", "must not be negative"},
	}
	for _, c := range checks {
		if c.bad {
			return &UsageError{Command: "keywarden sandbox", Err: fmt.Errorf("%s %s", c.flag, c.msg)}
		}
	}
	return nil
}

// runningSandbox is a sandbox with a generated organization, serving HTTP.
type runningSandbox struct {
	Sandbox *awsemu.Sandbox
	Org     *orggen.Org
	URL     string
	server  *http.Server
	done    chan error
}

// startSandbox generates the organization, applies the faults and starts
// serving on opts.Addr.
func startSandbox(opts SandboxOptions, log *slog.Logger) (*runningSandbox, error) {
	token := make([]byte, 16)
	rand.Read(token)
	sb := awsemu.New(awsemu.Options{Seed: opts.Seed, ReportInProgressPolls: opts.ReportPolls, Logger: log,
		ControlToken: hex.EncodeToString(token)})
	org, err := orggen.Generate(sb, orggen.Options{
		Seed: opts.Seed, Accounts: opts.Accounts, UsersPerAccount: opts.UsersPerAccount,
		RoleName: opts.RoleName, ExternalID: opts.ExternalID,
	})
	if err != nil {
		return nil, fmt.Errorf("generate organization: %w", err)
	}
	var faults []awsemu.Fault
	if opts.Latency > 0 || opts.Jitter > 0 || opts.ThrottleRate > 0 || opts.ErrorRate > 0 {
		faults = append(faults, awsemu.Fault{Latency: opts.Latency, Jitter: opts.Jitter,
			ThrottleRate: opts.ThrottleRate, ThrottleBurst: opts.ThrottleBurst, ErrorRate: opts.ErrorRate})
	}
	unassumable := opts.Unassumable
	for _, a := range org.Accounts {
		if unassumable == 0 {
			break
		}
		if !a.Management && a.State == awsemu.AccountActive {
			faults = append(faults, awsemu.Fault{Account: a.ID, DenyAssumeRole: true})
			unassumable--
		}
	}
	sb.SetFaults(faults...)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (choose another with --addr, or port 0 for any free one)", opts.Addr, err)
	}
	rs := &runningSandbox{
		Sandbox: sb, Org: org, URL: "http://" + ln.Addr().String(),
		server: &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan error, 1),
	}
	go func() { rs.done <- rs.server.Serve(ln) }()
	return rs, nil
}

// Close stops serving, waiting briefly for calls in flight; connections
// that clients keep open but idle are then closed without more waiting.
func (rs *runningSandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if rs.server.Shutdown(ctx) != nil {
		rs.server.Close()
	}
	if err := <-rs.done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// exportLines are the shell lines that point AWS clients at the sandbox as
// the hub admin.
func (rs *runningSandbox) exportLines() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export AWS_ENDPOINT_URL=%s\n", rs.URL)
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\n", rs.Org.AdminKey.AccessKeyID)
	fmt.Fprintf(&b, "export AWS_SECRET_ACCESS_KEY=%s\n", rs.Org.AdminKey.SecretAccessKey)
	fmt.Fprintf(&b, "export AWS_REGION=%s AWS_DEFAULT_REGION=%s\n", awsemu.DefaultRegion, awsemu.DefaultRegion)
	fmt.Fprintf(&b, "export KEYWARDEN_SANDBOX_TOKEN=%s\n", rs.Sandbox.ControlToken())
	b.WriteString("unset AWS_SESSION_TOKEN AWS_PROFILE\n")
	return b.String()
}

func runSandbox(ctx context.Context, opts SandboxOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	if err := opts.validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs, err := startSandbox(opts, log)
	if err != nil {
		return err
	}
	defer rs.Close()

	describeOrg(stderr, rs)
	exports := rs.exportLines()
	if opts.EnvFile != "" {
		if err := os.WriteFile(opts.EnvFile, []byte(exports), 0o600); err != nil {
			return fmt.Errorf("write --env-file: %w", err)
		}
	}
	// The credentials are the sandbox's own: printing them is the point.
	fmt.Fprint(stdout, exports)
	fmt.Fprintf(stderr, "\nsandbox listening on %s; paste the export lines above into another shell. Ctrl-C stops it.\n", rs.URL)

	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "sandbox stopped")
		return nil
	case err := <-rs.done:
		rs.done <- err // for Close
		return fmt.Errorf("sandbox server: %w", err)
	}
}

// describeOrg prints what the sandbox holds, for the person who started it.
func describeOrg(w io.Writer, rs *runningSandbox) {
	o := rs.Org
	fmt.Fprintf(w, "keywarden sandbox: organization of %d accounts (management %s), %d users, %d access keys (%d active, %d root keys)\n",
		len(o.Accounts), o.ManagementAccount, o.Users, o.Keys, o.ActiveKeys, o.RootKeys)
	fmt.Fprintf(w, "hub identity: user %s in %s; spoke roles %q (read) and %q (act) in every member account", o.AdminUser, o.ManagementAccount, o.RoleName, o.ActRoleName)
	if o.ExternalID != "" {
		fmt.Fprint(w, " (external ID required)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tOU\tSTATE\tUSERS\tKEYS")
	const maxShown = 25
	for i, a := range o.Accounts {
		if i == maxShown {
			fmt.Fprintf(tw, "…\t%d more\t\t\t\t\n", len(o.Accounts)-maxShown)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", a.ID, a.Name, a.OUPath, a.State, a.Users, a.Keys)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

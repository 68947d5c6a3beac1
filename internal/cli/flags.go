package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
)

// The flags come in groups; each command composes the groups it needs, so
// that a flag means the same in every command that takes it.

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)
var ouIDPattern = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)

// accountFlags are the groups of every command that reads accounts and
// judges their keys: which accounts, through which roles, how, by which
// policy and with which AWS configuration.
type accountFlags struct {
	sel    selectionFlags
	role   roleFlags
	read   readFlags
	policy policyFlags
	aws    awsFlags
}

// add adds the groups' flags; keyIDs adds --key-ids.
func (a *accountFlags) add(cmd *cobra.Command, keyIDs bool) {
	a.sel.add(cmd)
	a.role.add(cmd)
	a.read.add(cmd, keyIDs)
	a.policy.add(cmd)
	a.aws.add(cmd)
}

// prepare checks the flags into a job; nothing is called in AWS yet.
func (a accountFlags) prepare(cmd *cobra.Command) (*job, error) {
	return prepare(cmd, a.policy, a.sel, a.role, a.read)
}

// selectionFlags pick the accounts: --org, --ou, --accounts,
// --exclude-accounts.
type selectionFlags struct {
	Organization bool
	OUs          []string
	Accounts     []string
	Exclude      []string
}

func (s *selectionFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&s.Organization, "org", false, "read every ACTIVE account of the AWS Organization")
	f.StringArrayVar(&s.OUs, "ou", nil, "read the accounts in this `OU` and the OUs below it (repeatable)")
	f.StringSliceVar(&s.Accounts, "accounts", nil, "read these `account IDs` (comma-separated)")
	f.StringSliceVar(&s.Exclude, "exclude-accounts", nil, "skip these `account IDs` (comma-separated)")
}

// selection checks the flags, filling in from the policy's accounts
// section what the command line did not say: a selection on the command
// line replaces the file's whole selection.
func (s selectionFlags) selection(cmd *cobra.Command, pol *policy.Policy) (inventory.Selection, error) {
	changed := cmd.Flags().Changed
	sel := inventory.Selection{Organization: s.Organization, OUs: s.OUs, Accounts: s.Accounts, Exclude: s.Exclude}
	ac := pol.Accounts
	if !changed("org") && !changed("ou") && !changed("accounts") {
		sel.Organization, sel.OUs, sel.Accounts = ac.Organization, ac.OUs, ac.Accounts
	}
	if !changed("exclude-accounts") && len(ac.Exclude) > 0 {
		sel.Exclude = ac.Exclude
	}
	for _, f := range []struct {
		flag string
		ids  []string
	}{{"--accounts", sel.Accounts}, {"--exclude-accounts", sel.Exclude}} {
		for _, id := range f.ids {
			if !accountIDPattern.MatchString(id) {
				return sel, usagef(cmd, "%s %q: not an account ID (12 digits)", f.flag, id)
			}
		}
	}
	for _, ou := range sel.OUs {
		if !ouIDPattern.MatchString(ou) {
			return sel, usagef(cmd, "--ou %q: not an OU ID (ou-xxxx-xxxxxxxx)", ou)
		}
	}
	return sel, nil
}

// roleFlags say how to act in the member accounts.
type roleFlags struct {
	RoleName    string
	ActRoleName string
	ExternalID  string
	HubViaRole  bool
}

func (r *roleFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.RoleName, "role-name", policy.DefaultRoleName, "`role` to assume in each member account to read it")
	f.StringVar(&r.ActRoleName, "act-role-name", policy.DefaultActRoleName, "`role` to assume in each member account to deactivate, delete, rotate and reactivate keys")
	f.StringVar(&r.ExternalID, "external-id", "", "external `ID` the role requires (default $KEYWARDEN_EXTERNAL_ID)")
	f.BoolVar(&r.HubViaRole, "hub-via-role", false, "read (and act in) the caller's own account through the role too")
}

// resolve fills in from the policy file and the environment what the
// flags did not say.
func (r roleFlags) resolve(cmd *cobra.Command, pol *policy.Policy) (roleFlags, error) {
	changed := cmd.Flags().Changed
	if !changed("role-name") && pol.Accounts.RoleName != "" {
		r.RoleName = pol.Accounts.RoleName
	}
	if !changed("act-role-name") && pol.Accounts.ActRoleName != "" {
		r.ActRoleName = pol.Accounts.ActRoleName
	}
	if !changed("external-id") {
		env := pol.Accounts.ExternalIDEnv
		if env == "" {
			env = "KEYWARDEN_EXTERNAL_ID"
		}
		r.ExternalID = os.Getenv(env)
	}
	if r.RoleName == "" {
		return r, usagef(cmd, "--role-name must not be empty")
	}
	if r.ActRoleName == "" {
		return r, usagef(cmd, "--act-role-name must not be empty")
	}
	return r, nil
}

// readFlags say how to read the accounts.
type readFlags struct {
	Source         string
	KeyIDs         string
	Parallel       int
	AccountTimeout time.Duration
	AsOf           string
}

func (r *readFlags) add(cmd *cobra.Command, keyIDs bool) {
	f := cmd.Flags()
	f.StringVar(&r.Source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	f.IntVar(&r.Parallel, "parallel", inventory.DefaultParallel, "read this many `accounts` at once")
	f.DurationVar(&r.AccountTimeout, "account-timeout", inventory.DefaultAccountTimeout, "give up on an account after this `duration`")
	f.StringVar(&r.AsOf, "as-of", "", "judge and compute ages as if it were this `date` (YYYY-MM-DD or RFC 3339)")
	r.KeyIDs = string(engine.KeyIDsAttention)
	if keyIDs {
		f.StringVar(&r.KeyIDs, "key-ids", r.KeyIDs, "on the report path, read key IDs for keys needing `attention`, for all, or none")
	}
}

// read checks the flags into how the engine reads.
func (r readFlags) read(cmd *cobra.Command, sel inventory.Selection) (engine.Read, error) {
	rd := engine.Read{Selection: sel, Parallel: r.Parallel, AccountTimeout: r.AccountTimeout}
	switch r.Source {
	case "report":
		rd.Source = inventory.SourceReport
	case "api":
		rd.Source = inventory.SourceAPI
	default:
		return rd, usagef(cmd, "--source %q: want report or api", r.Source)
	}
	switch k := engine.KeyIDs(r.KeyIDs); k {
	case engine.KeyIDsAttention, engine.KeyIDsAll, engine.KeyIDsNone:
		rd.KeyIDs = k
	default:
		return rd, usagef(cmd, "--key-ids %q: want attention, all or none", r.KeyIDs)
	}
	if r.Parallel < 1 || r.Parallel > 256 {
		return rd, usagef(cmd, "--parallel %d: want 1 to 256", r.Parallel)
	}
	if r.AccountTimeout <= 0 {
		return rd, usagef(cmd, "--account-timeout must be positive")
	}
	if r.AsOf != "" {
		t, err := parseDate(r.AsOf)
		if err != nil {
			return rd, usagef(cmd, "--as-of %q: %v", r.AsOf, err)
		}
		rd.AsOf = t
	}
	return rd, nil
}

// policyFlags name the policy file.
type policyFlags struct {
	Config string
	// builtin uses the built-in policy when --config is not given, without
	// looking for keywarden.yaml (the demo is the same wherever it runs).
	builtin bool
}

func (p *policyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.Config, "config", "", "policy `file` (default keywarden.yaml in the working directory if present, else the built-in policy)")
}

func (p policyFlags) load() (*policy.Policy, error) {
	if p.Config == "" && p.builtin {
		return policy.Default(), nil
	}
	return policy.LoadDefault(p.Config, ".")
}

// awsFlags choose the AWS configuration.
type awsFlags struct {
	Profile string
	Region  string
}

func (a *awsFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.Profile, "profile", "", "AWS shared config `profile` (default $AWS_PROFILE)")
	f.StringVar(&a.Region, "region", "", "AWS `region` for the API calls (default from the AWS configuration)")
}

// config loads the AWS configuration the flags choose.
func (a awsFlags) config(ctx context.Context, log *slog.Logger) (aws.Config, error) {
	return awsx.Load(ctx, awsx.Options{Profile: a.Profile, Region: a.Region, Logger: log})
}

// outputFlags say what to write and where.
type outputFlags struct {
	Format string
	Output string
}

func (o *outputFlags) add(cmd *cobra.Command, formats string) {
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "table", "output `format`: "+formats)
	f.StringVarP(&o.Output, "output", "o", "", "write the output to this `file` instead of stdout")
}

// check parses the format and checks the output file can be written,
// before any work starts.
func (o outputFlags) check(cmd *cobra.Command) (report.Format, error) {
	f, err := report.ParseFormat(o.Format)
	if err != nil {
		return f, usagef(cmd, "--format: %v", err)
	}
	if err := output.Check(o.Output); err != nil {
		return f, err
	}
	return f, nil
}

// stateFlags name the state store.
type stateFlags struct{ State string }

func (s *stateFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.State, "state", "", "state store: a SQLite `file`, or dynamodb://TABLE shared by every run (default $KEYWARDEN_STATE, else ~/.config/keywarden/state.db)")
}

// usagef is a usage error of cmd.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &UsageError{Command: cmd.CommandPath(), Err: fmt.Errorf(format, args...)}
}

// parseDate reads YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want a date like 2027-01-31 or a time like 2027-01-31T12:00:00Z")
	}
	return t.UTC(), nil
}

package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// defaultPolicyFile is the policy file looked for in the working directory.
const defaultPolicyFile = "keywarden.yaml"

func newPolicyCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write, check and explain the policy that judges access keys",
		Long: `The policy says which keys are wrong and what happens to them: rules with
stages (warn, rotate, deactivate, delete) and thresholds, exemptions with a
reason and an expiry, overrides per account or OU. Without a policy file the
built-in policy applies, which follows CIS AWS Foundations.

See docs/policy.md.`,
	}
	cmd.AddCommand(newPolicyInitCommand(), newPolicyValidateCommand(), newPolicyExplainCommand(g))
	return cmd
}

// PolicyInitOptions are the flags of "keywarden policy init".
type PolicyInitOptions struct {
	Force bool
}

func newPolicyInitCommand() *cobra.Command {
	var opts PolicyInitOptions
	cmd := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented starter policy equal to the built-in one",
		Long: `Write a commented starter policy file (default keywarden.yaml) whose rules
equal the built-in policy, with examples of exemptions, overrides and
protected users to adapt. An existing file is not overwritten without --force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := defaultPolicyFile
			if len(args) == 1 {
				path = args[0]
			}
			return runPolicyInit(path, opts, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite an existing file")
	return cmd
}

func runPolicyInit(path string, opts PolicyInitOptions, stderr io.Writer) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if opts.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; edit it, or run 'keywarden policy init --force %s' to replace it", path, path)
	}
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	if _, err := f.Write(policy.Starter()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stderr, "wrote %s; check it with 'keywarden policy validate %s'\n", path, path)
	return nil
}

func newPolicyValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a policy file and list every problem in it",
		Long: `Check a policy file (default keywarden.yaml) and print every problem, each
with its file, line and field; the exit code is 1 when there is one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := defaultPolicyFile
			if len(args) == 1 {
				path = args[0]
			}
			return runPolicyValidate(path, cmd.OutOrStdout())
		},
	}
}

func runPolicyValidate(path string, stdout io.Writer) error {
	p, err := policy.Load(path)
	if err != nil {
		return err
	}
	// Template files are read when notifications are sent; check them now.
	if _, err := notify.NewRenderer(p.Notifications.Templates, engine.PolicyEnv(p)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d exemptions, %d overrides)\n", path, len(p.Exemptions), len(p.Overrides))
	return nil
}

// PolicyExplainOptions are the flags of "keywarden policy explain".
type PolicyExplainOptions struct {
	Account string
	User    string
	Key     string
	role    roleFlags
	read    readFlags
	policy  policyFlags
	aws     awsFlags
	journal journalFlags
}

func newPolicyExplainCommand(g *GlobalOptions) *cobra.Command {
	var opts PolicyExplainOptions
	cmd := &cobra.Command{
		Use:   "explain --account ID --user NAME [--key KEY-ID]",
		Short: "Show how the policy judges one user's keys, rule by rule",
		Long: `Read one account and show, for each of a user's keys (or one key), every
rule: whether it fired and why — what was measured, the thresholds and the
override that set them, the exemption that matched and until when.

Use --user '<root_account>' for the root user's keys.`,
		Example: `  keywarden policy explain --account 111111111111 --user svc-billing
  keywarden policy explain --account 111111111111 --user alice --key AKIA… --as-of 2027-01-31`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, req := range []struct{ flag, value string }{{"account", opts.Account}, {"user", opts.User}} {
				if req.value == "" {
					return usagef(cmd, "--%s is required", req.flag)
				}
			}
			return runPolicyExplain(cmd, opts, g.Logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Account, "account", "", "the `account ID` (required)")
	f.StringVar(&opts.User, "user", "", "the IAM user `name` (required)")
	f.StringVar(&opts.Key, "key", "", "only this access `key ID`")
	opts.policy.add(cmd)
	f.StringVar(&opts.read.Source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	f.StringVar(&opts.read.AsOf, "as-of", "", "judge as if it were this `date` (YYYY-MM-DD or RFC 3339)")
	opts.read.KeyIDs, opts.read.Parallel, opts.read.AccountTimeout = string(engine.KeyIDsAll), 1, inventory.DefaultAccountTimeout
	opts.role.add(cmd)
	opts.aws.add(cmd)
	opts.journal.add(cmd)
	return cmd
}

func runPolicyExplain(cmd *cobra.Command, o PolicyExplainOptions, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if !accountIDPattern.MatchString(o.Account) {
		return usagef(cmd, "--account %q: not an account ID (12 digits)", o.Account)
	}
	// The account is the one asked about, whatever the policy file selects.
	j, err := prepare(cmd, o.policy, selectionFlags{Accounts: []string{o.Account}}, o.role, o.read)
	if err != nil {
		return err
	}
	j.read.Selection = inventory.Selection{Accounts: []string{o.Account}}
	j.read.Parallel = 1
	j.read.KeyIDs = engine.KeyIDsAll
	st, err := o.journal.open(ctx, o.aws)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	if err := j.connect(ctx, "explain", o.aws, st, log, nil); err != nil {
		return err
	}
	res, err := scanWithProgress(ctx, j.eng, j.read, stderr)
	if err != nil {
		return err
	}
	if err := j.eng.ReadRotations(ctx, res); err != nil {
		return err
	}
	acct := res.Inventory.Accounts[0]
	expl, err := j.pol.Explain(acct, o.User, o.Key, policy.Options{AsOf: res.AsOf})
	if err != nil {
		return err
	}
	if err := renderExplanation(stdout, j.pol, acct, expl, res.AsOf); err != nil {
		return err
	}
	return renderRotations(stdout, res.Rotations, o.User, o.Key)
}

// renderRotations says where each rotation of the user's keys (or of the
// one key) is: created, secret stored, new key used, old key quiet since,
// cutover due.
func renderRotations(w io.Writer, rs []remediate.RotationState, user, key string) error {
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	for _, r := range rs {
		if r.UserName != user || key != "" && key != r.OldKeyID && key != r.NewKeyID {
			continue
		}
		fmt.Fprintf(w, "\nrotation of %s (docs/rotation.md): %s\n", r.OldKeyID, r.Phase)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  new key\t%s, created %s\n", r.NewKeyID, day(r.CreatedAt))
		fmt.Fprintf(tw, "  secret stored\t%s in %s\n", day(r.StoredAt), r.SecretARN)
		used := "not yet"
		if r.NewKeyUsedAt != nil {
			used = "last used " + day(*r.NewKeyUsedAt)
		}
		fmt.Fprintf(tw, "  new key used\t%s\n", used)
		fmt.Fprintf(tw, "  old key quiet since\t%s\n", day(r.OldKeyQuietSince))
		due := "once the new key is used"
		if r.CutoverAt != nil {
			due = day(*r.CutoverAt)
		}
		fmt.Fprintf(tw, "  cutover due\t%s\n", due)
		if r.Deadline != nil {
			fmt.Fprintf(tw, "  deadline\t%s (the old key's deactivate stage)\n", day(*r.Deadline))
		}
		fmt.Fprintf(tw, "  \t%s\n", r.Describe())
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// renderExplanation prints every rule's judgement of each key.
func renderExplanation(w io.Writer, pol *policy.Policy, acct inventory.AccountInventory, expl []policy.KeyExplanation, asOf time.Time) error {
	a := acct.Account
	src := pol.Source
	if src == "" {
		src = "the built-in policy"
	}
	name := a.ID
	if a.Name != "" {
		name += " (" + a.Name
		if a.OUPath != "" {
			name += ", " + a.OUPath
		}
		name += ")"
	}
	fmt.Fprintf(w, "account %s\nuser %s, judged by %s as of %s\n", name, expl[0].User, src, asOf.Format("2006-01-02 15:04 MST"))
	user := inventory.User{Name: expl[0].User}
	for _, u := range acct.Users {
		if u.Name == user.Name {
			user = u
		}
	}
	for _, line := range whoIsTold(pol, a, user) {
		fmt.Fprintln(w, line)
	}
	for _, ke := range expl {
		fmt.Fprintln(w)
		if len(ke.Judgements) == 0 {
			if ke.User == policy.RootUserName {
				fmt.Fprintln(w, "the root user has no access keys")
			} else {
				fmt.Fprintln(w, "the user has no access keys")
			}
			continue
		}
		fmt.Fprintln(w, describeKey(ke, asOf))
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, j := range ke.Judgements {
			verdict := "no"
			switch {
			case !j.Applies && !j.Fired:
				verdict = "n/a"
			case j.Fired && j.Finding.Exempt:
				verdict = "EXEMPT"
			case j.Fired:
				verdict = "FIRED"
			}
			why := j.Why
			if j.Fired {
				f := j.Finding
				why = f.Message
				if f.NextStage != "" {
					why += fmt.Sprintf("; %s on %s", f.NextStage, f.NextStageAt.Format("2006-01-02"))
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", j.Rule, verdict, why)
			if th := thresholds(j.Config); th != "" {
				fmt.Fprintf(tw, "  \t\tthresholds: %s; severity %s\n", th, j.Config.Severity)
			}
			for _, s := range j.Sources {
				fmt.Fprintf(tw, "  \t\tchanged by the %s\n", s)
			}
			if e := j.Exemption; e != nil {
				state := "exempt"
				if j.ExemptionExpired {
					state = "exemption expired"
				}
				until := ""
				if e.Expires != nil {
					until = ", until " + e.Expires.String()
				}
				fmt.Fprintf(tw, "  \t\t%s: %q (line %d%s)\n", state, e.Reason, e.Line, until)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func describeKey(ke policy.KeyExplanation, asOf time.Time) string {
	k := ke.Key
	id := k.ID
	if id == "" {
		id = fmt.Sprintf("slot %d (ID not known)", k.Slot)
	}
	used := "never used"
	if !k.LastUsedAt.IsZero() {
		used = "last used " + k.LastUsedAt.Format("2006-01-02")
		if k.LastUsedService != "" {
			used += " (" + k.LastUsedService + ")"
		}
	}
	if ke.User == policy.RootUserName {
		return fmt.Sprintf("root key: %s", strings.ToLower(k.Status))
	}
	age := int(asOf.Sub(k.CreatedAt) / (24 * time.Hour))
	ago := fmt.Sprintf("%d days ago", age)
	if age == 1 {
		ago = "1 day ago"
	}
	return fmt.Sprintf("key %s: %s, created %s (%s), %s", id, k.Status, k.CreatedAt.Format("2006-01-02"), ago, used)
}

// thresholds lists a rule's stages: "warn 80d, rotate 90d".
func thresholds(c policy.RuleConfig) string {
	var parts []string
	for _, s := range policy.Stages {
		if d := c.Get(s); d != nil {
			parts = append(parts, string(s)+" "+d.String())
		}
	}
	if c.Action != "" && c.Action != policy.ActionReport {
		parts = append(parts, "action "+c.Action)
	}
	return strings.Join(parts, ", ")
}

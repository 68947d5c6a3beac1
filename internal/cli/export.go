package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/securityhub"
)

// exportFlags are the flags of "keywarden export securityhub".
type exportFlags struct {
	accountFlags
}

func newExportCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Send the findings of a scan to another system",
		Long: `Scan the selected accounts, judge every key by the policy, and send the
findings to another system. To write them to a file instead, use
'keywarden scan --format asff' (AWS Security Finding Format) or
'--format ocsf' (OCSF Compliance Finding events).`,
	}
	cmd.AddCommand(newExportSecurityHubCommand(g))
	return cmd
}

func newExportSecurityHubCommand(g *GlobalOptions) *cobra.Command {
	var o exportFlags
	cmd := &cobra.Command{
		Use:   "securityhub",
		Short: "Scan, then import the findings into AWS Security Hub",
		Long: `Scan the selected accounts as 'keywarden scan' does, judge every key by the
policy, and import the findings into AWS Security Hub with
BatchImportFindings, as a custom integration: one finding per key and rule.

Each account's findings are imported into that account's Security Hub, in
the region of the AWS configuration (--region), through the same role the
scan reads it with: BatchImportFindings only takes a custom integration's
findings from their own account. The role (and the caller, for its own
account) needs securityhub:GetFindings and securityhub:BatchImportFindings,
and Security Hub must be enabled there; a delegated administrator then sees
every account's findings.

A finding's Id is the same from one run to the next, so the next export
updates it instead of adding another. A finding that is no longer found (the
key was rotated, used, deleted) is resolved: imported again as PASSED and
ARCHIVED. Only accounts read completely are resolved; an account that could
not be read keeps its findings as they were. Exempt findings are imported
ARCHIVED, with the exemption's reason in their product fields.

Prints "Security Hub: N imported, M resolved, K failed". Exit codes: 1 when
any finding could not be imported (each is named on stderr), 3 when some
accounts could not be read (their findings are left alone). See
docs/scripting.md.`,
		Example: `  keywarden export securityhub --org
  keywarden export securityhub --accounts 111111111111 --region eu-west-1`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExportSecurityHub(cmd, o, g.Logger)
		},
	}
	o.accountFlags.add(cmd, false)
	return cmd
}

// maxFailuresShown is how many findings that failed are named on stderr.
const maxFailuresShown = 10

func runExportSecurityHub(cmd *cobra.Command, o exportFlags, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.read.AsOf != "" {
		return usagef(cmd, "--as-of: Security Hub gets what is true now; to see a forecast, run 'keywarden scan --as-of'")
	}
	j, err := o.prepare(cmd)
	if err != nil {
		return err
	}
	if err := j.connect(ctx, "export", o.aws, nil, log, nil); err != nil {
		return err
	}
	progress := newProgress(stderr)
	j.read.Progress = progress.update
	res, err := j.eng.ExportSecurityHub(ctx, engine.ExportRequest{Read: j.read, ProductVersion: buildVersion()})
	progress.finish()
	if err != nil {
		return err
	}
	for _, a := range res.Scan.Skipped {
		fmt.Fprintf(stderr, "keywarden: skipping account %s (%s): it is %s\n", a.ID, a.Name, a.State)
	}

	// Findings refused one by one are named; those of an account whose
	// export stopped are not: its error says why.
	total := res.Total()
	var accountErrs []string
	var refused []securityhub.Failure
	for _, r := range res.Accounts {
		if r.Err != nil {
			accountErrs = append(accountErrs, r.AccountID)
			fmt.Fprintf(stderr, "keywarden: security hub of account %s (%s): %v\n", r.AccountID, res.Region, r.Err)
			continue
		}
		refused = append(refused, r.Failures...)
	}
	for i, f := range refused {
		if i == maxFailuresShown {
			fmt.Fprintf(stderr, "keywarden: and %d more findings not imported\n", len(refused)-i)
			break
		}
		fmt.Fprintf(stderr, "keywarden: finding %s not imported: %s: %s\n", f.ID, f.Code, f.Message)
	}
	fmt.Fprintf(stdout, "Security Hub: %d imported, %d resolved, %d failed\n", total.Imported, total.Resolved, total.Failed)

	if total.Failed > 0 || len(accountErrs) > 0 {
		msg := fmt.Sprintf("%d findings could not be imported into Security Hub", total.Failed)
		if len(accountErrs) > 0 {
			msg += fmt.Sprintf(" (accounts %s failed; check that Security Hub is enabled in %s and that the role may call securityhub:GetFindings and securityhub:BatchImportFindings)",
				listSome(accountErrs, 3), res.Region)
		}
		return errors.New(msg)
	}
	inv := res.Scan.Inventory
	if failed := inv.Incomplete(); len(failed) > 0 {
		return fmt.Errorf("%w: %s and their findings in Security Hub were left as they were (%s)",
			ErrPartial, incompleteCount(failed, len(inv.Accounts)), failedSummary(failed))
	}
	return nil
}

// renderScan renders a scan's document in format f: asff and ocsf with
// the region of the AWS configuration and keywarden's version, which
// report.Render does not know.
func renderScan(w io.Writer, doc *report.Document, f report.Format, region string) error {
	switch f {
	case report.FormatASFF:
		return report.RenderASFF(w, doc, report.ASFFOptions{Region: region, ProductVersion: buildVersion()})
	case report.FormatOCSF:
		return report.RenderOCSF(w, doc, report.OCSFOptions{ProductVersion: buildVersion()})
	}
	return report.Render(w, doc, f)
}

// listSome joins the first n of ss, and says how many more there are.
func listSome(ss []string, n int) string {
	if len(ss) <= n {
		return strings.Join(ss, ", ")
	}
	return strings.Join(ss[:n], ", ") + fmt.Sprintf(" and %d more", len(ss)-n)
}

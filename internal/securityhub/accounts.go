package securityhub

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keywarden/keywarden/internal/report"
)

// AccountResult is what an export did in one account.
type AccountResult struct {
	AccountID string
	Result
	// Err says why the account's export stopped; its findings not sent
	// are then counted as failed with the code NotSent.
	Err error
}

// ExportAccounts imports each account's findings into that account's own
// Security Hub (BatchImportFindings only takes a custom integration's
// findings from their own account), parallel accounts at a time. One
// account failing does not stop the others. accounts are the accounts
// read completely: only their stale findings are resolved.
func ExportAccounts(ctx context.Context, accounts []string, findings []report.ASFFFinding, clientFor func(accountID string) API,
	productARN func(accountID string) string, parallel int, now time.Time) ([]AccountResult, error) {
	byAccount := map[string][]report.ASFFFinding{}
	for _, f := range findings {
		byAccount[f.AWSAccountID] = append(byAccount[f.AWSAccountID], f)
	}
	results := make([]AccountResult, len(accounts))
	var g errgroup.Group
	g.SetLimit(max(parallel, 1))
	for i, id := range accounts {
		g.Go(func() error {
			r, err := Export(ctx, clientFor(id), byAccount[id], Options{ProductARN: productARN(id), Accounts: []string{id}, Now: now})
			if err != nil && r.Failed == 0 {
				// Nothing was sent: every finding of the account failed.
				for _, f := range byAccount[id] {
					r.Failures = append(r.Failures, Failure{ID: f.ID, Code: "NotSent", Message: err.Error()})
				}
				r.Failed = len(r.Failures)
			}
			results[i] = AccountResult{AccountID: id, Result: r, Err: err}
			return nil
		})
	}
	_ = g.Wait() // the functions return nil; errors are per account
	return results, ctx.Err()
}

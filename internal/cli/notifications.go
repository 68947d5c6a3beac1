package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// whoIsTold says who is told about a user's keys, for policy explain:
// "owner: alice@example.com (via tag owner)", and the security team.
func whoIsTold(pol *policy.Policy, acct inventory.Account, u inventory.User) []string {
	var lines []string
	to, ok := notify.Route(pol, notify.Owner{AccountID: acct.ID, AccountEmail: acct.Email, UserName: u.Name, Tags: u.Tags})
	switch {
	case !ok:
		lines = append(lines, "owner: not found (no owner tag, owners entry, account e-mail or default)")
	default:
		line := fmt.Sprintf("owner: %s (via %s)", to.Contact, to.Via)
		if to.Channel != "" {
			line += " through channel " + to.Channel
		}
		lines = append(lines, line)
	}
	if team, ok := notify.Team(pol); ok {
		lines = append(lines, fmt.Sprintf("security team: %s (channel %s)", team.Contact, team.Channel))
	}
	if len(pol.Notifications.Channels) == 0 {
		lines[0] += "; no notification channels: nothing is sent"
	}
	return lines
}

// printNotifications lists a run's notifications, for history.
func printNotifications(w io.Writer, ns []store.Notification) {
	if len(ns) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTIFIED\tRECIPIENT\tCHANNEL\tACCOUNT\tUSER\tKEY ID\tOUTCOME\tATTEMPTS\tDETAIL")
	for _, n := range ns {
		recipient := strings.TrimPrefix(n.Recipient, n.Channel+":")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.At.Format(time.RFC3339), recipient, n.Channel,
			n.AccountID, n.UserName, n.AccessKeyID, n.Outcome, n.Attempts, n.Detail)
	}
	tw.Flush()
}

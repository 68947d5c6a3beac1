package notify

import (
	"fmt"
	"net/mail"
	"path"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
)

// Owner is what routing knows of the owner of a key: its user's name and
// tags, and its account.
type Owner struct {
	AccountID string
	// AccountEmail is the account's e-mail in AWS Organizations, "" when
	// not known.
	AccountEmail string
	UserName     string
	Tags         inventory.Tags
}

// Route finds who is told about the keys of o, and says why (Via): the
// first of
//
//  1. a contact in one of the user's tags (notifications.owner_tags, in
//     order; a tag key matches regardless of case, an exact match first);
//  2. the first entry of the owners map whose users and accounts match;
//  3. the account's Organizations e-mail (notifications.account_contact);
//  4. the default recipient.
//
// A contact that the channel cannot reach (a tag value that is not an
// e-mail address, for an e-mail channel) is passed over, and the next
// source is tried. It returns false when nobody is found. Without
// channels, the recipient has no Channel: it says who would be told.
func Route(p *policy.Policy, o Owner) (Recipient, bool) {
	n := p.Notifications
	reaches := func(channel, contact string) bool {
		contact = strings.TrimSpace(contact)
		if contact == "" {
			return false
		}
		if c, ok := n.Channels[channel]; ok && channelconfig.IsEmail(c.Type) {
			_, err := mail.ParseAddressList(contact)
			return err == nil
		}
		return true
	}
	for _, key := range n.OwnerTags {
		if v, k, ok := tag(o.Tags, key); ok && reaches(n.OwnerChannel, v) {
			return Recipient{Contact: strings.TrimSpace(v), Channel: n.OwnerChannel, Via: "tag " + k}, true
		}
	}
	for _, r := range n.Owners {
		if !matches(r, o) {
			continue
		}
		ch := r.Channel
		if ch == "" {
			ch = n.OwnerChannel
		}
		return Recipient{Contact: r.Contact, Channel: ch, Via: fmt.Sprintf("owners map (%s)", location(p, r.Line))}, true
	}
	if n.AccountContact && reaches(n.OwnerChannel, o.AccountEmail) {
		if _, err := mail.ParseAddress(o.AccountEmail); err == nil {
			return Recipient{Contact: o.AccountEmail, Channel: n.OwnerChannel, Via: "account contact"}, true
		}
	}
	if d := n.Default; d != nil {
		return Recipient{Contact: d.Contact, Channel: d.Channel, Via: "default"}, true
	}
	return Recipient{}, false
}

// Team returns the security team's recipient, if there is one.
func Team(p *policy.Policy) (Recipient, bool) {
	t := p.Notifications.SecurityTeam
	if t == nil {
		return Recipient{}, false
	}
	return Recipient{Contact: t.Contact, Channel: t.Channel, Team: true, Via: "security team"}, true
}

// tag finds the tag key in tags: exactly, else regardless of case (the
// first in order of key, so that the answer does not depend on the order
// of the tags).
func tag(tags inventory.Tags, key string) (value, found string, ok bool) {
	if v, ok := tags.Get(key); ok && strings.TrimSpace(v) != "" {
		return v, key, true
	}
	for _, t := range tags {
		if strings.EqualFold(t.Key, key) && strings.TrimSpace(t.Value) != "" && (!ok || t.Key < found) {
			value, found, ok = t.Value, t.Key, true
		}
	}
	return value, found, ok
}

func matches(r policy.OwnerRoute, o Owner) bool {
	if len(r.Accounts) > 0 && !slices.Contains(r.Accounts, o.AccountID) {
		return false
	}
	if len(r.Users) > 0 && !slices.ContainsFunc(r.Users, func(g string) bool {
		ok, _ := path.Match(g, o.UserName)
		return ok
	}) {
		return false
	}
	return len(r.Accounts)+len(r.Users) > 0
}

func location(p *policy.Policy, line int) string {
	src := p.Source
	if src == "" {
		src = "policy"
	}
	return fmt.Sprintf("%s:%d", src, line)
}

package policy

import (
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

var (
	notificationKeys = []string{"owner_tags", "owner_channel", "owners", "account_contact", "default", "security_team", "renotify_after", "channels", "templates"}
	ownerRouteKeys   = []string{"users", "accounts", "contact", "channel"}
	contactKeys      = []string{"contact", "channel"}
	templateKeys     = []string{"owner", "team", "owner_html", "team_html"}
	tagKeyPattern    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// channelRef is a place in the file that names a channel, checked once
// every channel is known.
type channelRef struct {
	node    *yaml.Node
	field   string
	name    string
	contact string // the contact it reaches, "" when none is fixed
}

// notifications reads the notifications section over the defaults: each
// setting it writes replaces the default's.
func (l *loader) notifications(n *yaml.Node, field string, out *Notifications) {
	var refs []channelRef
	var ownerChannel *yaml.Node
	var ownerRoutes []channelRef // owners entries without a channel
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "owner_tags":
			out.OwnerTags = l.strings(v, f, false, checkTagKey)
		case "owner_channel":
			if s, ok := l.text(v, f); ok {
				out.OwnerChannel = s
				ownerChannel = v
				refs = append(refs, channelRef{node: v, field: f, name: s})
			}
		case "owners":
			out.Owners = nil
			l.sequence(v, f, func(i int, item *yaml.Node) {
				r, ok := l.ownerRoute(item, index(f, i))
				if !ok {
					return
				}
				if r.Channel != "" {
					refs = append(refs, channelRef{node: item, field: child(index(f, i), "channel"), name: r.Channel, contact: r.Contact})
				} else {
					ownerRoutes = append(ownerRoutes, channelRef{node: item, field: index(f, i)})
				}
				out.Owners = append(out.Owners, r)
			})
		case "account_contact":
			if b, ok := l.boolean(v, f); ok {
				out.AccountContact = b
			}
		case "default", "security_team":
			c := l.contact(v, f)
			if key == "default" {
				out.Default = c
			} else {
				out.SecurityTeam = c
			}
			if c != nil {
				refs = append(refs, channelRef{node: v, field: child(f, "channel"), name: c.Channel, contact: c.Contact})
			}
		case "renotify_after":
			if d := l.duration(v, f); d != nil {
				out.RenotifyAfter = *d
			}
		case "channels":
			out.Channels = channelconfig.Parse(channelReader{l}, v, f)
		case "templates":
			l.templates(v, f, &out.Templates)
		default:
			l.unknownKey(k, field, key, notificationKeys)
		}
	})

	// The channels named exist, and e-mail channels get e-mail addresses.
	for _, r := range refs {
		c, ok := out.Channels[r.name]
		if !ok {
			l.problem(r.node, r.field, "no channel named %q: %s", r.name, channelNames(out.Channels))
			continue
		}
		if r.contact != "" && channelconfig.IsEmail(c.Type) {
			if _, err := mail.ParseAddressList(r.contact); err != nil {
				l.problem(r.node, strings.TrimSuffix(r.field, "channel")+"contact", "channel %s sends e-mail, and %q is not an e-mail address", r.name, r.contact)
			}
		}
	}
	if len(out.Channels) == 0 {
		return // nothing is sent: routing only names who would be told
	}
	// Contacts from tags and account e-mails go through the owner channel:
	// by default the default's channel, else the only e-mail channel.
	if out.OwnerChannel == "" {
		if out.Default != nil {
			out.OwnerChannel = out.Default.Channel
		} else if email := emailChannels(out.Channels); len(email) == 1 {
			out.OwnerChannel = email[0]
		}
	}
	if out.OwnerChannel != "" {
		return
	}
	for _, r := range ownerRoutes {
		l.problem(r.node, r.field, "no channel: give this entry a channel, or set owner_channel for it to use")
	}
	if (len(out.OwnerTags) > 0 || out.AccountContact) && ownerChannel == nil {
		l.problem(n, child(field, "owner_channel"), "missing: say which channel reaches the contacts found in user tags and account e-mails (owner_channel: NAME), or turn those off with owner_tags: [] and account_contact: false")
	}
}

func emailChannels(chs map[string]channelconfig.Config) []string {
	var out []string
	for name, c := range chs {
		if channelconfig.IsEmail(c.Type) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func channelNames(chs map[string]channelconfig.Config) string {
	if len(chs) == 0 {
		return "no channels are configured (add one under notifications.channels)"
	}
	names := make([]string, 0, len(chs))
	for n := range chs {
		names = append(names, n)
	}
	sort.Strings(names)
	return "the channels are " + strings.Join(names, ", ")
}

func (l *loader) ownerRoute(item *yaml.Node, f string) (OwnerRoute, bool) {
	if item.Kind != yaml.MappingNode {
		l.problem(item, f, "want an owner (a mapping with users or accounts, and a contact), not %s", describe(item))
		return OwnerRoute{}, false
	}
	r := OwnerRoute{Line: item.Line}
	criteria, contact := false, false
	l.mapping(item, f, "", func(key string, k, v *yaml.Node) {
		g := child(f, key)
		switch key {
		case "users":
			criteria = true
			r.Users = l.strings(v, g, true, checkGlob)
		case "accounts":
			criteria = true
			r.Accounts = l.strings(v, g, true, checkAccountID)
		case "contact":
			contact = true
			if s, ok := l.text(v, g); ok {
				if strings.TrimSpace(s) == "" {
					l.problem(v, g, "blank: say who is told")
				}
				r.Contact = s
			}
		case "channel":
			if s, ok := l.text(v, g); ok {
				r.Channel = s
			}
		default:
			l.unknownKey(k, f, key, ownerRouteKeys)
		}
	})
	if !contact {
		l.problem(item, child(f, "contact"), "missing: say who is told (contact: team@example.com)")
	}
	if !criteria {
		l.problem(item, f, "matches every key: give users or accounts (the default section is for everyone else)")
	}
	return r, contact
}

// contact reads a fixed recipient; nil for a null node or when it has
// problems.
func (l *loader) contact(n *yaml.Node, field string) *Contact {
	if isNull(n) {
		return nil
	}
	var c Contact
	ok := true
	l.mapping(n, field, "a contact and a channel", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "contact":
			if s, good := l.text(v, f); !good {
				ok = false
			} else if strings.TrimSpace(s) == "" {
				l.problem(v, f, "blank: say who is told")
				ok = false
			} else {
				c.Contact = s
			}
		case "channel":
			if s, good := l.text(v, f); good {
				c.Channel = s
			} else {
				ok = false
			}
		default:
			l.unknownKey(k, field, key, contactKeys)
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !hasKey(n, "contact") {
		l.problem(n, child(field, "contact"), "missing: say who is told (contact: security@example.com)")
		ok = false
	}
	if !hasKey(n, "channel") {
		l.problem(n, child(field, "channel"), "missing: name the channel that reaches the contact")
		ok = false
	}
	if !ok {
		return nil
	}
	return &c
}

func (l *loader) templates(n *yaml.Node, field string, t *Templates) {
	l.mapping(n, field, "a mapping of template files", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		var dst *string
		switch key {
		case "owner":
			dst = &t.Owner
		case "team":
			dst = &t.Team
		case "owner_html":
			dst = &t.OwnerHTML
		case "team_html":
			dst = &t.TeamHTML
		default:
			l.unknownKey(k, field, key, templateKeys)
			return
		}
		if s, ok := l.text(v, f); ok {
			if strings.TrimSpace(s) == "" {
				l.problem(v, f, "empty file name: name a template file, or leave the key out for the default")
				return
			}
			*dst = s
		}
	})
}

func checkTagKey(s string) string {
	if !tagKeyPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a tag key: 1 to 128 letters, digits, spaces and _.:/=+-@", s)
	}
	return ""
}

// channelReader reads notifications.channels for package channelconfig
// with this loader, so that the channels' problems are sorted, placed and
// worded with the rest of the file's.
type channelReader struct{ l *loader }

func (r channelReader) Problem(n *yaml.Node, field, format string, args ...any) {
	r.l.problem(n, field, format, args...)
}

func (r channelReader) Problems() int { return len(r.l.problems) }

func (r channelReader) Mapping(n *yaml.Node, field, want string, fn func(key string, k, v *yaml.Node)) {
	r.l.mapping(n, field, want, fn)
}

func (r channelReader) Text(n *yaml.Node, field string) (string, bool) { return r.l.text(n, field) }

func (r channelReader) Boolean(n *yaml.Node, field string) (bool, bool) { return r.l.boolean(n, field) }

func (r channelReader) UnknownKey(k *yaml.Node, field, key string, known []string) {
	r.l.unknownKey(k, field, key, known)
}

func (channelReader) Describe(n *yaml.Node) string { return describe(n) }

func (channelReader) Suggest(s string, known []string) string { return suggest(s, known) }

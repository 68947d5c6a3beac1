package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
)

//go:embed templates/*
var defaultTemplates embed.FS

// View is what a template sees: the digest, its subject, and its items
// split into announcements (Done) and warnings.
type View struct {
	Digest
	Subject  string
	Done     []Item
	Warnings []Item
}

// Renderer turns digests into messages: text and HTML from templates (the
// defaults, or files that replace them), Slack blocks and the webhook's
// JSON from the digest itself.
type Renderer struct {
	ownerText, teamText *texttemplate.Template
	ownerHTML, teamHTML *htmltemplate.Template
}

// funcs are the functions templates may call besides the built-in ones.
var funcs = map[string]any{
	// date writes a day: 2026-04-01.
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	// datetime writes a moment: 2026-04-01 09:30 UTC.
	"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
	// indent indents every line of s by n spaces.
	"indent": func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	},
	// account names an item's account: 111111111111 (prod-payments).
	"account": accountName,
	// owner says who the key's owner was told through, or that nobody was.
	"owner": func(it Item) string {
		if it.Owner == "" {
			return "not found (nobody else was told)"
		}
		return it.Owner
	},
	// plural picks the word for n.
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}

func accountName(it Item) string {
	if it.AccountName == "" {
		return it.AccountID
	}
	return it.AccountID + " (" + it.AccountName + ")"
}

// DefaultRenderer renders with the built-in templates.
func DefaultRenderer() *Renderer {
	r, err := NewRenderer(policy.Templates{}, Env{})
	if err != nil {
		panic("notify: built-in templates: " + err.Error())
	}
	return r
}

// NewRenderer loads the template files the policy names (relative to
// env.Dir), keeping the built-in template for any it does not name. Its
// error names the file and what is wrong with it.
func NewRenderer(files policy.Templates, env Env) (*Renderer, error) {
	r := &Renderer{}
	var err error
	if r.ownerText, err = loadText("owner", files.Owner, "owner.txt", env); err != nil {
		return nil, err
	}
	if r.teamText, err = loadText("team", files.Team, "team.txt", env); err != nil {
		return nil, err
	}
	if r.ownerHTML, err = loadHTML("owner_html", files.OwnerHTML, "owner.html", env); err != nil {
		return nil, err
	}
	if r.teamHTML, err = loadHTML("team_html", files.TeamHTML, "team.html", env); err != nil {
		return nil, err
	}
	return r, nil
}

func readTemplate(key, file, builtin string, env Env) (name, src string, err error) {
	if file == "" {
		b, err := defaultTemplates.ReadFile("templates/" + builtin)
		return builtin, string(b), err
	}
	b, err := os.ReadFile(env.Path(file))
	if err != nil {
		return "", "", fmt.Errorf("notifications.templates.%s: %w", key, err)
	}
	return env.Path(file), string(b), nil
}

func loadText(key, file, builtin string, env Env) (*texttemplate.Template, error) {
	name, src, err := readTemplate(key, file, builtin, env)
	if err != nil {
		return nil, err
	}
	t, err := texttemplate.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("notifications.templates.%s: %w", key, err)
	}
	return t, nil
}

func loadHTML(key, file, builtin string, env Env) (*htmltemplate.Template, error) {
	name, src, err := readTemplate(key, file, builtin, env)
	if err != nil {
		return nil, err
	}
	t, err := htmltemplate.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("notifications.templates.%s: %w", key, err)
	}
	return t, nil
}

// NewView prepares a digest for templates.
func NewView(d Digest) View {
	v := View{Digest: d}
	for _, it := range d.Items {
		if it.Done {
			v.Done = append(v.Done, it)
		} else {
			v.Warnings = append(v.Warnings, it)
		}
	}
	v.Subject = defaultSubject(v)
	return v
}

func defaultSubject(v View) string {
	done, warn := len(v.Done), len(v.Warnings)
	deactivated, deleted, rotated := 0, 0, 0
	for _, it := range v.Done {
		switch it.Action {
		case ActionDeleted:
			deleted++
		case ActionRotated:
			rotated++
		default:
			deactivated++
		}
	}
	if v.To.Team {
		if rotated > 0 {
			return fmt.Sprintf("keywarden run %s: %d %s deactivated or deleted, %d rotated, %d %s", v.RunID,
				done-rotated, plural(done-rotated, "key", "keys"), rotated, warn, plural(warn, "warning", "warnings"))
		}
		return fmt.Sprintf("keywarden run %s: %d %s deactivated or deleted, %d %s", v.RunID,
			done, plural(done, "key", "keys"), warn, plural(warn, "warning", "warnings"))
	}
	var parts []string
	if rotated > 0 {
		parts = append(parts, fmt.Sprintf("%d access %s rotated (the new %s in Secrets Manager)", rotated, plural(rotated, "key", "keys"), plural(rotated, "key is", "keys are")))
	}
	if deactivated > 0 {
		parts = append(parts, fmt.Sprintf("%d access %s deactivated", deactivated, plural(deactivated, "key", "keys")))
	}
	if deleted > 0 {
		parts = append(parts, fmt.Sprintf("%d access %s deleted", deleted, plural(deleted, "key", "keys")))
	}
	if warn > 0 {
		parts = append(parts, fmt.Sprintf("%d access %s %s your attention", warn, plural(warn, "key", "keys"), plural(warn, "needs", "need")))
	}
	return "keywarden: " + strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Render renders a digest for a channel of the given type: Subject, Text
// and HTML from the templates (a template defining "subject" replaces the
// default subject), and JSON: Slack's blocks for slack, the webhook
// payload (docs/notifications.md) for every other type.
func (r *Renderer) Render(d Digest, channelType string) (Message, error) {
	v := NewView(d)
	text, html := r.ownerText, r.ownerHTML
	if d.To.Team {
		text, html = r.teamText, r.teamHTML
	}
	if t := text.Lookup("subject"); t != nil {
		var b bytes.Buffer
		if err := t.Execute(&b, v); err != nil {
			return Message{}, fmt.Errorf("render the subject: %w", err)
		}
		v.Subject = oneLine(b.String())
	}
	m := Message{To: d.To, Subject: v.Subject, Digest: d}
	var b bytes.Buffer
	if err := text.Execute(&b, v); err != nil {
		return Message{}, fmt.Errorf("render the text of the message to %s: %w", d.To.Contact, err)
	}
	m.Text = b.String()
	b.Reset()
	if err := html.Execute(&b, v); err != nil {
		return Message{}, fmt.Errorf("render the HTML of the message to %s: %w", d.To.Contact, err)
	}
	m.HTML = b.String()
	var err error
	if channelType == channelconfig.TypeSlack {
		m.JSON, err = SlackPayload(v)
	} else {
		m.JSON, err = WebhookPayload(d, v.Subject)
	}
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

// oneLine makes a header value of s: one line, blanks collapsed, at most
// 200 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

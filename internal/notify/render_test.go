package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the actual output")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// digests are the owner's and the team's digests of a run with one
// deactivation and two warnings.
func digests(t *testing.T) (ownerD, teamD notify.Digest) {
	t.Helper()
	pol := parsePolicy(t, testPolicy)
	alice := owner("alice", map[string]string{"owner": "alice@example.com"})
	second := warning("alice", "AKIAALICE00000000003")
	second.Rule, second.Stage, second.Message, second.NextStage = "unused", "warn", "active key not used for 31 days; due for a warning (30d) <&>", "deactivate"
	ds, _ := notify.Build(t.Context(), pol, "run-20260301-093000-ab12", t0, []notify.Event{
		{Item: warning("alice", "AKIAALICE00000000001"), Owner: alice},
		{Item: deactivated("alice", "AKIAALICE00000000002"), Owner: alice},
		{Item: second, Owner: alice},
	}, nil)
	if len(ds) != 2 {
		t.Fatalf("%d digests, want 2", len(ds))
	}
	return ds[0], ds[1]
}

func TestRenderDefaults(t *testing.T) {
	ownerD, teamD := digests(t)
	r := notify.DefaultRenderer()
	for _, tt := range []struct {
		name string
		d    notify.Digest
	}{{"owner", ownerD}, {"team", teamD}} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Render(tt.d, channelconfig.TypeSMTP)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name+".subject.txt", []byte(m.Subject+"\n"))
			checkGolden(t, tt.name+".txt", []byte(m.Text))
			checkGolden(t, tt.name+".html", []byte(m.HTML))
			checkGolden(t, tt.name+".webhook.json", indentJSON(t, m.JSON))
			sm, err := r.Render(tt.d, channelconfig.TypeSlack)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name+".slack.json", indentJSON(t, sm.JSON))
			if m.To != tt.d.To || len(m.Digest.Items) != len(tt.d.Items) {
				t.Errorf("the message does not carry its recipient and digest")
			}
		})
	}
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestRenderTemplatesFromFiles: the policy's template files replace the
// defaults, relative to the policy's directory; a "subject" template
// replaces the subject; a bad file is an error naming it.
func TestRenderTemplatesFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("owner.tmpl", `{{define "subject"}}[keys] {{len .Items}} for {{.To.Contact}}
{{end}}Dear {{.To.Contact}},
{{range .Items}}- {{.AccessKeyID}} ({{account .}}): {{.Outlook}} {{if not .NextAt.IsZero}}[{{date .NextAt}}]{{end}}
{{end}}`)
	write("team.html", `<p>{{len .Items}} items <b>{{.RunID}}</b></p>`)
	r, err := notify.NewRenderer(policy.Templates{Owner: "owner.tmpl", TeamHTML: "team.html"}, notify.Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ownerD, teamD := digests(t)
	m, err := r.Render(ownerD, channelconfig.TypeSMTP)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[keys] 3 for alice@example.com"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	wantText := `Dear alice@example.com,
- AKIAALICE00000000002 (111111111111 (prod)): The key was deactivated: requests signed with it now fail. 
- AKIAALICE00000000001 (111111111111 (prod)): keywarden will deactivate it on or after 2026-03-16. [2026-03-16]
- AKIAALICE00000000003 (111111111111 (prod)): keywarden will deactivate it on or after 2026-03-16. [2026-03-16]
`
	if diff := cmp.Diff(wantText, m.Text); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	if !strings.Contains(m.HTML, "Needs your attention") {
		t.Errorf("the owner's HTML is not the default")
	}
	tm, err := r.Render(teamD, channelconfig.TypeSMTP)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<p>3 items <b>run-20260301-093000-ab12</b></p>"; tm.HTML != want {
		t.Errorf("team HTML %q, want %q", tm.HTML, want)
	}
	if !strings.HasPrefix(tm.Subject, "keywarden run ") || !strings.Contains(tm.Text, "WARNINGS") {
		t.Errorf("the team's text and subject are not the defaults:\n%s\n%s", tm.Subject, tm.Text)
	}

	// Problems name the setting and the file.
	write("bad.tmpl", "{{range .Items}")
	write("unknown.tmpl", "{{.Nope}}")
	for _, tt := range []struct {
		files policy.Templates
		want  []string
	}{
		{policy.Templates{Team: "bad.tmpl"}, []string{"notifications.templates.team", "bad.tmpl"}},
		{policy.Templates{OwnerHTML: "missing.html"}, []string{"notifications.templates.owner_html", "missing.html", "no such file"}},
	} {
		_, err := notify.NewRenderer(tt.files, notify.Env{Dir: dir})
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("NewRenderer(%+v) = %v, want an error containing %q", tt.files, err, w)
			}
		}
	}
	r, err = notify.NewRenderer(policy.Templates{Owner: "unknown.tmpl"}, notify.Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render(ownerD, channelconfig.TypeSMTP); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("a template using an unknown field: Render = %v, want an error naming it", err)
	}
}

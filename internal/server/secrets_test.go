package server_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// rotatePolicy rotates keys over 90 days into Secrets Manager, in enforce
// mode.
const rotatePolicy = `version: 1
accounts: {organization: true, role_name: KeywardenSpoke}
rules:
  max_age: {warn: 80d, rotate: 90d, deactivate: 3000d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
safety:
  max_actions: 10000
  max_account_fraction: 1
rotation:
  enabled: true
automation:
  mode: enforce
`

// TestServeKeepsRotatedSecrets: after a run that rotated keys, no page of
// the API, the dashboard or the metrics holds the secret access key of a
// new key (nor, as every answer is checked, the hub's or the token).
func TestServeKeepsRotatedSecrets(t *testing.T) {
	w := newWorld(t, rotatePolicy)
	run := w.runNow()
	var secrets, newKeys []string
	for _, acct := range w.sb.Accounts() {
		for _, sec := range w.sb.Secrets(acct) {
			cur, ok := sec.Current()
			if !ok {
				continue
			}
			var v struct{ AccessKeyId, SecretAccessKey string }
			if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil || v.SecretAccessKey == "" {
				t.Fatalf("secret %s: %v", sec.Name, err)
			}
			secrets = append(secrets, v.SecretAccessKey)
			newKeys = append(newKeys, acct+"/"+v.AccessKeyId)
		}
	}
	if len(secrets) == 0 {
		t.Fatalf("run %+v rotated no key: nothing to look for", run.Summary)
	}
	paths := []string{"/metrics", "/api/v1/runs", "/api/v1/runs/" + url.PathEscape(run.ID), "/api/v1/findings", "/api/v1/findings?format=csv",
		"/api/v1/keys", "/api/v1/accounts", "/api/v1/trends", "/", "/accounts", "/runs", "/runs/" + url.PathEscape(run.ID), "/findings"}
	for _, acct := range w.sb.Accounts() {
		paths = append(paths, "/accounts/"+acct)
	}
	for _, k := range newKeys {
		acct, id, _ := strings.Cut(k, "/")
		paths = append(paths, "/api/v1/keys/"+acct+"/"+id, "/accounts/"+acct+"/keys/"+id)
	}
	shown := false
	for _, p := range paths {
		for _, accept := range []string{"application/json", "text/html"} {
			resp, body := w.do("GET", p, "", "Accept", accept)
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s: %s", p, resp.Status)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("GET %s (%s) shows a rotated key's secret", p, accept)
				}
			}
			for _, k := range newKeys {
				_, id, _ := strings.Cut(k, "/")
				shown = shown || strings.Contains(body, id)
			}
		}
	}
	if !shown {
		t.Errorf("no page names a new key: the pages looked into are not the ones that show rotations")
	}
}

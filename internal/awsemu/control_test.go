package awsemu_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// TestControlNeedsToken: the clock moves over HTTP only with the sandbox's
// control token; reading it needs none.
func TestControlNeedsToken(t *testing.T) {
	tests := []struct {
		name    string
		token   string // the sandbox's
		sent    string // the request's Authorization
		status  int
		advance bool
	}{
		{"right token", "s3cret-token", "Bearer s3cret-token", http.StatusOK, true},
		{"no token sent", "s3cret-token", "", http.StatusUnauthorized, false},
		{"wrong token", "s3cret-token", "Bearer guess", http.StatusUnauthorized, false},
		{"sandbox without a token", "", "Bearer ", http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := awsemu.New(awsemu.Options{ControlToken: tt.token})
			srv := httptest.NewServer(sb)
			defer srv.Close()
			before := sb.Clock().Now()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/_sandbox/clock?advance=72h", nil)
			if tt.sent != "" {
				req.Header.Set("Authorization", tt.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if moved := sb.Clock().Now().Sub(before) > 71*time.Hour; moved != tt.advance {
				t.Errorf("clock moved: %v, want %v", moved, tt.advance)
			}
			get, err := http.Get(srv.URL + "/_sandbox/clock")
			if err != nil {
				t.Fatal(err)
			}
			get.Body.Close()
			if get.StatusCode != http.StatusOK {
				t.Errorf("GET clock: %d, want 200 without a token", get.StatusCode)
			}
		})
	}
}

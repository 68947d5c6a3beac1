package awsemu

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// controlPrefix is where the sandbox answers its own control requests, for
// driving it from outside the process (the AWS CLI tests, a shell).
// No AWS API uses this path.
const controlPrefix = "/_sandbox/"

// serveControl answers:
//
//	GET  /_sandbox/health                    → {"ok":true}
//	GET  /_sandbox/clock                     → {"now":"…"}
//	POST /_sandbox/clock?advance=72h         → moves the clock forward
//	POST /_sandbox/clock?set=2026-01-02T15:04:05Z
//
// A POST needs "Authorization: Bearer <Options.ControlToken>": anything on
// the machine can reach a loopback port, and moving the clock changes what
// every key's age looks like.
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		token := s.opts.ControlToken
		if token == "" {
			reply(http.StatusForbidden, map[string]string{"error": "this sandbox takes no control requests over HTTP"})
			return
		}
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			reply(http.StatusUnauthorized, map[string]string{"error": "a control request needs Authorization: Bearer $KEYWARDEN_SANDBOX_TOKEN"})
			return
		}
	}
	switch r.URL.Path {
	case controlPrefix + "health":
		reply(http.StatusOK, map[string]bool{"ok": true})
	case controlPrefix + "clock":
		if r.Method == http.MethodPost {
			q := r.URL.Query()
			if d := q.Get("advance"); d != "" {
				dur, err := time.ParseDuration(d)
				if err != nil {
					reply(http.StatusBadRequest, map[string]string{"error": "advance: " + err.Error()})
					return
				}
				s.clock.Advance(dur)
			}
			if t := q.Get("set"); t != "" {
				at, err := time.Parse(time.RFC3339, t)
				if err != nil {
					reply(http.StatusBadRequest, map[string]string{"error": "set: " + err.Error()})
					return
				}
				s.clock.Set(at)
			}
		}
		reply(http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339)})
	default:
		reply(http.StatusNotFound, map[string]string{"error": "unknown control path " + r.URL.Path})
	}
}

// ControlToken is the token control requests over HTTP must carry.
func (s *Sandbox) ControlToken() string { return s.opts.ControlToken }

package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authorized reports whether r carries the token: as a bearer token, or
// as the password of HTTP Basic authentication (what a browser sends once
// asked), whatever the user name.
func (s *Server) authorized(r *http.Request) bool {
	if s.o.Token == "" {
		return false
	}
	got := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		got = strings.TrimSpace(h[7:])
	} else if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	}
	if got == "" {
		return false
	}
	// Compared as hashes, in constant time: neither the token nor its
	// length shows in the timing.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.o.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// challenge answers 401: browsers ask for the token (as a password),
// API clients read that a bearer token is wanted.
func challenge(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="keywarden"`)
	w.Header().Add("WWW-Authenticate", `Basic realm="keywarden", charset="UTF-8"`)
	writeError(w, r, http.StatusUnauthorized, msg)
}

// read guards what only reads: open, or with ProtectReads the token.
func (s *Server) read(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.ProtectReads && !s.authorized(r) {
			challenge(w, r, "this keywarden needs its API token to read: send Authorization: Bearer TOKEN")
			return
		}
		h(w, r)
	})
}

// write guards what changes state: no cross-site request (the browser's
// Sec-Fetch-Site, or Origin against Host), and the token.
func (s *Server) write(h http.HandlerFunc) http.Handler {
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Token == "" {
			writeError(w, r, http.StatusForbidden, "changes are disabled: start keywarden serve with KEYWARDEN_API_TOKEN or --token-file")
			return
		}
		if !s.authorized(r) {
			challenge(w, r, "starting a run needs the API token: send Authorization: Bearer TOKEN")
			return
		}
		h(w, r)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusForbidden, "cross-site request refused: changes must come from this site or from a client that is not a browser")
	}))
	return cop.Handler(guarded)
}

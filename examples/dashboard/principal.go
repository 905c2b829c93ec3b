package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

// principal names who holds a connection, for the per-principal caps (event
// streams, downloads): the signed-in user and how they signed in; an API key by
// a fingerprint of the key (every key signs in as "api-key", and the key itself
// must never be kept); in dev mode, where everyone is "dev", the client address.
func (s *server) principal(r *http.Request) string {
	u := api.UserFrom(r.Context())
	switch u.Method {
	case "api-key":
		key := r.Header.Get("X-API-Key")
		if key == "" {
			key = r.URL.Query().Get("api_key")
		}
		sum := sha256.Sum256([]byte(key))
		return "api-key:" + hex.EncodeToString(sum[:8])
	case "dev", "":
		return "addr:" + api.ClientAddr(s.Settings.TrustedProxies, s.auth.FromProxy, r).String()
	}
	return u.Method + ":" + u.Name
}

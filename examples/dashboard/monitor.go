package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// monitorRole is what a monitor token's answer says it is.
const monitorRole = "monitor"

// handleMonitor mints the page's monitor token: the operator listens to a room
// hidden and subscribe-only, under a fresh identity, for MonitorTTL. The room
// must exist: LiveKit would otherwise open an empty one for the monitor.
func (s *server) handleMonitor() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if _, err := s.Rooms.Get(r.Context(), name); err != nil {
			return err
		}
		u := userFrom(r.Context())
		var id [6]byte
		_, _ = rand.Read(id[:])
		tok, err := s.Tokens.Monitor(name, "monitor-"+hex.EncodeToString(id[:]), tokens.WithName("monitor ("+u.Name+")"))
		if err != nil {
			return err
		}
		s.answerToken(w, r, monitorRole, tok, 0)
		return nil
	}
}

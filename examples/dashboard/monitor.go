package main

import (
	"net/http"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// monitorRole is what a monitor token's answer says it is.
const monitorRole = "monitor"

// handleMonitor mints the page's monitor token: the operator listens to a room
// hidden and subscribe-only, under a fresh identity, for MonitorTTL. The room
// must exist: LiveKit would otherwise open an empty one for the monitor.
func (s *server) handleMonitor() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, err := s.openRoom(r)
		if err != nil {
			return err
		}
		u := api.UserFrom(r.Context())
		// A fresh reserved identity (nobody else is handed it, so the monitor
		// disconnects no one), with the proof that tells it from an impostor
		// where the server carries it (not v1.6.1: no impostor check runs there).
		id := tokens.MonitorIdentity()
		opts := []tokens.Option{tokens.WithName("monitor (" + u.Name + ")")}
		if s.Tokens.CheckOwnProof() == nil {
			opts = append(opts, s.Tokens.WithOwnProof(name, id))
		}
		tok, err := s.Tokens.Monitor(name, id, opts...)
		if err != nil {
			return err
		}
		s.answerToken(w, r, monitorRole, tok, 0)
		return nil
	}
}

// openRoom is the room a request names, if it is open: asking for a token to
// a room that does not exist is a 404, and opens none (LiveKit would open an
// empty one for whoever joins with it).
func (s *server) openRoom(r *http.Request) (string, error) {
	name := r.PathValue("name")
	_, err := s.Rooms.Get(r.Context(), name)
	return name, err
}

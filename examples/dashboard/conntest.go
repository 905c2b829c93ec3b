package main

import (
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// connTestTTL is how long the connection test's tokens live: the test
// connects within seconds of asking, and a page holds them.
const connTestTTL = 2 * time.Minute

// connTestRole is what the connection test's tokens are, in the audit line.
const connTestRole = "connection-test"

// connectionTest is what the page's connection test joins a room with: a
// hidden, subscribe-only listener (the monitor's grant) for the signal and
// ICE steps and for hearing the tone, and the tone's publisher.
type connectionTest struct {
	WSURL     string    `json:"wsUrl"`
	Room      string    `json:"room"`
	Listener  testToken `json:"listener"`  // hidden, subscribe-only, a fresh monitor-… identity
	Publisher testToken `json:"publisher"` // microphone only, no subscribing, another fresh monitor-… identity
	ExpiresAt time.Time `json:"expiresAt"`
}

// testToken is one of the connection test's two tokens.
type testToken struct {
	Token    string `json:"token"`
	Identity string `json:"identity"`
}

// handleConnectionTest mints the connection test's two tokens for an open
// room. Both identities are reserved monitor ones (nobody gets them from /api/tokens, and
// fresh each time, so the test disconnects no one) and carry the project's
// proof where the server keeps attributes. The publisher cannot be hidden:
// LiveKit tells no one of a hidden participant, and livekit-client drops a
// track whose participant it was not told of. So the room sees a participant
// named "connection test" for a few seconds; the page allows only its own
// listener to subscribe to the tone (setTrackSubscriptionPermissions), so the
// audience never hears it.
func (s *server) handleConnectionTest() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, err := s.openRoom(r)
		if err != nil {
			return err
		}
		u := api.UserFrom(r.Context())
		proof := s.Tokens.CheckOwnProof() == nil
		listenerID := tokens.MonitorIdentity()
		lopts := []tokens.Option{tokens.WithName("connection test (" + u.Name + ")"), tokens.WithTTL(connTestTTL)}
		if proof {
			lopts = append(lopts, s.Tokens.WithOwnProof(name, listenerID))
		}
		listener, err := s.Tokens.Monitor(name, listenerID, lopts...)
		if err != nil {
			return err
		}
		// A performer's grant, narrowed: the microphone only, nothing heard, no data.
		pubID := tokens.MonitorIdentity()
		popts := []tokens.Option{tokens.WithName("connection test"), tokens.WithTTL(connTestTTL), tokens.WithSources("microphone"),
			func(o *tokens.Options) {
				o.Grant.CanSubscribe, o.Grant.CanPublishData = tokens.Bool(false), tokens.Bool(false)
			}}
		if proof {
			popts = append(popts, s.Tokens.WithOwnProof(name, pubID))
		}
		publisher, err := s.Tokens.Performer(name, pubID, popts...)
		if err != nil {
			return err
		}
		c, _ := api.CallOf(r)
		c.Minted = api.Mint{Role: connTestRole, Room: name, Identity: listenerID + "," + pubID, TTL: connTestTTL}
		api.WriteJSON(w, http.StatusCreated, connectionTest{WSURL: s.WSURL, Room: name, ExpiresAt: listener.ExpiresAt,
			Listener:  testToken{Token: listener.JWT, Identity: listenerID},
			Publisher: testToken{Token: publisher.JWT, Identity: pubID}})
		return nil
	}
}

package main

// Who a show belongs to: its secrets (the OBS stream key and publish URL, a
// pull's credentials, performer tokens) go to the operator who opened it and to
// admins; closing it is theirs too. The opener is recorded with the show in its
// sealed room metadata (spacemusic/shows), so it survives a restart and is the
// same on every replica.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// keyID is an API key's fingerprint: enough to tell keys apart, nothing to
// sign in with. Only valid keys reach it, so the cache is as small as the
// configured keys, and a request pays a map read rather than a hash.
func keyID(key string) string {
	if id, ok := keyIDs.Load(key); ok {
		return id.(string)
	}
	sum := sha256.Sum256([]byte("streamkit api key\x00" + key))
	id := hex.EncodeToString(sum[:8])
	keyIDs.Store(key, id)
	return id
}

var keyIDs sync.Map // API key -> keyID

// principalOf is u as a show records its opener: the name and how it signed
// in; API keys by their fingerprint.
func principalOf(u user) shows.Principal {
	name := u.Name
	if u.KeyID != "" {
		name += ":" + u.KeyID
	}
	return shows.Principal{Name: name, Method: u.Method}
}

// withheldSecrets says why a show's answer has no stream key and no tokens.
const withheldSecrets = "this show was opened by someone else: its stream key, publish URL and performer tokens go to its opener and to admins " +
	"(an admin reveals the stream key, logged, with GET /api/ingress/{id}/stream-key)"

// ownsShow reports whether the caller gets sh's secrets.
func (s *server) ownsShow(ctx context.Context, sh shows.Show) bool {
	u := userFrom(ctx)
	return u.Role >= admin || s.Shows.OpenedBy(sh, principalOf(u))
}

// withhold takes the secrets out of a show's answer, saying why.
func (o *openedShow) withhold() {
	if o.OBS != nil {
		o.OBS.StreamKey, o.OBS.PublishURL = "", ""
		if o.OBS.Kind == string(ingress.URL) { // a pull's source: its credentials
			o.OBS.ServerURL = egress.RedactURL(o.OBS.ServerURL)
		}
	}
	for i := range o.Performers {
		p := &o.Performers[i]
		p.Token, p.WSURL, p.ExpiresAt = "", "", time.Time{}
	}
	o.Withheld = withheldSecrets
}

// closeShowRule: closing a show closes its room and deletes its ingress, each
// an admin's on its own route; an operator may close the shows they opened.
// It runs before the handler, so nothing is closed for a refused caller.
func (s *server) closeShowRule() *stricter {
	return &stricter{doc: "a show someone else opened: admin",
		need: func(ctx context.Context, in any) (role, string, error) {
			name := in.(*http.Request).PathValue("name")
			if s.Shows == nil {
				return operator, "", nil // answered 501 not_configured
			}
			mine, err := s.Shows.IsOpener(ctx, name, principalOf(userFrom(ctx)))
			switch {
			case errors.Is(err, spacemusic.ErrNotFound):
				return operator, "", nil // the handler answers 404
			case err != nil:
				return undeclared, "", showError(err)
			case !mine:
				return admin, "closing a show someone else opened (or whose metadata was tampered with)", nil
			}
			return operator, "", nil
		}}
}

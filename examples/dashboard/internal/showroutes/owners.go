package showroutes

// Who a show belongs to: its secrets (the OBS stream key and publish URL, a
// pull's credentials, performer tokens) go to the operator who opened it and to
// admins; closing it is theirs too. The opener is recorded with the show in its
// sealed room metadata (spacemusic/shows), so it survives a restart and is the
// same on every replica.

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// principalOf is u as a show records its opener: the name and how it signed
// in; API keys by their fingerprint.
func principalOf(u api.User) shows.Principal {
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
func (h *Routes) ownsShow(ctx context.Context, sh shows.Show) bool {
	u := api.UserFrom(ctx)
	return u.Role >= api.Admin || h.Shows.OpenedBy(sh, principalOf(u))
}

// withhold takes the secrets out of a show's answer, saying why.
func (o *Opened) withhold() {
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

// CloseRule: closing a show closes its room and deletes its ingress, each
// an admin's on its own route; an operator may close the shows they opened.
// It runs before the handler, so nothing is closed for a refused caller.
func (h *Routes) CloseRule() *api.Stricter {
	return &api.Stricter{Doc: "a show someone else opened: admin",
		Need: func(ctx context.Context, in any) (api.Role, string, error) {
			name := in.(*http.Request).PathValue("name")
			if h.Shows == nil {
				return api.Operator, "", nil // answered 501 not_configured
			}
			mine, err := h.Shows.IsOpener(ctx, name, principalOf(api.UserFrom(ctx)))
			switch {
			case errors.Is(err, spacemusic.ErrNotFound):
				return api.Operator, "", nil // the handler answers 404
			case err != nil:
				return api.Undeclared, "", err
			case !mine:
				return api.Admin, "closing a show someone else opened (or whose metadata was tampered with)", nil
			}
			return api.Operator, "", nil
		}}
}

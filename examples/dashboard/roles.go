package main

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

// maxOperatorTTL is the longest token an operator may mint: a show's length.
const maxOperatorTTL = 6 * time.Hour

// tokenRule: an operator hands out listener and performer tokens for people
// who are not in the room now; a moderator token, a token of any role for an
// identity in the room now (LiveKit would disconnect them when the new token
// joins: a removal) and any token beyond 6 h need an admin. Presence comes
// from the watched model (identities.go). Reserved identities are refused for
// everyone by tokenRequest.check.
func (s *server) tokenRule() *api.Stricter {
	return &api.Stricter{Doc: "moderator tokens, tokens of any role for an identity in the room now, and tokens beyond 6 h: admin",
		Need: func(ctx context.Context, in any) (api.Role, string, error) {
			t := in.(*tokenRequest)
			switch {
			case t.Role == "moderator":
				return api.Admin, "minting a moderator token", nil
			case time.Duration(t.TTL)*time.Second > maxOperatorTTL:
				return api.Admin, "a token beyond 6 h", nil
			}
			here, err := s.inRoomNow(ctx, t.Room, t.Identity)
			if err != nil {
				return api.Undeclared, "", err // unknown: refuse rather than guess
			}
			if here {
				return api.Admin, "a " + t.Role + " token for " + t.Identity + ", who is in " + t.Room + " now (LiveKit would disconnect them)", nil
			}
			return api.Operator, "", nil
		}}
}

// authorize is the one place roles are enforced: it refuses a query API key
// outside /metrics, finds the caller, checks the route's role and, for a route
// whose inputs may need more, the role this request's body needs. It returns
// the request carrying its user.
func (s *server) authorize(rt api.Route, r *http.Request) (*http.Request, error) {
	if rt.Role != api.Scrape && r.URL.RawQuery != "" && r.URL.Query().Has("api_key") {
		return r, api.NewError(http.StatusBadRequest, "api_key_in_query",
			"?api_key= is accepted on /metrics only (for scrapers); send the key in the X-API-Key header")

	}
	if rt.Role == api.Public || rt.Role == api.Signed || (rt.Role == api.Scrape && s.Settings.MetricsPublic && !access.HasCredentials(r)) {
		return r, nil
	}
	u, err := s.auth.Authenticate(r, rt.Role == api.Scrape)
	if err != nil {
		return r, err
	}
	c, r := api.CallOf(r)
	c.User = u
	need := rt.Role
	switch need {
	case api.Scrape:
		need = api.Viewer
	case api.Undeclared:
		need = api.Admin // fail closed; TestEveryRouteDeclaresARole keeps it from happening
	}
	if u.Role < need {
		return r, api.Forbidden(u, need, "this route")
	}
	if rt.Stricter == nil || u.Role == api.Admin {
		return r, nil
	}
	if rt.Request == nil { // no body: the path decides (DELETE /api/shows/{name})
		return r, s.stricterNeed(rt, r, u, r)
	}
	// The body decides: decode it (within the body limit) as the handler would,
	// and hand the handler the decoded value (bodyOf): one decoding per request.
	in := reflect.New(reflect.TypeOf(rt.Request)).Interface()
	if err := api.Decode(r, in); err != nil {
		return r, err
	}
	if err := s.stricterNeed(rt, r, u, in); err != nil {
		return r, err
	}
	c.Body = in
	return r, nil
}

// stricterNeed applies the route's stricter rule to in.
func (s *server) stricterNeed(rt api.Route, r *http.Request, u api.User, in any) error {
	need, why, err := rt.Stricter.Need(r.Context(), in)
	if err != nil {
		return err
	}
	if u.Role < need {
		return api.Forbidden(u, need, why)
	}
	return nil
}

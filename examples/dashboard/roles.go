package main

import (
	"context"
	"net/http"
	"reflect"
	"time"
)

// maxOperatorTTL is the longest token an operator may mint: a show's length.
const maxOperatorTTL = 6 * time.Hour

// tokenRule: an operator hands out listener and performer tokens for people
// who are not in the room now; a moderator token, a token of any role for an
// identity in the room now (LiveKit would disconnect them when the new token
// joins: a removal) and any token beyond 6 h need an admin. Presence comes
// from the watched model (identities.go). Reserved identities are refused for
// everyone by tokenRequest.check.
func (s *server) tokenRule() *stricter {
	return &stricter{doc: "moderator tokens, tokens of any role for an identity in the room now, and tokens beyond 6 h: admin",
		need: func(ctx context.Context, in any) (role, string, error) {
			t := in.(*tokenRequest)
			switch {
			case t.Role == "moderator":
				return admin, "minting a moderator token", nil
			case time.Duration(t.TTL)*time.Second > maxOperatorTTL:
				return admin, "a token beyond 6 h", nil
			}
			here, err := s.inRoomNow(ctx, t.Room, t.Identity)
			if err != nil {
				return undeclared, "", err // unknown: refuse rather than guess
			}
			if here {
				return admin, "a " + t.Role + " token for " + t.Identity + ", who is in " + t.Room + " now (LiveKit would disconnect them)", nil
			}
			return operator, "", nil
		}}
}

// authorize is the one place roles are enforced: it refuses a query API key
// outside /metrics, finds the caller, checks the route's role and, for a route
// whose inputs may need more, the role this request's body needs. It returns
// the request carrying its user.
func (s *server) authorize(rt route, r *http.Request) (*http.Request, error) {
	if rt.role != scrape && r.URL.RawQuery != "" && r.URL.Query().Has("api_key") {
		return r, &apiError{http.StatusBadRequest, "api_key_in_query",
			"?api_key= is accepted on /metrics only (for scrapers); send the key in the X-API-Key header"}
	}
	if rt.role == public || rt.role == signed || (rt.role == scrape && s.Settings.MetricsPublic && !hasCredentials(r)) {
		return r, nil
	}
	u, err := s.auth.authenticate(r, rt.role == scrape)
	if err != nil {
		return r, err
	}
	c, r := callOf(r)
	c.user = u
	need := rt.role
	switch need {
	case scrape:
		need = viewer
	case undeclared:
		need = admin // fail closed; TestEveryRouteDeclaresARole keeps it from happening
	}
	if u.Role < need {
		return r, forbidden(u, need, "this route")
	}
	if rt.stricter == nil || u.Role == admin {
		return r, nil
	}
	if rt.request == nil { // no body: the path decides (DELETE /api/shows/{name})
		return r, s.stricterNeed(rt, r, u, r)
	}
	// The body decides: decode it (within the body limit) as the handler would,
	// and hand the handler the decoded value (bodyOf): one decoding per request.
	in := reflect.New(reflect.TypeOf(rt.request)).Interface()
	if err := decode(r, in); err != nil {
		return r, err
	}
	if err := s.stricterNeed(rt, r, u, in); err != nil {
		return r, err
	}
	c.body = in
	return r, nil
}

// stricterNeed applies the route's stricter rule to in.
func (s *server) stricterNeed(rt route, r *http.Request, u user, in any) error {
	need, why, err := rt.stricter.need(r.Context(), in)
	if err != nil {
		return err
	}
	if u.Role < need {
		return forbidden(u, need, why)
	}
	return nil
}

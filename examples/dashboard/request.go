package main

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

type statusWriter struct {
	http.ResponseWriter
	status int
}

type ctxKey int

const keyCall ctxKey = 0

// call is what the pipeline learns about one request, kept in its context
// once (front) and filled in as it goes: each extra context would copy the
// request again.
type call struct {
	id   string
	user user // authorize
	body any  // the body authorize decoded for a stricter rule (bodyOf)
	// minted, when answerToken sets it, makes the request's one log line the
	// mint's audit line. Held by value: no allocation per mint.
	minted mint
}

// mint is what a token gave, for the audit line (never the token itself).
type mint struct {
	role, room, identity string
	ttl                  time.Duration
}

// callOf is r's call, made (and r copied) only for a request that did not come
// through front.
func callOf(r *http.Request) (*call, *http.Request) {
	if c := callIn(r.Context()); c != nil {
		return c, r
	}
	c := &call{}
	return c, r.WithContext(context.WithValue(r.Context(), keyCall, c))
}

// callIn is ctx's call; nil outside the pipeline.
func callIn(ctx context.Context) *call {
	c, _ := ctx.Value(keyCall).(*call)
	return c
}

func requestIDFrom(ctx context.Context) string {
	if c := callIn(ctx); c != nil {
		return c.id
	}
	return ""
}

// cors answers browsers from the allowed origins only; other origins get no
// CORS headers, so their browsers refuse to read the answers. true: r was a
// preflight, answered.
func cors(w http.ResponseWriter, r *http.Request, allowed map[string]bool) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !(allowed[origin] || allowed["*"]) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, X-Next-Cursor, Link")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Request-ID")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// newRequestID is 16 hex digits from the runtime's per-thread generator: a
// request ID tells requests apart and is no secret, so it need not cost a
// system call to the kernel's generator.
func newRequestID() string {
	var b [16]byte
	n := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

func redactQuery(q url.Values) string {
	if q.Has("api_key") {
		q.Set("api_key", "REDACTED")
	}
	return q.Encode()
}

// route is one endpoint: how it is reached, who may call it, what it takes and
// gives (for the OpenAPI document), and its handler.
type route struct {
	method, path string
	summary      string
	role         role      // who may call it (roles.go)
	stricter     *stricter // inputs that need more than role, checked before the handler
	stream       bool      // also served under /api/stream, the API gateway's paths
	query        []param   // documented query parameters
	request      any       // JSON body
	response     any       // success body
	contentTypes []string  // of the success body; JSON unless set
	headers      []param   // documented headers of the success answer
	ranges       bool      // answers Range requests (206, 416)
	status       int       // success status
	okToo        int       // a second success status with the same body (POST /api/shows: 200 when nothing was created)
	needs        service   // a service the dashboard may run without: 501 not_configured
	handle       handler
}

// handler is a route's work; a returned error is answered by writeError.
type handler func(w http.ResponseWriter, r *http.Request) error

type param struct {
	name, help string
	required   bool
}

// paths are the patterns the route answers on.
func (rt route) paths() []string {
	if rt.stream {
		return []string{rt.path, "/api/stream" + strings.TrimPrefix(rt.path, "/api")}
	}
	return []string{rt.path}
}

// service is an optional part of the stack a route needs.
type service string

// role says who may call a route, and what a credential is worth. The three
// signed-in roles are ordered: an admin may do what an operator may, an
// operator what a viewer may.
type role int

const (
	undeclared role = iota // a route row without a role is a bug (TestEveryRouteDeclaresARole)
	public                 // nobody needs to sign in
	signed                 // the request's own signature is its authentication (LiveKit's webhooks); no user may stand in
	scrape                 // /metrics: public, or viewer when DASHBOARD_METRICS_PUBLIC=false
	viewer                 // reads: lists, details, recordings
	operator               // runs a show: rooms, participants, tokens, ingress, recordings
	admin                  // destructive and privileged: closing, removing, deleting, revealing
)

func (r role) String() string {
	switch r {
	case public:
		return "public"
	case signed:
		return "LiveKit's signature"
	case scrape:
		return "metrics"
	case viewer:
		return "viewer"
	case operator:
		return "operator"
	case admin:
		return "admin"
	}
	return "undeclared"
}

// roleNamed is the role a credential may be given by name.
func roleNamed(name string) (role, bool) {
	switch name {
	case "viewer":
		return viewer, true
	case "operator":
		return operator, true
	case "admin":
		return admin, true
	}
	return undeclared, false
}

// stricter is what some inputs of a route need beyond the route's role: the
// route's table row names it, and authorize applies it to the decoded body
// before the handler runs, so no handler checks roles itself.
type stricter struct {
	doc string // for the OpenAPI document: which inputs need which role
	// need is the role this input needs and why (named in the 403); an error
	// refuses the request as it would refuse any input.
	need func(ctx context.Context, in any) (role, string, error)
}

// byAction is the stricter rule of a body whose "action" picks the role from
// roles; an action not in the map is left to the body's own check.
func byAction(roles map[string]role) *stricter {
	var doc []string
	for a, r := range roles {
		doc = append(doc, a+": "+r.String())
	}
	slices.Sort(doc)
	return &stricter{doc: strings.Join(doc, ", "), need: func(_ context.Context, in any) (role, string, error) {
		a := in.(interface{ ActionName() string }).ActionName()
		return roles[a], a, nil
	}}
}

func forbidden(u user, need role, what string) error {
	return &apiError{http.StatusForbidden, "forbidden", what + " needs the " + need.String() + " role; " + u.Name + " is " + u.Role.String()}
}

// user is who made a request and how they proved it.
type user struct {
	Name   string
	Email  string
	Groups []string
	Method string // forward-auth, api-key, bearer, dev
	Role   role   // what the credential is worth: viewer, operator or admin
	// KeyID tells API keys apart (they all sign in as "api-key"): a
	// fingerprint of the key, never the key. Empty for the other methods.
	KeyID string
}

func userFrom(ctx context.Context) user {
	if c := callIn(ctx); c != nil {
		return c.user
	}
	return user{}
}

func addrOf(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err == nil
}
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// bodyOf is the body authorize decoded already (for a route with a stricter
// rule), or the body decoded now (an admin's request, for whom authorize reads
// no body).
func bodyOf[T any](r *http.Request) (*T, error) {
	if c := callIn(r.Context()); c != nil {
		if v, ok := c.body.(*T); ok {
			return v, nil
		}
	}
	v := new(T)
	return v, decode(r, v)
}

// withCall is r with a new call of that ID in its context.
func withCall(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), keyCall, &call{id: id}))
}

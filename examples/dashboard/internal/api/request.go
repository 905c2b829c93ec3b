// Package api is the vocabulary of the dashboard's request pipeline: a route
// and who may call it (Role), the call a request carries through the
// pipeline, the one error type with its stable codes, JSON in and out, the
// per-client rate limiter and the request's log line. The route table and the
// handlers that use it are the dashboard's own.
package api

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

type StatusWriter struct {
	http.ResponseWriter
	Status int
}

type ctxKey int

const keyCall ctxKey = 0

// call is what the pipeline learns about one request, kept in its context
// once (front) and filled in as it goes: each extra context would copy the
// request again.
type call struct {
	ID   string
	User User // authorize
	Body any  // the body authorize decoded for a stricter rule (bodyOf)
	// minted, when answerToken sets it, makes the request's one log line the
	// mint's audit line. Held by value: no allocation per mint.
	Minted Mint
}

// Mint is what a token gave, for the audit line (never the token itself).
type Mint struct {
	Role, Room, Identity string
	TTL                  time.Duration
}

// CallOf is r's call, made (and r copied) only for a request that did not come
// through front.
func CallOf(r *http.Request) (*call, *http.Request) {
	if c := CallIn(r.Context()); c != nil {
		return c, r
	}
	c := &call{}
	return c, r.WithContext(context.WithValue(r.Context(), keyCall, c))
}

// CallIn is ctx's call; nil outside the pipeline.
func CallIn(ctx context.Context) *call {
	c, _ := ctx.Value(keyCall).(*call)
	return c
}

func RequestID(ctx context.Context) string {
	if c := CallIn(ctx); c != nil {
		return c.ID
	}
	return ""
}

// CORS answers browsers from the allowed origins only; other origins get no
// CORS headers, so their browsers refuse to read the answers. true: r was a
// preflight, answered.
func CORS(w http.ResponseWriter, r *http.Request, allowed map[string]bool) bool {
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

// NewRequestID is 16 hex digits from the runtime's per-thread generator: a
// request ID tells requests apart and is no secret, so it need not cost a
// system call to the kernel's generator.
func NewRequestID() string {
	var b [16]byte
	n := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

func RedactQuery(q url.Values) string {
	if q.Has("api_key") {
		q.Set("api_key", "REDACTED")
	}
	return q.Encode()
}

// Route is one endpoint: how it is reached, who may call it, what it takes and
// gives (for the OpenAPI document), and its handler.
type Route struct {
	Method, Path string
	Summary      string
	Role         Role      // who may call it (roles.go)
	Stricter     *Stricter // inputs that need more than role, checked before the handler
	Stream       bool      // also served under /api/stream, the API gateway's paths
	Query        []Param   // documented query parameters
	Request      any       // JSON body
	Response     any       // success body
	ContentTypes []string  // of the success body; JSON unless set
	Headers      []Param   // documented headers of the success answer
	Ranges       bool      // answers Range requests (206, 416)
	Status       int       // success status
	OKToo        int       // a second success status with the same body (POST /api/shows: 200 when nothing was created)
	Needs        Service   // a service the dashboard may run without: 501 not_configured
	Handle       Handler
}

// Handler is a route's work; a returned error is answered by writeError.
type Handler func(w http.ResponseWriter, r *http.Request) error

type Param struct {
	Name, Help string
	Required   bool
}

// Paths are the patterns the route answers on.
func (rt Route) Paths() []string {
	if rt.Stream {
		return []string{rt.Path, "/api/stream" + strings.TrimPrefix(rt.Path, "/api")}
	}
	return []string{rt.Path}
}

// Service is an optional part of the stack a route needs.
type Service string

// Role says who may call a route, and what a credential is worth. The three
// signed-in roles are ordered: an admin may do what an operator may, an
// operator what a viewer may.
type Role int

const (
	Undeclared Role = iota // a route row without a role is a bug (TestEveryRouteDeclaresARole)
	Public                 // nobody needs to sign in
	Signed                 // the request's own signature is its authentication (LiveKit's webhooks); no user may stand in
	Scrape                 // /metrics: public, or viewer when DASHBOARD_METRICS_PUBLIC=false
	Viewer                 // reads: lists, details, recordings
	Operator               // runs a show: rooms, participants, tokens, ingress, recordings
	Admin                  // destructive and privileged: closing, removing, deleting, revealing
)

func (r Role) String() string {
	switch r {
	case Public:
		return "public"
	case Signed:
		return "LiveKit's signature"
	case Scrape:
		return "metrics"
	case Viewer:
		return "viewer"
	case Operator:
		return "operator"
	case Admin:
		return "admin"
	}
	return "undeclared"
}

// RoleNamed is the role a credential may be given by name.
func RoleNamed(name string) (Role, bool) {
	switch name {
	case "viewer":
		return Viewer, true
	case "operator":
		return Operator, true
	case "admin":
		return Admin, true
	}
	return Undeclared, false
}

// Stricter is what some inputs of a route need beyond the route's role: the
// route's table row names it, and authorize applies it to the decoded body
// before the handler runs, so no handler checks roles itself.
type Stricter struct {
	Doc string // for the OpenAPI document: which inputs need which role
	// need is the role this input needs and why (named in the 403); an error
	// refuses the request as it would refuse any input.
	Need func(ctx context.Context, in any) (Role, string, error)
}

// ByAction is the stricter rule of a body whose "action" picks the role from
// roles; an action not in the map is left to the body's own check.
func ByAction(roles map[string]Role) *Stricter {
	var doc []string
	for a, r := range roles {
		doc = append(doc, a+": "+r.String())
	}
	slices.Sort(doc)
	return &Stricter{Doc: strings.Join(doc, ", "), Need: func(_ context.Context, in any) (Role, string, error) {
		a := in.(interface{ ActionName() string }).ActionName()
		return roles[a], a, nil
	}}
}

func Forbidden(u User, need Role, what string) error {
	return &Error{http.StatusForbidden, "forbidden", what + " needs the " + need.String() + " role; " + u.Name + " is " + u.Role.String()}
}

// User is who made a request and how they proved it.
type User struct {
	Name   string
	Email  string
	Groups []string
	Method string // forward-auth, api-key, bearer, dev
	Role   Role   // what the credential is worth: viewer, operator or admin
	// KeyID tells API keys apart (they all sign in as "api-key"): a
	// fingerprint of the key, never the key. Empty for the other methods.
	KeyID string
}

func UserFrom(ctx context.Context) User {
	if c := CallIn(ctx); c != nil {
		return c.User
	}
	return User{}
}

func AddrOf(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err == nil
}
func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// BodyOf is the body authorize decoded already (for a route with a stricter
// rule), or the body decoded now (an admin's request, for whom authorize reads
// no body).
func BodyOf[T any](r *http.Request) (*T, error) {
	if c := CallIn(r.Context()); c != nil {
		if v, ok := c.Body.(*T); ok {
			return v, nil
		}
	}
	v := new(T)
	return v, Decode(r, v)
}

// WithCall is r with a new call of that ID in its context.
func WithCall(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), keyCall, &call{ID: id}))
}

// CancelOnClose calls cancel when closing closes (the server shutting down),
// unless ctx ends first: work that outlives a request's answer (an event
// stream, a rehearsal) must not hold a graceful shutdown. A nil closing never
// closes.
func CancelOnClose(ctx context.Context, closing <-chan struct{}, cancel context.CancelFunc) {
	if closing == nil {
		return
	}
	go func() {
		select {
		case <-closing:
			cancel()
		case <-ctx.Done():
		}
	}()
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// This file is the one place for JSON in and out, and for turning errors into
// answers: {"error":{"code":"stable_code","message":"..."}}.

// Error is an error with the HTTP status and stable code the API answers.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError is the answer status with its stable code and a message for people.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// ErrorBody is the one error shape.
type ErrorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func BadRequest(format string, args ...any) error {
	return &Error{http.StatusBadRequest, "invalid_argument", fmt.Sprintf(format, args...)}
}

// kinds maps the library's one error set to answers. A kind can read differently
// by the system that failed: LiveKit's and the bucket's outages and refusals have
// codes of their own. LiveKit or the bucket refusing *our* credentials is this
// server's configuration (502), not the caller's fault; a token the library
// refuses locally is the caller's (401). The first match wins, so refinements come
// before the kind they refine.
type answer struct {
	status int
	code   string
}

var kinds = []struct {
	kind     error
	answer   answer
	upstream map[string]answer // by Error.Upstream, where it differs
}{
	// Nobody is handed the project's own identities, admins included.
	{tokens.ErrReservedIdentity, answer{http.StatusForbidden, "reserved_identity"}, nil},
	{spacemusic.ErrInvalidArgument, answer{http.StatusBadRequest, "invalid_argument"}, nil},
	{spacemusic.ErrNotFound, answer{http.StatusNotFound, "not_found"}, nil},
	{spacemusic.ErrAlreadyExists, answer{http.StatusConflict, "already_exists"}, nil},
	// The caller can wait a live pull out.
	{spacemusic.ErrLive, answer{http.StatusConflict, "ingress_live"}, nil},
	// A show's refusals (spacemusic/shows).
	{shows.ErrSpecChanged, answer{http.StatusConflict, "show_spec_changed"}, nil},
	{shows.ErrNotAShow, answer{http.StatusConflict, "not_a_show"}, nil},
	{shows.ErrClosing, answer{http.StatusConflict, "show_closing"}, nil},
	{shows.ErrTampered, answer{http.StatusConflict, "show_tampered"}, nil},
	{spacemusic.ErrFailedPrecondition, answer{http.StatusConflict, "failed_precondition"}, nil},
	{spacemusic.ErrResourceExhausted, answer{http.StatusServiceUnavailable, "resource_exhausted"}, nil},
	// The LiveKit release in use lacks it (LIVEKIT_SERVER_VERSION); the message
	// names the release and the one that has it.
	{spacemusic.ErrUnsupported, answer{http.StatusNotImplemented, "unsupported_by_livekit"}, nil},
	{spacemusic.ErrUnavailable, answer{http.StatusServiceUnavailable, "livekit_unavailable"},
		map[string]answer{spacemusic.UpstreamStorage: {http.StatusServiceUnavailable, "storage_unavailable"}}},
	{spacemusic.ErrUnauthorized, answer{http.StatusBadGateway, "upstream_auth"}, map[string]answer{
		spacemusic.UpstreamStorage: {http.StatusBadGateway, "storage_auth"},
		"":                         {http.StatusUnauthorized, "unauthenticated"}}},
	{spacemusic.ErrPermissionDenied, answer{http.StatusBadGateway, "upstream_permission"},
		map[string]answer{spacemusic.UpstreamStorage: {http.StatusBadGateway, "storage_auth"}}},
	{spacemusic.ErrUpstream, answer{http.StatusBadGateway, "upstream_error"},
		map[string]answer{spacemusic.UpstreamStorage: {http.StatusBadGateway, "storage_error"}}},
}

// ownCodes are the codes this server gives of its own (routing, auth, limits,
// bodies, outbound rules), beside those of kinds.
var ownCodes = []string{
	"malformed_json", "unknown_field", "body_too_large", "unsupported_media_type",
	"unauthenticated", "api_key_in_query", "forbidden", "route_not_found", "method_not_allowed",
	"rate_limited", "not_configured", "internal",
	"pull_not_allowed", "destination_not_allowed", "too_many_destinations", "events_unavailable",
	"show_live", "rehearsal_busy", // a rehearsal (rehearsal.go)
	"host_not_loopback",
	"too_many_streams", "too_many_downloads", "link_ttl_too_long", // per-principal caps and link lifetimes (principal.go)
}

// ErrorCodes lists every stable code once, for the OpenAPI document.
var ErrorCodes = func() []string {
	seen := map[string]bool{}
	var out []string
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, k := range kinds {
		add(k.answer.code)
		for _, a := range k.upstream {
			add(a.code)
		}
	}
	for _, c := range ownCodes {
		add(c)
	}
	sort.Strings(out)
	return out
}()

// ErrorAnswer says what status, code and message err becomes.
func ErrorAnswer(err error) (int, string, string) {
	var ae *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.Status, ae.Code, ae.Message
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)
	}
	var e *spacemusic.Error
	upstream := ""
	if errors.As(err, &e) {
		upstream = e.Upstream
	}
	for _, k := range kinds {
		if !errors.Is(err, k.kind) {
			continue
		}
		a, ok := k.upstream[upstream]
		if !ok {
			a = k.answer
		}
		return a.status, a.code, err.Error()
	}
	return http.StatusBadGateway, "upstream_error", "LiveKit answered with an error"
}

// WriteError answers err in the one error shape and returns the status.
func WriteError(w http.ResponseWriter, err error) int {
	status, code, msg := ErrorAnswer(err)
	WriteJSON(w, status, ErrorBody{errorDetail{code, msg}})
	return status
}

func WriteJSON(w http.ResponseWriter, status int, v any) {
	jsonHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// JSONWrite is a JSON write's handler: the request's body decoded once (by
// the route's role rule when it needed it, else here) and checked, then f's
// answer written with status. Every write of the API has this shape.
func JSONWrite[Req, Res any](status int, f func(r *http.Request, req *Req) (Res, error)) Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := BodyOf[Req](r)
		if err != nil {
			return err
		}
		res, err := f(r, req)
		if err != nil {
			return err
		}
		WriteJSON(w, status, res)
		return nil
	}
}

// WriteJSONBytes answers JSON encoded earlier (one encoding shared by many
// answers), with writeJSON's headers and its trailing newline in body.
func WriteJSONBytes(w http.ResponseWriter, status int, body []byte) {
	jsonHeaders(w)
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values every answer shares (net/http never changes a value it is
// given): no slice allocated per answer for them.
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	nosniff  = []string{"nosniff"}
)

func jsonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
}

// isJSONMediaType: application/json with any parameters (charset).
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// Decode reads exactly one JSON object into v, refusing unknown fields, then
// checks it when v knows how.
func Decode(r *http.Request, v any) error {
	// Requiring the JSON media type is also the CSRF defence for forward auth: a
	// cross-site form or fetch without preflight cannot send it with cookies.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && !isJSONMediaType(ct) {
		return &Error{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as Content-Type: application/json"}
	}
	var src io.Reader = r.Body
	if fields := flatFields(v); fields != nil {
		bp := bodies.Get().(*[]byte)
		defer bodies.Put(bp) // json.Unmarshal copies what it keeps
		b, err := readBody((*bp)[:0], r.Body)
		*bp = b
		if err == nil && decodeFlat(b, v, fields) {
			return checked(v)
		}
		// The Decoder reads what was read, then the read's error, if any.
		src = io.MultiReader(bytes.NewReader(b), failing{err})
	}
	dec := json.NewDecoder(src)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return BadRequest("request body is empty")
		case errors.As(err, &se):
			return &Error{http.StatusBadRequest, "malformed_json", fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
		case errors.As(err, &te):
			if te.Field == "" {
				return BadRequest("request body must be a JSON object")
			}
			return BadRequest("field %q must be %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return &Error{http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: ")}
		default:
			return &Error{http.StatusBadRequest, "malformed_json", "request body is not valid JSON"}
		}
	}
	if dec.More() {
		return &Error{http.StatusBadRequest, "malformed_json", "request body holds more than one JSON value"}
	}
	return checked(v)
}

// failing reads as io.EOF, or as its error when it has one.
type failing struct{ err error }

func (f failing) Read([]byte) (int, error) {
	if f.err == nil {
		return 0, io.EOF
	}
	return 0, f.err
}

// checked is v's own check, when it has one.
func checked(v any) error {
	if c, ok := v.(interface{ Check() error }); ok {
		return c.Check()
	}
	return nil
}

// NonNil is s, or an empty slice for nil: a list is answered as [], never null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

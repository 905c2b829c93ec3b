package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// This file is the one place for JSON in and out, and for turning errors into
// answers: {"error":{"code":"stable_code","message":"..."}}.

// apiError is an error with the HTTP status and stable code the API answers.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errorBody is the one error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid_argument", fmt.Sprintf(format, args...)}
}

// kinds maps the library's typed errors (every service re-exports the same
// sentinels) to answers. LiveKit refusing *our* credentials or permissions is a
// fault of this server's configuration (502), not of the caller.
var kinds = []struct {
	kind   error
	status int
	code   string
}{
	{rooms.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{tokens.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{rooms.ErrNotFound, http.StatusNotFound, "not_found"},
	{rooms.ErrAlreadyExists, http.StatusConflict, "already_exists"},
	// Before failed_precondition, which it also is: the caller can wait it out.
	{ingress.ErrLive, http.StatusConflict, "ingress_live"},
	{rooms.ErrFailedPrecondition, http.StatusConflict, "failed_precondition"},
	{rooms.ErrResourceExhausted, http.StatusServiceUnavailable, "resource_exhausted"},
	{rooms.ErrUnavailable, http.StatusServiceUnavailable, "livekit_unavailable"},
	{spacemusic.ErrNotReady, http.StatusServiceUnavailable, "livekit_unavailable"},
	{rooms.ErrUnauthorized, http.StatusBadGateway, "upstream_auth"},
	{rooms.ErrPermissionDenied, http.StatusBadGateway, "upstream_permission"},
	{rooms.ErrUpstream, http.StatusBadGateway, "upstream_error"},
	// The recordings bucket has its own errors: wrong MinIO keys are this
	// server's configuration, a missing object is the caller's.
	{recordings.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{recordings.ErrNotFound, http.StatusNotFound, "not_found"},
	{recordings.ErrUnauthorized, http.StatusBadGateway, "storage_auth"},
	{recordings.ErrUnavailable, http.StatusServiceUnavailable, "storage_unavailable"},
	{recordings.ErrStorage, http.StatusBadGateway, "storage_error"},
}

// errorCodes lists every stable code, for the OpenAPI document.
var errorCodes = []string{
	"invalid_argument", "malformed_json", "unknown_field", "body_too_large", "unsupported_media_type",
	"unauthenticated", "api_key_in_query", "forbidden", "not_found", "route_not_found", "method_not_allowed",
	"already_exists", "failed_precondition", "ingress_live", "rate_limited", "not_configured",
	"resource_exhausted", "livekit_unavailable", "upstream_auth", "upstream_permission", "upstream_error",
	"storage_auth", "storage_unavailable", "storage_error", "internal",
	"pull_not_allowed", "destination_not_allowed", "too_many_destinations",
}

// errorAnswer says what status, code and message err becomes.
func errorAnswer(err error) (int, string, string) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.Status, ae.Code, ae.Message
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)
	}
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return k.status, k.code, err.Error()
		}
	}
	return http.StatusBadGateway, "upstream_error", "LiveKit answered with an error"
}

// writeError answers err in the one error shape and returns the status.
func writeError(w http.ResponseWriter, err error) int {
	status, code, msg := errorAnswer(err)
	writeJSON(w, status, errorBody{errorDetail{code, msg}})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads exactly one JSON object into v, refusing unknown fields, then
// checks it when v knows how.
func decode(r *http.Request, v any) error {
	// Requiring the JSON media type is also the CSRF defence for forward auth: a
	// cross-site form or fetch without preflight cannot send it with cookies.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as Content-Type: application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty")
		case errors.As(err, &se):
			return &apiError{http.StatusBadRequest, "malformed_json", fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
		case errors.As(err, &te):
			if te.Field == "" {
				return badRequest("request body must be a JSON object")
			}
			return badRequest("field %q must be %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return &apiError{http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: ")}
		default:
			return &apiError{http.StatusBadRequest, "malformed_json", "request body is not valid JSON"}
		}
	}
	if dec.More() {
		return &apiError{http.StatusBadRequest, "malformed_json", "request body holds more than one JSON value"}
	}
	if c, ok := v.(interface{ check() error }); ok {
		return c.check()
	}
	return nil
}

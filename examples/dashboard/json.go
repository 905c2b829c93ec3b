package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// apiError is an error with the HTTP status and stable code the API answers.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errorBody is the one error shape: {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid_argument", fmt.Sprintf(format, args...)}
}

// kinds maps the library's typed errors to answers. LiveKit refusing *our*
// credentials is a server fault (502), not the caller's.
var kinds = []struct {
	kind   error
	status int
	code   string
}{
	{rooms.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{tokens.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{rooms.ErrNotFound, http.StatusNotFound, "not_found"},
	{rooms.ErrAlreadyExists, http.StatusConflict, "already_exists"},
	{rooms.ErrFailedPrecondition, http.StatusConflict, "failed_precondition"},
	{rooms.ErrResourceExhausted, http.StatusServiceUnavailable, "resource_exhausted"},
	{rooms.ErrUnavailable, http.StatusServiceUnavailable, "livekit_unavailable"},
	{spacemusic.ErrNotReady, http.StatusServiceUnavailable, "livekit_unavailable"},
	{rooms.ErrUnauthorized, http.StatusBadGateway, "livekit_auth"},
	{rooms.ErrPermissionDenied, http.StatusBadGateway, "livekit_permission"},
}

// writeError answers err in the one error shape and returns the status.
func writeError(w http.ResponseWriter, err error) int {
	status, code, msg := http.StatusBadGateway, "upstream_error", "LiveKit answered with an error"
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status, code, msg = ae.Status, ae.Code, ae.Message
	case errors.As(err, &mbe):
		status, code, msg = http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)
	default:
		for _, k := range kinds {
			if errors.Is(err, k.kind) {
				status, code, msg = k.status, k.code, err.Error()
				break
			}
		}
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	writeJSON(w, status, body)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads exactly one JSON object into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json"}
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
	return nil
}

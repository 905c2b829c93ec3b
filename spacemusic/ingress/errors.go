package ingress

import (
	"fmt"

	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
)

// Errors returned by the service wrap one of these; test with errors.Is. The
// concrete type is *Error, which keeps LiveKit's code and message.
var (
	ErrInvalidArgument    = lk.ErrInvalidArgument
	ErrNotFound           = lk.ErrNotFound
	ErrAlreadyExists      = lk.ErrAlreadyExists
	ErrUnauthorized       = lk.ErrUnauthorized
	ErrPermissionDenied   = lk.ErrPermissionDenied
	ErrFailedPrecondition = lk.ErrFailedPrecondition
	ErrResourceExhausted  = lk.ErrResourceExhausted
	ErrUnavailable        = lk.ErrUnavailable
	ErrUpstream           = lk.ErrUpstream

	// ErrLive is Delete refusing a URL pull that is buffering or publishing. It
	// is also ErrFailedPrecondition (errors.Is matches both).
	ErrLive = fmt.Errorf("%w: the URL pull is live", lk.ErrFailedPrecondition)
)

// Error is the error type of every call; see lk.Error's fields.
type Error = lk.Error

// Config says how to reach LiveKit: URL, API key and secret, per-call timeout and an
// optional shared *http.Client.
type Config = lk.Config

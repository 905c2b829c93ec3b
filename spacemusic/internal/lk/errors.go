// Package lk holds what every streamkit service shares: the authenticated twirp
// connection to LiveKit, the one mapping from upstream errors to typed errors, and
// input validation. Service packages re-export its sentinels so callers can write
// errors.Is(err, rooms.ErrNotFound).
package lk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/twitchtv/twirp"
)

// Sentinel kinds. Every error returned by a streamkit service wraps exactly one.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("livekit unavailable")
	ErrUpstream           = errors.New("livekit error")
)

// Error is the one error type of streamkit's services. It keeps the upstream twirp
// code and message so nothing LiveKit said is lost.
type Error struct {
	Op      string // the call, e.g. "rooms.Create"
	Kind    error  // one of the sentinels above
	Code    string // upstream twirp code; empty when the input was refused locally
	Message string // upstream or local explanation
	Hint    string // what to change, when we know
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Message != "" && e.Message != e.Kind.Error() {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Kind }

// Invalid reports input refused before any request went out.
func Invalid(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing resource found out locally (e.g. a track lookup).
func NotFound(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

var kinds = map[twirp.ErrorCode]error{
	twirp.InvalidArgument:    ErrInvalidArgument,
	twirp.Malformed:          ErrInvalidArgument,
	twirp.OutOfRange:         ErrInvalidArgument,
	twirp.NotFound:           ErrNotFound,
	twirp.BadRoute:           ErrNotFound,
	twirp.AlreadyExists:      ErrAlreadyExists,
	twirp.Unauthenticated:    ErrUnauthorized,
	twirp.PermissionDenied:   ErrPermissionDenied,
	twirp.FailedPrecondition: ErrFailedPrecondition,
	twirp.ResourceExhausted:  ErrResourceExhausted,
	twirp.Unavailable:        ErrUnavailable,
	twirp.DeadlineExceeded:   ErrUnavailable,
	twirp.Canceled:           ErrUnavailable,
}

// Map turns whatever the LiveKit client returned into an *Error. It is the only place
// that knows twirp codes.
func Map(op string, err error) error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return err
	}
	// Transport failures: LiveKit is down, unreachable or too slow.
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &netErr) {
		return &Error{Op: op, Kind: ErrUnavailable, Message: transportMessage(err)}
	}
	var te twirp.Error
	if !errors.As(err, &te) {
		return &Error{Op: op, Kind: ErrUpstream, Message: err.Error()}
	}
	kind, ok := kinds[te.Code()]
	if !ok {
		kind = ErrUpstream
		// twirp reports non-twirp HTTP answers (proxies, a starting server) as internal
		// errors carrying the HTTP status; 502-504 mean "not reachable right now".
		if s := te.Meta("status_code"); s == "502" || s == "503" || s == "504" {
			kind = ErrUnavailable
		}
	}
	return &Error{Op: op, Kind: kind, Code: string(te.Code()), Message: te.Msg()}
}

func transportMessage(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer before the deadline"
	case errors.Is(err, context.Canceled):
		return "request canceled"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Op + " " + opErr.Err.Error()
	}
	return "connection failed"
}

// Relabel keeps the kind and upstream message of an error from an inner call but
// names the outer operation, so callers see the call they made.
func Relabel(op string, err error) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Op = op
		return &c
	}
	return fmt.Errorf("%s: %w", op, err)
}

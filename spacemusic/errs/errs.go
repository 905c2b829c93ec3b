// Package errs is streamkit's one error scheme: the *Error type every service
// returns and the sentinel kinds it wraps. It imports only the standard library,
// so a program that uses one service alone tests its errors without linking the
// facade (pion, minio, go-redis):
//
//	if errors.Is(err, errs.ErrNotFound) { ... }
//
// The facade re-exports the same values (spacemusic.ErrNotFound is
// errs.ErrNotFound). Invalid, NotFound, Relabel and Transport build errors in
// this scheme, for streamkit's packages and for code that wraps them.
package errs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Sentinel kinds. Every error returned by a streamkit service is an *Error wrapping
// exactly one of these.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("unavailable")
	ErrUpstream           = errors.New("upstream error")
	// ErrUnsupported: the livekit-server in use is a release without what the
	// call needs (e.g. v1.6.1 for a feature of v1.7.0); the Hint names that release and the
	// first one that has it. It also matches the standard errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("not supported by this livekit-server: %w", errors.ErrUnsupported)
)

// The systems an Error can come from (Error.Upstream).
const (
	LiveKit = "livekit" // livekit-server, or its Ingress and Egress through it
	Storage = "storage" // the S3/MinIO recordings bucket
	Redis   = "redis"   // the shared event log
)

// Error is the one error type of streamkit's services. It keeps the upstream code
// and message so nothing LiveKit or the bucket said is lost.
type Error struct {
	Op       string // the call, e.g. "rooms.Create" or "recordings.Open"
	Kind     error  // one of the sentinels above, or a refinement that wraps one
	Upstream string // LiveKit or Storage when that system answered or failed; empty when refused locally
	Code     string // the upstream's own code (twirp, S3); empty when refused locally
	Message  string // upstream or local explanation
	Hint     string // what to change, when we know
	// Cause is the transport failure behind an ErrUnavailable (e.g.
	// context.DeadlineExceeded), for errors.Is; never part of Error(), which
	// must not carry addresses.
	Cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Upstream != "" && (errors.Is(e.Kind, ErrUnavailable) || errors.Is(e.Kind, ErrUpstream) ||
		errors.Is(e.Kind, ErrUnauthorized) || errors.Is(e.Kind, ErrPermissionDenied)) {
		b.WriteString(e.Upstream) // "livekit unavailable", "storage unauthorized"
		b.WriteString(" ")
	}
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

func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// Invalid reports input refused before any request went out.
func Invalid(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing resource found out locally (e.g. a track lookup).
func NotFound(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// Unsupported reports a feature that livekit-server at version lacks, refused
// before any request went out (the server would drop it without a word):
// since is the first release that has it.
func Unsupported(op, feature, version, since string) error {
	return &Error{Op: op, Kind: ErrUnsupported, Upstream: LiveKit, Message: fmt.Sprintf("livekit-server %s has no %s", version, feature),
		Hint: fmt.Sprintf("%s came with livekit-server %s: upgrade the server to it or later", feature, since)}
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

// Transport reports a request that got no answer from upstream (down,
// unreachable, too slow), or nil when err is not a transport failure. The
// message never carries the address.
func Transport(op, upstream string, err error) *Error {
	var netErr net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.As(err, &netErr) {
		return nil
	}
	return &Error{Op: op, Kind: ErrUnavailable, Upstream: upstream, Message: transportMessage(err), Cause: err}
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

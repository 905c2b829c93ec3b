package spacemusic

import (
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Error is the one error type of every call in streamkit, whichever service made
// it (rooms, ingress, egress, recordings, tokens) or the Client itself:
//
//	var e *spacemusic.Error
//	if errors.As(err, &e) { log(e.Op, e.Kind, e.Upstream, e.Code, e.Hint) }
//
// Its Kind is one of the sentinels below (or a refinement wrapping one), so
// errors.Is(err, spacemusic.ErrNotFound) holds for a missing room, ingress,
// egress or recording alike.
type Error = errs.Error

// The kinds of Error; test with errors.Is.
var (
	ErrInvalidArgument    = errs.ErrInvalidArgument    // refused before any request: fix the input
	ErrNotFound           = errs.ErrNotFound           // no such room, participant, ingress, egress or recording
	ErrAlreadyExists      = errs.ErrAlreadyExists      // LiveKit already has it
	ErrUnauthorized       = errs.ErrUnauthorized       // LiveKit or the bucket refused our credentials, or a token is invalid
	ErrPermissionDenied   = errs.ErrPermissionDenied   // our credentials lack the grant
	ErrFailedPrecondition = errs.ErrFailedPrecondition // not in this state (e.g. stopping a finished egress)
	ErrResourceExhausted  = errs.ErrResourceExhausted  // LiveKit, Ingress or Egress has no capacity left
	ErrUnavailable        = errs.ErrUnavailable        // down, unreachable or no answer before the deadline
	ErrUpstream           = errs.ErrUpstream           // anything else LiveKit or the bucket reported
	ErrUnsupported        = errs.ErrUnsupported        // the livekit-server release in use (Config.ServerVersion) lacks it
)

// Refinements: each is also one of the kinds above.
var (
	ErrNotReady     = errNotReady            // Health: LiveKit answers but is not ready (ErrUnavailable)
	ErrLive         = ingress.ErrLive        // deleting a URL pull that is live (ErrFailedPrecondition)
	ErrInvalidToken = tokens.ErrInvalidToken // Verify refused the token (ErrUnauthorized)
	ErrExpired      = tokens.ErrExpired      // Verify: the token has expired (ErrUnauthorized)
)

// The systems an Error's Upstream names.
const (
	UpstreamLiveKit = errs.LiveKit
	UpstreamStorage = errs.Storage
)

// The Ops of Health's errors: which check failed.
const (
	OpHealthReadiness = "health.readiness" // GET / on livekit-server
	OpHealthAPI       = "health.api"       // an authenticated ListRooms
	OpConfig          = "spacemusic.Config"
)

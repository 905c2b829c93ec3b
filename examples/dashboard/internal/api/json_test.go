package api

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// A live URL pull has its own code, ahead of the generic precondition it also is;
// other preconditions keep theirs.
func TestLivePullHasItsOwnCode(t *testing.T) {
	status, code, _ := ErrorAnswer(&spacemusic.Error{Op: "ingress.Delete", Kind: spacemusic.ErrLive, Upstream: spacemusic.UpstreamLiveKit})
	assert.Equal(t, 409, status)
	assert.Equal(t, "ingress_live", code)
	assert.Contains(t, ErrorCodes, "ingress_live")
	status, code, _ = ErrorAnswer(fmt.Errorf("x: %w", spacemusic.ErrFailedPrecondition))
	assert.Equal(t, 409, status)
	assert.Equal(t, "failed_precondition", code)
}

// A show's refusals and a reserved identity have codes of their own, ahead of
// the generic kinds they refine, wherever a route meets them: the routes map no
// error themselves.
func TestAShowsRefusalsAndReservedIdentitiesHaveTheirCodes(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{&spacemusic.Error{Op: "shows.Open", Kind: shows.ErrSpecChanged}, 409, "show_spec_changed"},
		{fmt.Errorf("shows.Open: %w", shows.ErrNotAShow), 409, "not_a_show"},
		{fmt.Errorf("shows.Open: %w", shows.ErrClosing), 409, "show_closing"},
		{fmt.Errorf("shows.Get: %w", shows.ErrTampered), 409, "show_tampered"},
		{tokens.CheckUnreserved("identity", tokens.RecorderIdentity), 403, "reserved_identity"},
	} {
		status, code, msg := ErrorAnswer(c.err)
		assert.Equal(t, c.status, status, "%v", c.err)
		assert.Equal(t, c.code, code, "%v", c.err)
		assert.Equal(t, c.err.Error(), msg, "the library's own words")
		assert.Contains(t, ErrorCodes, c.code)
	}
	assert.Nil(t, tokens.CheckUnreserved("identity", "ada"), "ada is nobody's reserved name")
}

// Every kind of the library's one error set, from each system that can say it,
// becomes the status and stable code written out here (not read from kinds).
func TestOneErrorSetMapsToStableCodes(t *testing.T) {
	lk, store, local := spacemusic.UpstreamLiveKit, spacemusic.UpstreamStorage, ""
	for _, c := range []struct {
		kind     error
		upstream string
		status   int
		code     string
	}{
		{spacemusic.ErrInvalidArgument, local, 400, "invalid_argument"},
		{spacemusic.ErrInvalidArgument, lk, 400, "invalid_argument"},
		{spacemusic.ErrInvalidArgument, store, 400, "invalid_argument"},
		{spacemusic.ErrNotFound, lk, 404, "not_found"},
		{spacemusic.ErrNotFound, store, 404, "not_found"},
		{spacemusic.ErrAlreadyExists, lk, 409, "already_exists"},
		{spacemusic.ErrLive, local, 409, "ingress_live"},
		{spacemusic.ErrFailedPrecondition, lk, 409, "failed_precondition"},
		{spacemusic.ErrResourceExhausted, lk, 503, "resource_exhausted"},
		{spacemusic.ErrUnavailable, lk, 503, "livekit_unavailable"},
		{spacemusic.ErrNotReady, lk, 503, "livekit_unavailable"},
		{spacemusic.ErrUnavailable, store, 503, "storage_unavailable"},
		{spacemusic.ErrUnauthorized, lk, 502, "upstream_auth"},
		{spacemusic.ErrUnauthorized, store, 502, "storage_auth"},
		{spacemusic.ErrInvalidToken, local, 401, "unauthenticated"},
		{spacemusic.ErrExpired, local, 401, "unauthenticated"},
		{spacemusic.ErrPermissionDenied, lk, 502, "upstream_permission"},
		{spacemusic.ErrPermissionDenied, store, 502, "storage_auth"},
		{spacemusic.ErrUpstream, lk, 502, "upstream_error"},
		{spacemusic.ErrUpstream, store, 502, "storage_error"},
		{spacemusic.ErrUnsupported, lk, 501, "unsupported_by_livekit"},
	} {
		err := fmt.Errorf("handler: %w", &spacemusic.Error{Op: "x.Call", Kind: c.kind, Upstream: c.upstream})
		status, code, _ := ErrorAnswer(err)
		assert.Equal(t, c.status, status, "%v from %q", c.kind, c.upstream)
		assert.Equal(t, c.code, code, "%v from %q", c.kind, c.upstream)
		assert.Contains(t, ErrorCodes, code, "the document lists every code")
	}
}

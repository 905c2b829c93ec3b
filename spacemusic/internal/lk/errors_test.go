package lk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/twitchtv/twirp"
)

// Every twirp code and the sentinel it must map to, written out here rather than read
// from kinds, the table under test, so a wrong entry there fails this test.
var wantKinds = map[twirp.ErrorCode]error{
	twirp.InvalidArgument:    errs.ErrInvalidArgument,
	twirp.Malformed:          errs.ErrInvalidArgument,
	twirp.OutOfRange:         errs.ErrInvalidArgument,
	twirp.NotFound:           errs.ErrNotFound,
	twirp.BadRoute:           errs.ErrNotFound,
	twirp.AlreadyExists:      errs.ErrAlreadyExists,
	twirp.Unauthenticated:    errs.ErrUnauthorized,
	twirp.PermissionDenied:   errs.ErrPermissionDenied,
	twirp.FailedPrecondition: errs.ErrFailedPrecondition,
	twirp.ResourceExhausted:  errs.ErrResourceExhausted,
	twirp.Unavailable:        errs.ErrUnavailable,
	twirp.DeadlineExceeded:   errs.ErrUnavailable,
	twirp.Canceled:           errs.ErrUnavailable,
	// Codes with no kind of their own are LiveKit's problem, not the caller's.
	twirp.Unknown:       errs.ErrUpstream,
	twirp.Aborted:       errs.ErrUpstream,
	twirp.Unimplemented: errs.ErrUpstream,
	twirp.Internal:      errs.ErrUpstream,
	twirp.DataLoss:      errs.ErrUpstream,
}

func TestMapKeepsUpstreamCodeAndMessage(t *testing.T) {
	for code, kind := range wantKinds {
		err := Map("rooms.Get", twirp.NewError(code, "upstream says so"))
		assert.ErrorIs(t, err, kind, code)
		var e *errs.Error
		if assert.ErrorAs(t, err, &e) {
			assert.Equal(t, string(code), e.Code)
			assert.Equal(t, "upstream says so", e.Message)
			assert.Contains(t, e.Error(), "rooms.Get")
		}
	}
}

func TestMapTransportFailuresAreUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, err := range []error{
		context.DeadlineExceeded,
		twirp.InternalErrorWith(refused),
		fmt.Errorf("wrapped: %w", refused),
		twirp.NewError(twirp.Internal, "bad gateway").WithMeta("status_code", "502"),
	} {
		assert.ErrorIs(t, Map("op", err), errs.ErrUnavailable, err.Error())
	}
	assert.ErrorIs(t, Map("op", twirp.NewError(twirp.Internal, "boom")), errs.ErrUpstream)
	assert.ErrorIs(t, Map("op", errors.New("odd")), errs.ErrUpstream)
	assert.NoError(t, Map("op", nil))
}

func TestHTTPURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:7880":           "http://127.0.0.1:7880",
		"wss://livekit.spacemusic.tv/":  "https://livekit.spacemusic.tv",
		"http://127.0.0.1:7880":         "http://127.0.0.1:7880",
		"https://livekit.spacemusic.tv": "https://livekit.spacemusic.tv",
	} {
		got, err := HTTPURL(in)
		assert.NoError(t, err)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "ftp://x", "127.0.0.1:7880", "http://", "::"} {
		_, err := HTTPURL(bad)
		assert.Error(t, err, bad)
	}
}

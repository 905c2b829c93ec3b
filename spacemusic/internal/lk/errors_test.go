package lk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twitchtv/twirp"
)

// Every twirp code and the sentinel it must map to, written out here rather than read
// from kinds, the table under test, so a wrong entry there fails this test.
var wantKinds = map[twirp.ErrorCode]error{
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
	// Codes with no kind of their own are LiveKit's problem, not the caller's.
	twirp.Unknown:       ErrUpstream,
	twirp.Aborted:       ErrUpstream,
	twirp.Unimplemented: ErrUpstream,
	twirp.Internal:      ErrUpstream,
	twirp.DataLoss:      ErrUpstream,
}

func TestMapKeepsUpstreamCodeAndMessage(t *testing.T) {
	for code, kind := range wantKinds {
		err := Map("rooms.Get", twirp.NewError(code, "upstream says so"))
		assert.ErrorIs(t, err, kind, code)
		var e *Error
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
		assert.ErrorIs(t, Map("op", err), ErrUnavailable, err.Error())
	}
	assert.ErrorIs(t, Map("op", twirp.NewError(twirp.Internal, "boom")), ErrUpstream)
	assert.ErrorIs(t, Map("op", errors.New("odd")), ErrUpstream)
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

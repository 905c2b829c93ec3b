package lk

import (
	"errors"

	"github.com/twitchtv/twirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

var kinds = map[twirp.ErrorCode]error{
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
}

// Map turns whatever the LiveKit client returned into an *errs.Error. It is the
// only place that knows twirp codes.
func Map(op string, err error) error {
	if err == nil {
		return nil
	}
	var own *errs.Error
	if errors.As(err, &own) {
		return err
	}
	if e := errs.Transport(op, errs.LiveKit, err); e != nil {
		return e
	}
	var te twirp.Error
	if !errors.As(err, &te) {
		return &errs.Error{Op: op, Kind: errs.ErrUpstream, Upstream: errs.LiveKit, Message: err.Error()}
	}
	kind, ok := kinds[te.Code()]
	if !ok {
		kind = errs.ErrUpstream
		// twirp reports non-twirp HTTP answers (proxies, a starting server) as internal
		// errors carrying the HTTP status; 502-504 mean "not reachable right now".
		if s := te.Meta("status_code"); s == "502" || s == "503" || s == "504" {
			kind = errs.ErrUnavailable
		}
	}
	return &errs.Error{Op: op, Kind: kind, Upstream: errs.LiveKit, Code: string(te.Code()), Message: te.Msg()}
}

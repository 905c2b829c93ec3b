package ingress

import (
	"fmt"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
)

// Config says how to reach LiveKit: URL, API key and secret, per-call timeout and an
// optional shared *http.Client.
type Config = lk.Config

// ErrLive is Delete refusing a URL pull that is buffering or publishing. It is
// also ErrFailedPrecondition (errors.Is matches both), refined so a caller can
// wait it out.
var ErrLive = fmt.Errorf("%w: the URL pull is live", errs.ErrFailedPrecondition)

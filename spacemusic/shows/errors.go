package shows

import (
	"fmt"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// The refusals of Open a caller may want to tell apart (a dashboard answers
// each with its own code). Each is also ErrFailedPrecondition.
var (
	// ErrNotAShow: a room of that name exists and its metadata is no show.
	ErrNotAShow = errNotAShow
	// ErrSpecChanged: the show is open with another spec and the difference
	// cannot be applied live; the message names what differs.
	ErrSpecChanged = fmt.Errorf("%w: spec changed", errs.ErrFailedPrecondition)
	// ErrClosing: the show is being closed.
	ErrClosing = fmt.Errorf("%w: closing", errs.ErrFailedPrecondition)
)

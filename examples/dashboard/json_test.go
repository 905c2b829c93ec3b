package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// A live URL pull has its own code, ahead of the generic precondition it also is;
// other preconditions keep theirs.
func TestLivePullHasItsOwnCode(t *testing.T) {
	status, code, _ := errorAnswer(&ingress.Error{Op: "ingress.Delete", Kind: ingress.ErrLive})
	assert.Equal(t, 409, status)
	assert.Equal(t, "ingress_live", code)
	assert.Contains(t, errorCodes, "ingress_live")
	status, code, _ = errorAnswer(fmt.Errorf("x: %w", rooms.ErrFailedPrecondition))
	assert.Equal(t, 409, status)
	assert.Equal(t, "failed_precondition", code)
}

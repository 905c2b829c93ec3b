package server

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// The seed's v1.6.1 lacks participant attributes: the refusal names its
// release and the first that has them; v1.7.0 on, and the pin (no version
// given), have them.
func TestAttributesCameWithV170(t *testing.T) {
	err := Check("tokens.Issue", "v1.6.1", Attributes)
	require.ErrorIs(t, err, errs.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	var e *errs.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "tokens.Issue", e.Op)
	assert.Equal(t, errs.LiveKit, e.Upstream)
	assert.Contains(t, e.Message, "v1.6.1")
	assert.Contains(t, e.Hint, "v1.7.0")
	for _, v := range []string{"", "v1.7.0", "v1.11.0", "v2.0.0"} {
		assert.NoError(t, Check("op", v, Attributes), v)
	}
}

// A version comes from an operator's configuration: anything but a release
// such as v1.6.1 is refused, quoted.
func TestOnlyReleasesAreVersions(t *testing.T) {
	for _, v := range []string{"", "v1.6.1", "v1.11.0", "v1.6"} {
		assert.NoError(t, Valid(v), v)
	}
	for _, v := range []string{"1.6.1", "latest", "v1.6.1 ", "v1.6.1; rm -rf /", "../v1.6.1"} {
		assert.ErrorContains(t, Valid(v), "is not a release", v)
	}
}

package tokens

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// For the seed's livekit-server v1.6.1, which drops a token's attributes, a
// token with attributes (or with the own-participant proof, which is one) is
// refused with ErrUnsupported naming the release; every other token is as
// before, and for the pinned release attributes are fine.
func TestTokensForAnOlderServer(t *testing.T) {
	seed, err := NewIssuerFor("key", testSecret, "v1.6.1")
	require.NoError(t, err)
	_, err = seed.Performer("night", "ada", WithAttributes(map[string]string{"instrument": "cello"}))
	require.ErrorIs(t, err, errs.ErrUnsupported)
	assert.ErrorContains(t, err, "v1.6.1")
	_, err = seed.Monitor("night", RecorderIdentity, seed.WithOwnProof("night", RecorderIdentity))
	require.ErrorIs(t, err, errs.ErrUnsupported)
	require.ErrorIs(t, seed.CheckOwnProof(), errs.ErrUnsupported)
	_, err = seed.Performer("night", "ada")
	assert.NoError(t, err, "a token without attributes works on v1.6.1")

	for _, v := range []string{"", "v1.11.0"} {
		ours, err := NewIssuerFor("key", testSecret, v)
		require.NoError(t, err)
		assert.NoError(t, ours.CheckOwnProof(), v)
		_, err = ours.Performer("night", "ada", WithAttributes(map[string]string{"instrument": "cello"}))
		assert.NoError(t, err, v)
	}
	_, err = NewIssuerFor("key", testSecret, "latest")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

package tokens

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReservedIdentities(t *testing.T) {
	for _, id := range []string{RecorderIdentity, "streamkit-", "StreamKit-x", MonitorIdentity(), "monitor-0123456789ab"} {
		assert.True(t, Reserved(id), id)
		assert.True(t, errors.Is(CheckUnreserved("op", id), ErrReservedIdentity), id)
	}
	for _, id := range []string{"ada", "streamkit", "monitor-mia", "monitor-0123456789AB", "monitor-0123456789abc", "xstreamkit-recorder"} {
		assert.False(t, Reserved(id), id)
		assert.NoError(t, CheckUnreserved("op", id))
	}
}

// The recorder's proof holds for its room and identity under the same secret,
// and for nothing else: another room, another identity, a token minted under
// the same key without the proof, or one under another secret.
func TestOwnProof(t *testing.T) {
	i, err := NewIssuer("key", "0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	other, err := NewIssuer("key", "fedcba9876543210fedcba9876543210")
	require.NoError(t, err)
	tok, err := i.Monitor("night", RecorderIdentity, i.WithOwnProof("night", RecorderIdentity))
	require.NoError(t, err)
	c, err := i.Verify(tok.JWT)
	require.NoError(t, err)
	assert.True(t, i.Own("night", RecorderIdentity, c.Attributes))
	assert.False(t, i.Own("day", RecorderIdentity, c.Attributes))
	assert.False(t, i.Own("night", "streamkit-other", c.Attributes))
	assert.False(t, other.Own("night", RecorderIdentity, c.Attributes))
	assert.False(t, i.Own("night", RecorderIdentity, nil))
	assert.False(t, i.Own("night", RecorderIdentity, map[string]string{OwnAttribute: "x.y"}))
}

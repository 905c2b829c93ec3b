package testenv

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A tone is encoded once: asked for again, the same file comes back untouched,
// and any other tone (frequency or length) is a file of its own that plays
// what was asked for.
func TestTonesAreEncodedOnce(t *testing.T) {
	first := Tone(t, 440, 1500*time.Millisecond)
	before, err := os.Stat(first)
	require.NoError(t, err)

	again := Tone(t, 440, 1500*time.Millisecond)
	assert.Equal(t, first, again, "the same tone is the same file")
	after, err := os.Stat(again)
	require.NoError(t, err)
	assert.Equal(t, before.ModTime(), after.ModTime(), "the kept tone was encoded again")

	higher := Tone(t, 660, 1500*time.Millisecond)
	longer := Tone(t, 440, 2500*time.Millisecond)
	assert.NotEqual(t, first, higher, "another frequency, another file")
	assert.NotEqual(t, first, longer, "another length, another file")
	assert.InDelta(t, 660, Listen(t, higher).Frequency, 2)
	assert.InDelta(t, 2.5, Listen(t, longer).Duration.Seconds(), 0.1)
	assert.InDelta(t, 1.5, Listen(t, again).Duration.Seconds(), 0.1)
}

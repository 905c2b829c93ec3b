package lk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Without a Timeout, every call is bounded by 10 s (the README's promise), and a
// Timeout replaces it.
func TestEveryCallHasADeadline(t *testing.T) {
	for timeout, want := range map[time.Duration]time.Duration{0: 10 * time.Second, 300 * time.Millisecond: 300 * time.Millisecond} {
		c, err := NewClient("test", Config{URL: "http://127.0.0.1:7880", APIKey: "devkey", APISecret: strings.Repeat("s", 32), Timeout: timeout})
		require.NoError(t, err)
		var deadline time.Time
		var ok bool
		start := time.Now()
		_, err = Do(context.Background(), c, "rooms.List", tokens.Grant{RoomList: true},
			func(ctx context.Context, _ struct{}) (struct{}, error) {
				deadline, ok = ctx.Deadline()
				return struct{}{}, nil
			}, struct{}{})
		require.NoError(t, err)
		require.True(t, ok, "Timeout %s: the call has no deadline", timeout)
		assert.WithinDuration(t, start.Add(want), deadline, time.Second, "Timeout %s", timeout)
	}
}

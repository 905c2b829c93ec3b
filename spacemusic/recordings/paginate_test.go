package recordings_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// One listing of a room answers every page: walking it with any page size
// visits each recording once, newest first, and a recording added between
// two pages does not shift the next one (the cursor is a position).
func TestPaginateWalksOneListing(t *testing.T) {
	base := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
	var all []recordings.Recording
	for i := range 7 {
		all = append(all, recordings.Recording{Key: fmt.Sprintf("jam/part-%d.ogg", 6-i), LastModified: base.Add(time.Duration(-i) * time.Minute)})
	}
	for limit := 1; limit <= 8; limit++ {
		var seen []string
		cursor := ""
		for range 10 {
			page, err := recordings.Paginate(all, recordings.ListOptions{Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			for _, r := range page.Recordings {
				seen = append(seen, r.Key)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		require.Len(t, seen, len(all), "limit %d", limit)
		for i, k := range seen {
			assert.Equal(t, all[i].Key, k, "limit %d", limit)
		}
	}

	first, err := recordings.Paginate(all, recordings.ListOptions{Limit: 3})
	require.NoError(t, err)
	newer := append([]recordings.Recording{{Key: "jam/part-7.ogg", LastModified: base.Add(time.Minute)}}, all...)
	next, err := recordings.Paginate(newer, recordings.ListOptions{Limit: 3, Cursor: first.Next})
	require.NoError(t, err)
	assert.Equal(t, "jam/part-3.ogg", next.Recordings[0].Key, "the page after the first, as if nothing was added")

	for _, o := range []recordings.ListOptions{{Limit: -1}, {Limit: recordings.MaxPageSize + 1}, {Cursor: "garbage!"}} {
		_, err := recordings.Paginate(all, o)
		assert.True(t, errors.Is(err, spacemusic.ErrInvalidArgument), "%+v: %v", o, err)
	}
}

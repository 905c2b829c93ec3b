package recordings_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// A download link lives an hour unless asked otherwise, a week at most (S3's
// limit), as the link itself says (X-Amz-Expires, seconds), not as our
// constants say.
func TestDownloadLinkLifetimes(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	s := b.store(t, "recordings", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	b.put(t, "recordings", "jam/show.ogg", []byte("OggS"))

	expires := func(ttl time.Duration) string {
		t.Helper()
		link, err := s.DownloadURL(ctx, "jam/show.ogg", ttl)
		require.NoError(t, err, "ttl %s", ttl)
		u, err := url.Parse(link)
		require.NoError(t, err)
		return u.Query().Get("X-Amz-Expires")
	}
	assert.Equal(t, "3600", expires(0), "the default is one hour")
	assert.Equal(t, "604800", expires(7*24*time.Hour), "a week is accepted")
	_, err := s.DownloadURL(ctx, "jam/show.ogg", 7*24*time.Hour+time.Second)
	assert.ErrorIs(t, err, errs.ErrInvalidArgument, "a week and a second is refused")
}

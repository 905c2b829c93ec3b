package capture

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// headCounter counts the stats (HEAD requests) made to the bucket.
type headCounter struct {
	next  http.RoundTripper
	heads atomic.Int64
}

func (h *headCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodHead {
		h.heads.Add(1)
	}
	return h.next.RoundTrip(r)
}

// A show's page asks for its uploaded parts again and again: each part is
// stat'ed once (an uploaded part never changes), and only the listing is
// asked again.
func TestUploadedPartsAreStatOnce(t *testing.T) {
	m := testenv.MinIO(t)
	ctx := testenv.Within(t, 30*time.Second)
	heads := &headCounter{next: http.DefaultTransport.(*http.Transport).Clone()}
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: m.Endpoint, Bucket: "recordings",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey}, HTTPClient: &http.Client{Transport: heads}})
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(ctx))
	for i := range 3 {
		meta := map[string]string{metaID: fmt.Sprintf("%s%d", IDPrefix, i), metaSource: "obs", metaDuration: "2000000000",
			metaStarted: "2026-11-27T21:00:00Z", metaEnded: "2026-11-27T21:00:02Z"}
		require.NoError(t, store.Put(ctx, fmt.Sprintf("jam/part-%d.ogg", i), strings.NewReader("ogg"), 3, meta))
	}
	require.NoError(t, store.Put(ctx, "jam/egress.ogg", strings.NewReader("ogg"), 3, nil)) // egress's, not a part
	iss, err := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	require.NoError(t, err)
	r, err := New(Config{URL: "ws://127.0.0.1:9", Tokens: iss, Store: store, Dir: t.TempDir()})
	require.NoError(t, err)

	before := heads.heads.Load()
	for range 3 {
		parts, err := r.Uploaded(ctx, "jam")
		require.NoError(t, err)
		require.Len(t, parts, 3)
		assert.Equal(t, 2*time.Second, parts[0].Duration)
	}
	assert.EqualValues(t, 4, heads.heads.Load()-before, "each object stat'ed once over three asks")
}

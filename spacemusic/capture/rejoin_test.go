package capture

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Someone joins as the recorder with a token made elsewhere (the API key is
// shared with another tool). LiveKit drops the recorder for them; the
// recorder joins again, which drops the impostor, and records on: the part cut
// by the intrusion is kept whole (here spooled, the bucket being unreachable),
// and a new part holds the audio after it.
func TestTheRecorderTakesItsIdentityBack(t *testing.T) {
	testenv.RequireNetNS(t) // Ada's tone is real media
	env := testenv.LiveKit(t)
	ctx := testenv.Within(t, 2*time.Minute)
	r, iss, size := spoolingRecorder(t, env)

	ada, err := iss.Performer("jam", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, ada.JWT, nil), testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	require.NoError(t, r.Arm(ctx, "jam", "ada"))
	var first Part
	require.Eventually(t, func() bool {
		a := r.Active("jam")
		if len(a) == 1 && a[0].Status == egress.Active && size(a[0]) > 8<<10 {
			first = a[0]
			return true
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the recorder never recorded ada")

	// The impostor: a hidden subscribe-only token under the recorder's identity, without our proof.
	imp, err := iss.Monitor("jam", Identity)
	require.NoError(t, err)
	// LiveKit drops the recorder for it, and the recorder joining again drops
	// the impostor in turn, often before its own connect completes.
	if imposter, err := lksdk.ConnectToRoomWithToken(env.WSURL, imp.JWT, &lksdk.RoomCallback{}, lksdk.WithAutoSubscribe(false)); err == nil {
		t.Cleanup(imposter.Disconnect)
	}

	// The recorder is back, and a second part grows.
	var second Part
	require.Eventually(t, func() bool {
		a := r.Active("jam")
		if len(a) == 2 && a[1].Status == egress.Active && size(a[1]) > 8<<10 {
			second = a[1]
			return true
		}
		return false
	}, time.Minute, 100*time.Millisecond, "no part after the intrusion: %+v", r.Active("jam"))
	assert.Equal(t, first.ID, r.Active("jam")[0].ID, "the part cut by the intrusion is kept")
	assert.NotEqual(t, first.Key, second.Key, "nothing overwritten")
	assert.Positive(t, size(r.Active("jam")[0]))
	assert.True(t, r.Armed("jam"))
}

// spoolingRecorder is a recorder on env whose bucket is unreachable, so its
// parts stay spooled; size is a part's spooled bytes (0 before its file).
func spoolingRecorder(t *testing.T, env *testenv.Env) (r *Recorder, iss *tokens.Issuer, size func(Part) int64) {
	t.Helper()
	iss, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: "http://127.0.0.1:1", Bucket: "recordings",
		AccessKey: "unused", SecretKey: "unused-secret"}})
	require.NoError(t, err)
	dir := t.TempDir()
	r, err = New(Config{URL: env.WSURL, Tokens: iss, Store: store, Dir: dir})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r, iss, func(p Part) int64 {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p.Key)))
		if err != nil {
			return 0
		}
		return st.Size()
	}
}

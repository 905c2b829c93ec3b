package capture

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Room names become spool folders: a name that would leave the spool
// directory, or name none, is refused before anything touches the disk or
// LiveKit, and nothing appears outside the directory.
func TestHostileRoomNamesNeverLeaveTheSpool(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "spool")
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: "http://127.0.0.1:1", Bucket: "recordings",
		AccessKey: "unused", SecretKey: "unused-secret"}})
	require.NoError(t, err)
	iss, err := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	require.NoError(t, err)
	r, err := New(Config{URL: "ws://127.0.0.1:1", Tokens: iss, Store: store, Dir: dir})
	require.NoError(t, err)
	defer r.Close()
	for _, room := range []string{"..", ".", "", "../escape", "a/b", `a\\b`, "/abs", "x\x00y"} {
		err := r.Arm(context.Background(), room, "")
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", room)
		assert.Empty(t, r.Active(room))
		assert.ErrorIs(t, r.Settle(context.Background(), room), errs.ErrInvalidArgument, "%q", room)
		assert.ErrorIs(t, r.Finish(context.Background(), room), errs.ErrInvalidArgument, "%q", room)
	}
	ents, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, ents, 1, "only the spool directory")
	inside, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, inside)
}

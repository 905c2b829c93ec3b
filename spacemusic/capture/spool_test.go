package capture

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// A dashboard died mid-part: its spool folder holds the part it was writing
// (the last page torn), a file cut before any audio, and a stray file that is
// not the recorder's. A new Recorder on the same directory lists the part as
// ending, and Settle uploads it with its exact duration under egress's key
// scheme, drops the empty one and sets the stray one aside; the bucket then
// lists the part, and nothing is retried for ever.
func TestADeadProcessesPartIsUploadedByTheNextOne(t *testing.T) {
	testenv.RequireNetNS(t)
	m := testenv.MinIO(t)
	ctx := testenv.Within(t, 30*time.Second)
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: m.Endpoint, Bucket: "recordings",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey}})
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(ctx))
	iss, err := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	require.NoError(t, err)
	dir := t.TempDir()

	// What the dead process left: 1.5 s of a 440 Hz tone in 20 ms Opus packets,
	// and a torn page.
	tone := tonePackets(t, 76)
	room := filepath.Join(dir, "friday-jam")
	require.NoError(t, os.MkdirAll(room, 0o700))
	started := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	spool := func(id string, packets int) {
		base := started.Format(keys.StampLayout) + "-" + id
		side, err := json.Marshal(Part{ID: IDPrefix + id, Room: "friday-jam", Source: "obs-main", Key: "friday-jam/" + base + ".ogg", StartedAt: started})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(room, base+".ogg.json"), side, 0o600))
		f, err := os.Create(filepath.Join(room, base+".ogg"))
		require.NoError(t, err)
		defer f.Close()
		w, err := newOggWriter(f, 1, 2)
		require.NoError(t, err)
		for i := range packets {
			_, err := w.write(tone[i])
			require.NoError(t, err)
		}
		_, err = f.Write([]byte("OggS torn"))
		require.NoError(t, err)
	}
	spool("aaaaaaaaaaaaa", 76) // 75 pages written, the 76th held when it died
	spool("bbbbbbbbbbbbb", 0)
	require.NoError(t, os.WriteFile(filepath.Join(room, "stray.ogg"), []byte("not ours"), 0o600))

	r, err := New(Config{URL: "ws://127.0.0.1:1", Tokens: iss, Store: store, Dir: dir})
	require.NoError(t, err)
	defer r.Close()
	active := r.Active("friday-jam")
	require.Len(t, active, 2, "the two parts with sidecars")
	assert.Equal(t, egress.Ending, active[0].Status, "spooled, nobody writes it")

	require.NoError(t, r.Settle(ctx, "friday-jam"))
	assert.Empty(t, r.Active("friday-jam"))
	up, err := r.Uploaded(ctx, "friday-jam")
	require.NoError(t, err)
	require.Len(t, up, 1, "the empty part is dropped, the stray file is not the recorder's")
	p := up[0]
	assert.Equal(t, IDPrefix+"aaaaaaaaaaaaa", p.ID)
	assert.Equal(t, "friday-jam/2026-11-27T210000Z-aaaaaaaaaaaaa.ogg", p.Key, "egress's key scheme")
	assert.Equal(t, 1500*time.Millisecond, p.Duration, "75 packets of 20 ms: the torn page is not counted")
	assert.Equal(t, "obs-main", p.Source)
	assert.True(t, p.StartedAt.Equal(started))
	assert.Equal(t, egress.Complete, p.Status)
	obj, err := store.Open(ctx, p.Key)
	require.NoError(t, err)
	defer obj.Close()
	assert.Equal(t, p.Size, obj.Size)
	assert.Equal(t, "audio/ogg", obj.ContentType)
	// The uploaded bytes themselves: whole CRC-checked pages to the end (the
	// torn page left behind), 1.5 s of the tone when decoded.
	uploaded, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.Len(t, uploaded, int(p.Size))
	for rest := uploaded; len(rest) > 0; {
		pg, ok := ogg.Parse(rest)
		require.True(t, ok, "a torn or broken page %d bytes from the end", len(rest))
		rest = rest[pg.Size:]
	}
	file := filepath.Join(t.TempDir(), "part.ogg")
	require.NoError(t, os.WriteFile(file, uploaded, 0o600))
	heard := testenv.Listen(t, file)
	assert.InDelta(t, 1.5, heard.Duration.Seconds(), 0.03, "the file plays the 1.5 s spooled")
	assert.InDelta(t, 440, heard.Frequency, 10, "the tone, decoded from the bucket's copy")

	left, err := os.ReadDir(room)
	require.NoError(t, err)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"stray.ogg.unreadable"}, names, "set aside once, not retried")
	require.NoError(t, r.Settle(ctx, "friday-jam"), "nothing left to do")

	// A process died after uploading the part but before removing its spool
	// file: the next one finds the part already in the bucket, and is done.
	spool("aaaaaaaaaaaaa", 76)
	require.NoError(t, r.Settle(ctx, "friday-jam"), "the part was uploaded already")
	up, err = r.Uploaded(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Len(t, up, 1, "one object for the part")
	assert.Empty(t, r.Active("friday-jam"))

	// Something else sits under a part's key: it is never overwritten, and
	// the part stays spooled for a person to look at.
	stranger := "friday-jam/" + started.Format(keys.StampLayout) + "-ccccccccccccc.ogg"
	require.NoError(t, store.Put(ctx, stranger, strings.NewReader("an operator's file"), 18, nil))
	spool("ccccccccccccc", 10)
	err = r.Settle(ctx, "friday-jam")
	assert.ErrorIs(t, err, errs.ErrAlreadyExists)
	obj2, err := store.Open(ctx, stranger)
	require.NoError(t, err)
	defer obj2.Close()
	kept, err := io.ReadAll(obj2)
	require.NoError(t, err)
	assert.Equal(t, "an operator's file", string(kept), "not overwritten")
	assert.FileExists(t, filepath.Join(room, started.Format(keys.StampLayout)+"-ccccccccccccc.ogg"), "still spooled")
}

// tonePackets are the first n Opus packets of a stereo 440 Hz tone, 20 ms each,
// as a performer would send them.
func tonePackets(t *testing.T, n int) [][]byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Tone(t, 440, 2*time.Second))
	require.NoError(t, err)
	var out [][]byte
	for seq := 0; len(b) > 0 && len(out) < n; seq++ {
		pg, ok := ogg.Parse(b)
		require.True(t, ok, "the tone's Ogg")
		b = b[pg.Size:]
		if seq >= 2 { // after OpusHead and OpusTags: one packet a page
			out = append(out, pg.Body)
		}
	}
	require.Len(t, out, n)
	return out
}

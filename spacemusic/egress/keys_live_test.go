package egress_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// Two show recordings and two HLS runs of one room, each pair started in the same
// second, all survive byte for byte: every egress writes under its own keys, and
// what the first of a pair wrote is unchanged after the second has finished.
// Before keys were the server's, the pair of recordings shared {room_name}/{time}
// and the HLS runs shared <room>/hls/playlist.m3u8 and its segments.
func TestNothingIsOverwritten(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)

	// The machine runs about two egresses at once: one pair, then the other.
	audio := s.startPair(t, func() (egress.Egress, error) {
		return s.egress.RecordAudio(ctx, "stage", egress.AudioOptions{Identity: "ada"})
	})
	first, second := s.runPair(t, audio)
	hls := s.startPair(t, func() (egress.Egress, error) { return s.egress.HLS(ctx, "stage", "ada") })
	third, fourth := s.runPair(t, hls)

	// Four recordings, four keys, four places; every reported object is in the
	// bucket as it was when its egress ended.
	keys := map[string]bool{}
	for _, e := range []egress.Egress{audio[0], audio[1], hls[0], hls[1]} {
		done, err := s.egress.Get(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, append(done.Files, fileOf(done.Playlists)...), 1, "%+v", done)
		for _, f := range append(done.Files, fileOf(done.Playlists)...) {
			assert.False(t, keys[f.Key], "two egresses wrote %s", f.Key)
			keys[f.Key] = true
		}
	}
	assert.Len(t, keys, 4)
	now := s.objects(t, "stage/")
	for _, snap := range []map[string]string{first, second, third, fourth} {
		for k, sum := range snap {
			assert.Equal(t, sum, now[k], "%s changed or vanished after the other egress ran", k)
		}
	}
	t.Logf("%d objects in the bucket: %v", len(now), sortedKeys(now))
}

// startPair starts two egresses whose requests leave in the same UTC second and
// waits until both are active; their keys carry that second.
func (s *studio) startPair(t *testing.T, start func() (egress.Egress, error)) [2]egress.Egress {
	t.Helper()
	var pair [2]egress.Egress
	var asked [2]time.Time
	for attempt := range 3 {
		// Early in a second, so both requests leave in it.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
		var errs [2]error
		var wg sync.WaitGroup
		for i := range pair {
			wg.Go(func() {
				asked[i] = time.Now()
				pair[i], errs[i] = start()
			})
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		for _, e := range pair {
			live, err := s.egress.WaitFor(testenv.Within(t, wait), e.ID, egress.Active)
			require.NoError(t, err)
			require.Equal(t, egress.Active, live.Status, live.Error)
		}
		second := asked[0].UTC().Truncate(time.Second)
		if second.Equal(asked[1].UTC().Truncate(time.Second)) {
			for _, e := range pair {
				assert.Equal(t, second.Format(keys.StampLayout), stampOf(t, s, e), "the key starts with the UTC second of the request")
			}
			return pair
		}
		t.Logf("attempt %d: the pair straddled a second (%s, %s); again", attempt, asked[0], asked[1])
		for _, e := range pair {
			s.stopAndWait(t, e.ID)
		}
	}
	t.Fatal("could not start two egresses in the same second")
	return pair
}

// runPair records a few seconds, stops the first, snapshots what it wrote, lets
// the second go on and stops it: the snapshots are what each egress left.
func (s *studio) runPair(t *testing.T, pair [2]egress.Egress) (map[string]string, map[string]string) {
	t.Helper()
	time.Sleep(3 * time.Second) // a segment or two of music (not a timing assertion)
	first := s.stopAndWait(t, pair[0].ID)
	a := s.written(t, first)
	time.Sleep(3 * time.Second) // the second keeps writing beside the first
	second := s.stopAndWait(t, pair[1].ID)
	b := s.written(t, second)
	for k := range a {
		assert.NotContains(t, b, k, "both egresses wrote %s", k)
	}
	return a, b
}

func (s *studio) stopAndWait(t *testing.T, id string) egress.Egress {
	t.Helper()
	_, err := s.egress.Stop(context.Background(), id)
	require.NoError(t, err)
	done, err := s.egress.WaitFor(testenv.Within(t, wait), id, egress.Complete)
	require.NoError(t, err)
	require.Equal(t, egress.Complete, done.Status, done.Error)
	return done
}

// written is what a finished egress reports, as sha256 of each object in the
// bucket: the file, or the playlist and every segment it names (which must sit in
// the playlist's own folder). The sizes must match what the egress reported.
func (s *studio) written(t *testing.T, e egress.Egress) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range e.Files {
		sum, size := s.object(t, f.Key)
		assert.Equal(t, f.Size, size, "%s: the egress reported %d bytes", f.Key, f.Size)
		out[f.Key] = sum
	}
	for _, pl := range e.Playlists {
		dir := path.Dir(pl.Key)
		assert.True(t, strings.HasPrefix(dir, "stage/hls/") && strings.Count(dir, "/") == 2, "%s: a folder per HLS egress", pl.Key)
		text := s.text(t, pl.Key)
		out[pl.Key], _ = s.object(t, pl.Key)
		var segments int64
		for line := range strings.Lines(text) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			segments++
			key := path.Join(dir, line)
			out[key], _ = s.object(t, key)
		}
		assert.Equal(t, pl.Segments, segments, "the playlist names every segment the egress reported")
		assert.Positive(t, segments, "%s names no segments:\n%s", pl.Key, text)
		// Nothing else of this egress's lies outside its folder.
		for k := range s.objects(t, dir+"/") {
			assert.True(t, strings.HasPrefix(k, dir+"/"), k)
		}
	}
	return out
}

// bucket is a plain S3 client on the test's MinIO, independent of the
// recordings package (whose listing is not what this test is about).
func (s *studio) bucket(t *testing.T) *minio.Client {
	t.Helper()
	u, err := url.Parse(s.minio.Endpoint)
	require.NoError(t, err)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.minio.AccessKey, s.minio.SecretKey, ""), Region: egress.DefaultRegion})
	require.NoError(t, err)
	return mc
}

// objects is every object under prefix with its sha256.
func (s *studio) objects(t *testing.T, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	mc := s.bucket(t)
	for obj := range mc.ListObjects(context.Background(), s.storage.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		require.NoError(t, obj.Err)
		out[obj.Key], _ = s.object(t, obj.Key)
	}
	return out
}

// object is the sha256 and size of what the bucket holds at key.
func (s *studio) object(t *testing.T, key string) (string, int64) {
	t.Helper()
	obj, err := s.bucket(t).GetObject(context.Background(), s.storage.Bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	require.NoError(t, err, key)
	return hex.EncodeToString(h.Sum(nil)), n
}

func (s *studio) text(t *testing.T, key string) string {
	t.Helper()
	obj, err := s.bucket(t).GetObject(context.Background(), s.storage.Bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err, key)
	return string(b)
}

// stampOf is the time part of a running egress's key ("" when it has none).
func stampOf(t *testing.T, s *studio, e egress.Egress) string {
	t.Helper()
	live, err := s.egress.Get(context.Background(), e.ID)
	require.NoError(t, err)
	key := ""
	switch {
	case len(live.Files) > 0:
		key = live.Files[0].Key
	case len(live.Playlists) > 0:
		key = live.Playlists[0].Key
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(key, "stage/"), "hls/")
	if len(rest) < len(keys.StampLayout) {
		return ""
	}
	return rest[:len(keys.StampLayout)]
}

func fileOf(pls []egress.Playlist) []egress.File {
	var out []egress.File
	for _, p := range pls {
		out = append(out, egress.File{Key: p.Key, Size: p.Size})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package egress_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

const wait = 30 * time.Second

type studio struct {
	env     *testenv.Env
	minio   *testenv.MinIOEnv
	egress  *egress.Service
	store   *recordings.Store
	issuer  *tokens.Issuer
	storage egress.Storage
}

func newStudio(t *testing.T) *studio {
	t.Helper()
	testenv.RequireNetNS(t)
	return newStudioOn(t, testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process")))
}

// newStudioOn records from env, a LiveKit with Redis.
func newStudioOn(t *testing.T, env *testenv.Env) *studio {
	t.Helper()
	testenv.Egress(t, env)
	m := testenv.MinIO(t)
	st := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	svc, err := egress.New(egress.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret}, st)
	require.NoError(t, err)
	store, err := recordings.New(recordings.Config{Config: egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}})
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(context.Background()))
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	return &studio{env: env, minio: m, egress: svc, store: store, issuer: issuer, storage: st}
}

// perform joins a performer who plays a tone for the rest of the test.
func (s *studio) perform(t *testing.T, room, identity string, freq int) {
	t.Helper()
	tok, err := s.issuer.Performer(room, identity)
	require.NoError(t, err)
	p := s.env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, p, testenv.Tone(t, freq, 90*time.Second))
	require.NoError(t, err)
	rs, err := rooms.New(rooms.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := rs.Participant(context.Background(), room, identity)
		return err == nil && len(p.Tracks) == 1
	}, wait, 50*time.Millisecond, "%s's track never appeared", identity)
}

// The show is recorded: the file is in the bucket, as long as the recording ran,
// the performer's tone from its first second to its last, listed, and its
// download link serves the same bytes.
func TestRecordTheShow(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)

	days, err := s.store.RetentionDays(ctx)
	require.NoError(t, err)
	assert.Equal(t, 30, days, "the seed's 30-day lifecycle")

	asked := time.Now()
	rec, err := s.egress.RecordAudio(ctx, "stage", egress.AudioOptions{})
	require.NoError(t, err)
	assert.Equal(t, "audio", rec.Kind)
	active, err := s.egress.WaitFor(testenv.Within(t, wait), rec.ID, egress.Active)
	require.NoError(t, err)
	require.Equal(t, egress.Active, active.Status, active.Error)
	time.Sleep(6 * time.Second)
	stopped := time.Now()
	_, err = s.egress.Stop(ctx, rec.ID)
	require.NoError(t, err)

	done, err := s.egress.WaitFor(testenv.Within(t, wait), rec.ID, egress.Complete)
	require.NoError(t, err)
	require.Equal(t, egress.Complete, done.Status, done.Error)
	require.Len(t, done.Files, 1)
	file := done.Files[0]
	assert.Equal(t, "recordings", file.Bucket)
	assert.Regexp(t, `^stage/\d{4}-\d\d-\d\dT\d{6}Z-[a-z2-7]{13}\.ogg$`, file.Key, "<room>/<UTC time>-<unique id>.ogg")

	list, err := s.store.List(ctx, "stage")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, file.Key, list[0].Key)
	assert.Equal(t, "stage", list[0].Room)

	link, err := s.store.DownloadURL(ctx, file.Key, 10*time.Minute)
	require.NoError(t, err)
	local := download(t, link)
	info, err := os.Stat(local)
	require.NoError(t, err)
	assert.Equal(t, list[0].Size, info.Size(), "the link serves the object")
	stored, _ := s.object(t, file.Key)
	assert.Equal(t, stored, sha256File(t, local), "the link serves the object's bytes")

	// What was published into the recording is what egress captured: the tone
	// from when egress says it started (not from our request: it starts later,
	// and the file holds nothing from before) until our stop. The file goes on
	// past that with the silence egress writes while the stop drains its
	// pipeline (~3 s here), up to when it reports having ended.
	ran := done.EndedAt.Sub(done.StartedAt)
	got := decodedDuration(t, local)
	from, to, timeline := toneSpan(t, local, 440)
	music := to - from
	published := stopped.Sub(done.StartedAt)
	t.Logf("asked at 0, active reported at %.2fs, started at %.2fs, stop asked at %.2fs, ended at %.2fs; file decodes to %.2fs, container says %.2fs, egress reports %.2fs; the tone runs %.2fs-%.2fs: %s",
		active.StartedAt.Sub(asked).Seconds(), done.StartedAt.Sub(asked).Seconds(), stopped.Sub(asked).Seconds(), done.EndedAt.Sub(asked).Seconds(),
		got.Seconds(), probeDuration(t, local).Seconds(), file.Duration.Seconds(), from.Seconds(), to.Seconds(), timeline)
	assert.False(t, done.StartedAt.Before(asked.Add(-time.Second)), "egress started %s before it was asked", asked.Sub(done.StartedAt))
	assert.InDelta(t, ran.Seconds(), got.Seconds(), 1.0, "recording length")
	assert.Greater(t, meanVolume(t, local), -40.0, "the recording must not be silent")
	assert.InDelta(t, 440, testenv.DominantFrequency(t, local), 10, "the recording carries ada's tone")
	assert.Zero(t, from, "the tone from the recording's first moment")
	assert.InDelta(t, published.Seconds(), music.Seconds(), 1.0, "the recording holds the music played from egress's start to our stop")
	assert.InDelta(t, file.Duration.Seconds(), music.Seconds(), 1.0, "egress reports the music's length as the file's duration")
}

// toneSpan is where in file the tone of freq (±10 Hz) is heard, from the start
// of the first half second that carries it to the end of the last, and the
// file's timeline in half seconds for the log: "4" for the tone, "." for
// silence, "?" for anything else.
func toneSpan(t *testing.T, file string, freq float64) (from, to time.Duration, timeline string) {
	t.Helper()
	const step = 500 * time.Millisecond
	first, last := -1, -1
	var b strings.Builder
	for i, s := range testenv.Timeline(t, file, step) {
		switch {
		case math.Abs(s.Frequency-freq) <= 10:
			b.WriteByte('4')
			if first < 0 {
				first = i
			}
			last = i
		case s.Frequency == 0:
			b.WriteByte('.')
		default:
			b.WriteByte('?')
		}
	}
	require.GreaterOrEqual(t, first, 0, "%s never carries %g Hz: %s", file, freq, b.String())
	return time.Duration(first) * step, time.Duration(last+1) * step, b.String()
}

// Each performer gets a stem.
func TestRecordStems(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)
	s.perform(t, "stage", "bob", 660)

	_, err := s.egress.RecordAudio(ctx, "stage", egress.AudioOptions{})
	require.ErrorIs(t, err, errs.ErrFailedPrecondition, "two performers: say whose audio is the show")

	stems, err := s.egress.RecordStems(ctx, "stage")
	require.NoError(t, err)
	require.Len(t, stems, 2)
	for _, st := range stems {
		_, err := s.egress.WaitFor(testenv.Within(t, wait), st.ID, egress.Active)
		require.NoError(t, err)
	}
	active, err := s.egress.List(ctx, egress.ListOptions{Room: "stage", Active: true})
	require.NoError(t, err)
	assert.Len(t, active, 2)

	// The engineer's click timed out and she clicks again: the same two stems come
	// back, and no track gets a second one.
	again, err := s.egress.RecordStems(ctx, "stage")
	require.NoError(t, err)
	assert.ElementsMatch(t, ids(stems), ids(again), "a retry starts no duplicates")
	active, err = s.egress.List(ctx, egress.ListOptions{Room: "stage", Active: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, ids(stems), ids(active), "one active egress per track")
	time.Sleep(4 * time.Second)
	var files []egress.File
	for _, st := range stems {
		_, err := s.egress.Stop(ctx, st.ID)
		require.NoError(t, err)
		done, err := s.egress.WaitFor(testenv.Within(t, wait), st.ID, egress.Complete)
		require.NoError(t, err)
		require.Equal(t, egress.Complete, done.Status, done.Error)
		require.Len(t, done.Files, 1)
		files = append(files, done.Files[0])
	}
	list, err := s.store.List(ctx, "stage")
	require.NoError(t, err)
	require.Len(t, list, 2)
	var keys string
	for _, r := range list {
		keys += r.Key + " "
	}
	assert.Regexp(t, `stage/stems/\d{4}-\d\d-\d\dT\d{6}Z-[a-z2-7]{13}-ada\.`, keys)
	assert.Regexp(t, `stage/stems/\d{4}-\d\d-\d\dT\d{6}Z-[a-z2-7]{13}-bob\.`, keys)

	// Each stem is its performer's own audio: ada plays 440 Hz, bob 660 Hz, and
	// the file named after each carries that tone and not the other's.
	tone := map[string]float64{}
	for _, f := range files {
		m := regexp.MustCompile(`-(ada|bob)\.[a-z0-9]+$`).FindStringSubmatch(f.Key)
		require.NotNil(t, m, "a stem named after no performer: %s", f.Key)
		link, err := s.store.DownloadURL(ctx, f.Key, time.Minute)
		require.NoError(t, err)
		heard := testenv.Listen(t, download(t, link))
		t.Logf("%s: %+v", f.Key, heard)
		tone[m[1]] = heard.Frequency
	}
	require.Len(t, tone, 2, "one stem per performer: %v", keys)
	assert.InDelta(t, 440, tone["ada"], 10, "ada's stem carries ada's tone")
	assert.InDelta(t, 660, tone["bob"], 10, "bob's stem carries bob's tone")
	assert.Greater(t, tone["bob"]-tone["ada"], 100.0, "the two stems differ")
}

// When one stem cannot start, the ones this call started are stopped again and
// the error says why: nothing goes on recording that the caller was not told of.
// LiveKit refuses the second start here through a test seam (the refusal is
// injected before the request goes out; the first start and the stop are real).
func TestStemsThatFailHalfwayStopWhatStarted(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)
	s.perform(t, "stage", "bob", 660)

	egress.FailStemStart(s.egress, 1)
	stems, err := s.egress.RecordStems(ctx, "stage")
	require.ErrorIs(t, err, errs.ErrResourceExhausted)
	assert.Empty(t, stems)

	all, err := s.egress.List(ctx, egress.ListOptions{Room: "stage"})
	require.NoError(t, err)
	require.Len(t, all, 1, "the first stem was started: %+v", all)
	done, err := s.egress.WaitFor(testenv.Within(t, wait), all[0].ID)
	require.NoError(t, err, "the started stem never ended: it records unseen")
	assert.True(t, done.Status.Done(), "the started stem was stopped: %s", done.Status)
	active, err := s.egress.List(ctx, egress.ListOptions{Room: "stage", Active: true})
	require.NoError(t, err)
	assert.Empty(t, active, "nothing records unseen")
}

func ids(es []egress.Egress) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// Mistakes get typed errors; a recording that cannot upload says why.
func TestEgressBadInput(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()

	_, err := s.egress.RecordAudio(ctx, "no-such-stage", egress.AudioOptions{})
	assert.ErrorIs(t, err, errs.ErrNotFound)
	_, err = s.egress.Restream(ctx, "stage", "", "http://not-rtmp/x")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, err = s.egress.Restream(ctx, "stage", "")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, err = s.egress.Stop(ctx, "nope")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	// A file name is only a suffix of the server's key: paths, extensions and
	// templates are refused, not rewritten.
	for _, name := range []string{"../escape", "other-room/x", "show.mp4", "{room_name}", `a\b`} {
		_, err = s.egress.RecordAudio(ctx, "stage", egress.AudioOptions{Filename: name})
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, name)
		_, err = s.egress.RecordRoom(ctx, "stage", egress.RoomOptions{Filename: name})
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, name)
	}
	_, err = egress.New(egress.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret}, egress.Storage{Endpoint: s.minio.Endpoint})
	assert.ErrorIs(t, err, errs.ErrInvalidArgument, "missing bucket")

	// Wrong MinIO keys: the recording starts, then fails with the upload's error.
	s.perform(t, "stage", "ada", 440)
	bad := s.storage
	bad.SecretKey = "wrong-secret-key-0123456789"
	svc, err := egress.New(egress.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret}, bad)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprint(bad), "wrong-secret")
	rec, err := svc.RecordAudio(ctx, "stage", egress.AudioOptions{})
	require.NoError(t, err)
	_, err = svc.WaitFor(testenv.Within(t, wait), rec.ID, egress.Active)
	require.NoError(t, err)
	time.Sleep(2 * time.Second)
	_, err = svc.Stop(ctx, rec.ID)
	require.NoError(t, err)
	failed, err := svc.WaitFor(testenv.Within(t, wait), rec.ID)
	require.NoError(t, err)
	assert.Equal(t, egress.Failed, failed.Status)
	assert.NotEmpty(t, failed.Error, "a failed egress reports its error text")
	assert.NotContains(t, failed.Error, "wrong-secret")

	// Wrong keys for the archive too.
	wrong, err := recordings.New(recordings.Config{Config: egress.Storage{Endpoint: s.minio.Endpoint, Bucket: "recordings", AccessKey: s.minio.AccessKey, SecretKey: "wrong-secret-key-0123456789"}})
	require.NoError(t, err)
	_, err = wrong.List(ctx, "")
	assert.ErrorIs(t, err, errs.ErrUnauthorized)
	missing, err := recordings.New(recordings.Config{Config: egress.Storage{Endpoint: s.minio.Endpoint, Bucket: "no-such-bucket", AccessKey: s.minio.AccessKey, SecretKey: s.minio.SecretKey}})
	require.NoError(t, err)
	_, err = missing.List(ctx, "")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	_, err = s.store.DownloadURL(ctx, "stage/nothing.ogg", 0)
	assert.ErrorIs(t, err, errs.ErrNotFound)
	_, err = s.store.DownloadURL(ctx, "../etc/passwd", 0)
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// download fetches link into a fresh file and returns its path.
func download(t *testing.T, link string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rec.ogg")
	fetch(t, link, out)
	return out
}

// sha256File is the hex sha256 of a local file, as (*studio).object gives it
// for an object in the bucket.
func sha256File(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func probeDuration(t *testing.T, file string) time.Duration {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	require.NoError(t, err)
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "%s", out)
	return time.Duration(secs * float64(time.Second))
}

// decodedDuration counts the samples the file decodes to: its real length, whatever
// its container timestamps claim.
func decodedDuration(t *testing.T, file string) time.Duration {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t, "ffmpeg", "ffmpeg"), "-v", "error", "-i", file, "-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	require.NoError(t, err)
	return time.Duration(len(out)/2) * time.Second / 48000
}

func meanVolume(t *testing.T, file string) float64 {
	t.Helper()
	out, _ := exec.Command(testenv.Binary(t, "ffmpeg", "ffmpeg"), "-hide_banner", "-i", file, "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	m := regexp.MustCompile(`mean_volume: (-?[0-9.]+) dB`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

package egress_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// What is being recorded goes away in the middle of the show: the room is
// closed, the performer is sent back to the audience, or the ingress carrying the
// mix is deleted. Each time the recording ends cleanly (complete, not failed or
// aborted) and the bucket holds a file as long as the music was recorded, and not
// silent.

func TestClosingTheRoomKeepsItsRecording(t *testing.T) {
	s := newStudio(t)
	s.perform(t, "stage", "ada", 440)
	rs := s.rooms(t)
	s.recordThrough(t, "stage", "ada", func(ctx context.Context) error { return rs.Delete(ctx, "stage") })
}

func TestDemotingThePerformerKeepsHerRecording(t *testing.T) {
	s := newStudio(t)
	s.perform(t, "stage", "ada", 440)
	rs := s.rooms(t)
	s.recordThrough(t, "stage", "ada", func(ctx context.Context) error {
		_, err := rs.Demote(ctx, "stage", "ada")
		return err
	})
}

func TestDeletingTheIngressKeepsItsRecording(t *testing.T) {
	testenv.RequireNetNS(t)
	env, _ := testenv.Ingress(t)
	s := newStudioOn(t, env)
	ctx := context.Background()
	is, err := ingress.New(ingress.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	in, err := is.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs-main"}, AudioOnly: true})
	require.NoError(t, err)
	testenv.PushRTMP(t, in.PublishURL, 90*time.Second, true)
	_, err = is.WaitFor(testenv.Within(t, wait), in.ID, ingress.Publishing)
	require.NoError(t, err)
	// Ingress says "publishing" a moment before its track is in the room.
	rs := s.rooms(t)
	require.Eventually(t, func() bool {
		p, err := rs.Participant(ctx, "stage", "obs-main")
		return err == nil && len(p.Tracks) > 0
	}, wait, 100*time.Millisecond, "the ingress's audio never appeared in the room")
	s.recordThrough(t, "stage", "obs-main", func(ctx context.Context) error { return is.Delete(ctx, in.ID) })
}

func (s *studio) rooms(t *testing.T) *rooms.Service {
	t.Helper()
	rs, err := rooms.New(rooms.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	return rs
}

// recordThrough records identity's audio for a few seconds, then destroys what
// is being recorded, and checks what the recording left in the bucket.
func (s *studio) recordThrough(t *testing.T, room, identity string, destroy func(context.Context) error) {
	t.Helper()
	ctx := context.Background()
	asked := time.Now()
	rec, err := s.egress.RecordAudio(ctx, room, egress.AudioOptions{Identity: identity})
	require.NoError(t, err)
	active, err := s.egress.WaitFor(testenv.Within(t, wait), rec.ID, egress.Active)
	require.NoError(t, err)
	require.Equal(t, egress.Active, active.Status, active.Error)
	time.Sleep(6 * time.Second) // music on tape (not a timing assertion)

	destroyed := time.Now()
	require.NoError(t, destroy(ctx))
	done, err := s.egress.WaitFor(testenv.Within(t, 2*wait), rec.ID, egress.Complete)
	require.NoError(t, err)
	t.Logf("egress ended %s after the destroy: %s %q", done.EndedAt.Sub(destroyed).Round(time.Millisecond), done.Status, done.Error)
	require.Equal(t, egress.Complete, done.Status, "the recording must end cleanly: %s", done.Error)
	// It ends with what it recorded (about 0.3 s after, measured), not when a
	// timeout gives up on it.
	assert.LessOrEqual(t, done.EndedAt.Sub(destroyed), maxEndAfterDestroy, "the recording ends with what it recorded")
	require.Len(t, done.Files, 1)

	local := filepath.Join(t.TempDir(), "rec.ogg")
	require.NoError(t, s.bucket(t).FGetObject(ctx, s.storage.Bucket, done.Files[0].Key, local, minio.GetObjectOptions{}))
	recording := destroyed.Sub(active.StartedAt)
	got := probeDuration(t, local)
	t.Logf("asked %.2fs before the destroy, active %.2fs before it; file is %.2fs (decodes to %.2fs), egress says %.2fs, ran %.2fs",
		destroyed.Sub(asked).Seconds(), recording.Seconds(), got.Seconds(), decodedDuration(t, local).Seconds(),
		done.Files[0].Duration.Seconds(), done.EndedAt.Sub(done.StartedAt).Seconds())
	assert.InDelta(t, recording.Seconds(), got.Seconds(), 1.5, "the file is as long as the music was recorded")
	assert.Greater(t, meanVolume(t, local), -40.0, "the recording must not be silent")
	assert.InDelta(t, 440, testenv.DominantFrequency(t, local), 10, "the performer's 440 Hz tone, not just any sound")
}

// maxEndAfterDestroy bounds how long a recording may go on after what it
// records is gone: LiveKit and Egress end it in about 0.3 s on our stack.
const maxEndAfterDestroy = 3 * time.Second

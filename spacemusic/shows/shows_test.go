package shows_test

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// An operator opens Friday's show twice, as a retried request or a second
// dashboard would: LiveKit has one room, one ingress and no egress, and both
// answers carry the same OBS settings. Then the spec grows by a performer and a
// destination (applied), and changes its ingest (refused, nothing touched).
func TestOpeningTwiceCreatesNothingNew(t *testing.T) {
	s := newStage(t, noMedia)
	ctx := testenv.Within(t, 30*time.Second)
	spec := shows.Spec{Name: "friday-jam",
		Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}, {Identity: "obs-main", Name: "Main mix", Via: shows.OBS}},
		Ingest:     shows.Ingest{Kind: shows.RTMP, AudioOnly: true}, Record: []string{"audio"},
		Restream: []string{"rtmp://live.example.org/app/FIRST-KEY"}, ListenerTTL: 2 * time.Hour}

	first, err := s.service(t).Open(ctx, spec)
	require.NoError(t, err)
	assert.True(t, first.Created)
	require.NotNil(t, first.Ingest)
	assert.NotEmpty(t, first.Ingest.StreamKey)
	// (ServerURL: LiveKit gives one only when it knows its Ingress; the media test checks it.)
	assert.Equal(t, "obs-main", first.Ingest.Identity)
	require.NotNil(t, first.Ingest.Encoder)
	assert.Equal(t, "AAC", first.Ingest.Encoder.AudioCodec)
	require.Len(t, first.Performers, 2)
	require.NotNil(t, first.Performers[0].Token, "a browser performer gets a token")
	claims, err := s.issuer.Verify(first.Performers[0].Token.JWT)
	require.NoError(t, err)
	assert.Equal(t, "friday-jam", claims.Grant.Room)
	assert.Equal(t, "Ada", claims.Name)
	assert.Nil(t, first.Performers[1].Token, "OBS comes in through the ingest")
	assert.Equal(t, 2*time.Hour, first.Listeners.TTL)
	assert.Equal(t, shows.Armed, first.Phase)
	for _, out := range []string{first.String(), first.Ingest.String()} {
		assert.NotContains(t, out, first.Ingest.StreamKey)
		assert.NotContains(t, out, first.Performers[0].Token.JWT)
	}
	room, err := s.rooms.Get(ctx, "friday-jam")
	require.NoError(t, err)
	assert.NotContains(t, room.Metadata, "FIRST-KEY", "listeners read room metadata")

	again, err := s.service(t).Open(ctx, spec)
	require.NoError(t, err)
	assert.False(t, again.Created)
	assert.Equal(t, first.Ingest.ID, again.Ingest.ID)
	assert.Equal(t, first.Ingest.StreamKey, again.Ingest.StreamKey)
	assert.Equal(t, first.Ingest.Encoder, again.Ingest.Encoder)
	nr, ni, ne := s.count(t, ctx, "friday-jam")
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{nr, ni, ne}, "rooms, ingresses, egresses")

	grown := spec
	grown.Performers = append(slices.Clone(spec.Performers), shows.Performer{Identity: "bob"})
	grown.Restream = append(slices.Clone(spec.Restream), "rtmp://other.example.org/live/SECOND-KEY")
	g, err := s.service(t).Open(ctx, grown)
	require.NoError(t, err)
	assert.Len(t, g.Performers, 3)
	assert.Len(t, g.Spec.Restream, 2)
	got, err := s.service(t).Get(ctx, "friday-jam")
	require.NoError(t, err, "a restarted dashboard finds the grown show in LiveKit")
	assert.Len(t, got.Spec.Performers, 3)
	assert.Len(t, got.Spec.Restream, 2)
	assert.Equal(t, first.Ingest.ID, got.Ingest.ID)
	nr, ni, ne = s.count(t, ctx, "friday-jam")
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{nr, ni, ne}, "rooms, ingresses, egresses")

	whip := grown
	whip.Ingest = shows.Ingest{Kind: shows.WHIP}
	_, err = s.service(t).Open(ctx, whip)
	require.Error(t, err)
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "cannot change ingest")
	nr, ni, _ = s.count(t, ctx, "friday-jam")
	assert.Equal(t, [2]int{1, 1}, [2]int{nr, ni})

	list, err := s.service(t).List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "friday-jam", list[0].Name)
	assert.Equal(t, shows.Armed, list[0].Phase)

	bob, err := s.service(t).Listener(ctx, "friday-jam", "bob")
	require.NoError(t, err)
	lc, err := s.issuer.Verify(bob.JWT)
	require.NoError(t, err)
	assert.Equal(t, "friday-jam", lc.Grant.Room)
	require.NotNil(t, lc.Grant.CanPublish)
	assert.False(t, *lc.Grant.CanPublish, "a listener only listens")
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), lc.ExpiresAt, time.Minute, "the show's listener lifetime")
}

// Someone else's room, and a show whose metadata someone overwrote, are
// refused clearly and left as they are.
func TestHostileRoomsAreLeftAlone(t *testing.T) {
	s := newStage(t, noMedia)
	ctx := testenv.Within(t, 30*time.Second)
	svc := s.service(t)
	_, err := s.rooms.Create(ctx, "their-room", rooms.CreateOptions{Metadata: `{"setlist":["intro"]}`})
	require.NoError(t, err)
	_, err = svc.Open(ctx, shows.Spec{Name: "their-room"})
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "not a show")
	_, err = svc.Close(ctx, "their-room")
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	r, err := s.rooms.Get(ctx, "their-room")
	require.NoError(t, err, "their room is still open")
	assert.Equal(t, `{"setlist":["intro"]}`, r.Metadata)

	_, err = svc.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
	require.NoError(t, err)
	_, err = s.rooms.SetMetadata(ctx, "tampered", `{"kind":"streamkit.show","v":1,"spec":{"ingest":"none","record":["everything"],"listenerTtlSec":3600}}`)
	require.NoError(t, err)
	// LiveKit stores the new metadata a moment after answering (seen under load).
	require.Eventually(t, func() bool {
		r, err := s.rooms.Get(ctx, "tampered")
		return err == nil && strings.Contains(r.Metadata, "everything")
	}, 10*time.Second, 20*time.Millisecond)
	// A restarted Service never saw the show good: it touches nothing.
	restarted := s.service(t)
	for _, call := range []func() error{
		func() error { _, err := restarted.Get(ctx, "tampered"); return err },
		func() error {
			_, err := restarted.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
			return err
		},
		func() error { _, err := restarted.Close(ctx, "tampered"); return err },
	} {
		err := call()
		require.Error(t, err)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
		assert.Contains(t, err.Error(), "changed outside this library")
	}
	list, err := restarted.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "their room is no show; the tampered one is listed with its problem")
	assert.Equal(t, "tampered", list[0].Name)
	assert.NotEmpty(t, list[0].Problems)
	// The Service that opened it keeps its last good spec: the garbage is
	// reported, not obeyed, and Close ends the show.
	got, err := svc.Get(ctx, "tampered")
	require.NoError(t, err)
	assert.Equal(t, []string{"audio"}, got.Spec.Record)
	assert.Contains(t, strings.Join(got.Problems, " "), "changed outside streamkit")
	_, err = svc.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
	assert.ErrorIs(t, err, shows.ErrTampered)
	rep, err := svc.Close(ctx, "tampered")
	require.NoError(t, err)
	assert.Contains(t, strings.Join(rep.Problems, " "), "changed outside streamkit")

	_, err = svc.Close(ctx, "never-opened")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	_, err = svc.Get(ctx, "bad name")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// A show is closed while its recorder still uploads Ada's part (the bucket
// holds the upload until the test lets it go): meanwhile the show is ending,
// on the dashboard closing it and on another, and opening it again is refused
// as closing; once the upload is through, the show is closed.
func TestAShowBeingClosedIsEndingAndCannotBeOpened(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 60*time.Second)
	upload := testenv.NewHeld(nil, true, func(r *http.Request) bool { return r.Method == http.MethodPut })
	t.Cleanup(upload.Let)
	svc := s.serviceUploadingVia(t, upload)
	s.background(t, svc.Run)
	spec := shows.Spec{Name: "ada-late", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}}, Record: []string{"audio"}}
	show, err := svc.Open(ctx, spec)
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	s.when(t, events.RecordingStarted, "ada-late", "", 15*time.Second)

	// Only the upload Close asks for is held, not any the recorder made before.
	upload.Hold()
	closed := make(chan error, 1)
	go func() { _, err := svc.Close(ctx, "ada-late"); closed <- err }()
	select {
	case <-upload.Arrived():
	case err := <-closed:
		t.Fatalf("Close returned before uploading Ada's part: %v", err)
	case <-ctx.Done():
		t.Fatal("the recorder never uploaded Ada's part")
	}
	mid, err := svc.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Ending, mid.Phase, "the closing dashboard sees its show ending")
	other := s.service(t) // another dashboard, knowing only the room's metadata
	theirs, err := other.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Ending, theirs.Phase, "another dashboard sees the show ending")
	_, err = other.Open(ctx, spec)
	assert.ErrorIs(t, err, shows.ErrClosing, "opening a show being closed is refused")

	upload.Let()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Close did not return once the upload went through")
	}
	after, err := svc.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Closed, after.Phase)
}

// Ada plays while the Watch lists LiveKit every second. LiveKit's lists never
// have the show's own recorder (it is no egress), yet the resyncs leave its
// recording alone: through three of them the model has it running, no resync
// ends it, and closing the show reports Ada's part, complete.
func TestResyncsLeaveTheShowsOwnRecordingAlone(t *testing.T) {
	s := newStage(t, withEgress, time.Second)
	ctx := testenv.Within(t, 60*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "ada-resync", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{"audio"}})
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	started, _ := s.when(t, events.RecordingStarted, "ada-resync", "", 15*time.Second)
	require.NotNil(t, started.Recording)
	id := started.Recording.ID
	require.True(t, strings.HasPrefix(id, capture.IDPrefix), "the show's own recorder records: %s", id)

	// After each of three resyncs (each completing after the recording began),
	// the recording is still running in the model.
	last := s.watch.Snapshot().Resynced
	for n := 1; n <= 3; n++ {
		var snap *events.Snapshot
		require.Eventually(t, func() bool {
			snap = s.watch.Snapshot()
			return snap.Resynced.After(last)
		}, 10*time.Second, 20*time.Millisecond, "resync %d", n)
		last = snap.Resynced
		r, ok := snap.Recordings[id]
		require.True(t, ok, "after resync %d the model still has %s", n, id)
		assert.True(t, r.Active(), "after resync %d %s is still running", n, id)
	}
	s.seen.mu.Lock()
	for _, e := range s.seen.evs {
		assert.False(t, e.Kind == events.RecordingEnded && e.Recording != nil && e.Recording.ID == id, "a resync ended %s: %+v", id, e)
	}
	s.seen.mu.Unlock()

	rep, err := svc.Close(ctx, "ada-resync")
	require.NoError(t, err)
	require.Len(t, rep.Parts, 1, "%+v", rep.Parts)
	assert.Equal(t, egress.Complete, rep.Parts[0].Status, rep.Parts[0].Error)
	require.Len(t, rep.Parts[0].Files, 1)
	t.Logf("Ada's part: %s, %s long", rep.Parts[0].Files[0].Key, rep.Parts[0].Files[0].Duration)
	assert.Greater(t, rep.Parts[0].Files[0].Duration, 2*time.Second, "the part holds the three resyncs' worth of Ada")
}

// A show armed with stems and HLS, end to end: Ada publishes her tone, the show
// starts her stem and an HLS stream once she is heard, she plays, and the show
// is closed. The report lists both parts complete; her stem decodes to her
// tone, and the HLS playlist lists segments that are in the bucket and play it.
func TestAShowArmedWithStemsAndHLSRecordsBoth(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 150*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "ada-stems", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{shows.RecordStems, shows.RecordHLS}})
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 60*time.Second))
	require.NoError(t, err)

	// The show starts both parts; each is egress's, which writes once active.
	started := map[string]string{}
	require.Eventually(t, func() bool {
		for _, st := range svc.Starts() {
			if st.Show == "ada-stems" {
				started[st.Kind] = st.ID
			}
		}
		return started[shows.RecordStems] != "" && started[shows.RecordHLS] != ""
	}, 60*time.Second, 50*time.Millisecond, "the show starts a stem and HLS: %v", started)
	for kind, id := range started {
		e, err := s.egress.WaitFor(ctx, id, egress.Active)
		require.NoError(t, err)
		require.Equal(t, egress.Active, e.Status, "%s %s: %s", kind, id, e.Error)
	}
	time.Sleep(5 * time.Second) // Ada plays on: a little more than one 4 s HLS segment

	rep, err := svc.Close(ctx, "ada-stems")
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	byKind := map[string]shows.Part{}
	for _, p := range rep.Parts {
		byKind[p.Kind] = p
	}
	require.Len(t, rep.Parts, 2, "%+v", rep.Parts)

	stem, ok := byKind["stem"]
	require.True(t, ok, "the report lists Ada's stem: %+v", rep.Parts)
	assert.Equal(t, egress.Complete, stem.Status, stem.Error)
	require.Len(t, stem.Files, 1)
	assert.Contains(t, stem.Files[0].Key, "ada", "the stem is named after Ada")
	file := download(t, stem.Files[0].URL)
	played, share := probedSeconds(t, file), testenv.ToneShare(t, file, 440)
	t.Logf("stem %s: plays %.2f s (the report says %s); 440 Hz is %.1f dB of its sound", stem.Files[0].Key, played, stem.Files[0].Duration, share)
	assert.Greater(t, played, 3.0, "the stem holds Ada's playing")
	assert.Greater(t, share, -1.0, "the stem is Ada's tone")

	hls, ok := byKind["hls"]
	require.True(t, ok, "the report lists the HLS stream: %+v", rep.Parts)
	assert.Equal(t, egress.Complete, hls.Status, hls.Error)
	require.Len(t, hls.Files, 1)
	playlist := hls.Files[0]
	require.True(t, strings.HasSuffix(playlist.Key, ".m3u8"), playlist.Key)
	body, err := os.ReadFile(download(t, playlist.URL))
	require.NoError(t, err)
	var segments []string
	for _, line := range strings.Split(string(body), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
		}
	}
	t.Logf("playlist %s (%s): %d segments %v", playlist.Key, playlist.Duration, len(segments), segments)
	require.NotEmpty(t, segments, "the playlist lists segments:\n%s", body)
	// A player plays the segments one after the other: MPEG-TS concatenates.
	stream := filepath.Join(t.TempDir(), "stream.ts")
	var all []byte
	for i, seg := range segments {
		u, err := s.store.DownloadURL(ctx, path.Join(path.Dir(playlist.Key), seg), 0)
		require.NoError(t, err, "segment %s is in the bucket", seg)
		f := download(t, u)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotEmpty(t, b, "segment %s", seg)
		all = append(all, b...)
		segShare := testenv.ToneShare(t, f, 440)
		t.Logf("segment %s: plays %.2f s; 440 Hz is %.1f dB of its sound", seg, probedSeconds(t, f), segShare)
		// The last segment, cut at the stop, is left out: in runs it held
		// silence (1.3 s at -Inf dB) though Ada still played.
		if i < len(segments)-1 {
			assert.Greater(t, segShare, -1.0, "segment %s is Ada's tone", seg)
		}
	}
	require.NoError(t, os.WriteFile(stream, all, 0o600))
	heard, share := probedSeconds(t, stream), testenv.ToneShare(t, stream, 440)
	t.Logf("the stream plays %.2f s; 440 Hz is %.1f dB of its sound", heard, share)
	assert.Greater(t, heard, 3.0, "the stream holds Ada's playing")
	assert.Greater(t, share, -1.0, "the stream is Ada's tone")
}

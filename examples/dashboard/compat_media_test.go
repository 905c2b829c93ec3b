package main

import (
	stderrors "errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// The compatibility suite's stories that carry media: OBS over RTMP, a
// recording, a show, and a browser (see compat_test.go).

func storyIngressCreated(t *testing.T, c *compatStage) string {
	for _, kind := range []string{"rtmp", "whip"} {
		code, body := c.call(t, "POST", "/api/ingress", map[string]any{"kind": kind, "room": "friday-jam", "identity": "obs-" + kind, "audioOnly": kind == "rtmp"})
		require.Equal(t, http.StatusCreated, code, "%s: %s", kind, body)
		in := decodeAs[ingress.Ingress](t, body)
		assert.Equal(t, kind, string(in.Kind))
		code, body = c.call(t, "GET", "/api/ingress/"+in.ID+"/stream-key", nil)
		require.Equal(t, http.StatusOK, code, "%s", body)
		key := decodeAs[media.StreamKey](t, body)
		require.NotEmpty(t, key.PublishURL, "%s: where the encoder sends", kind)
		c.keepOutOfLogs(key.StreamKey)
		c.keys[kind] = key.PublishURL
	}
	return works
}

func storyWHIPPush(t *testing.T, c *compatStage) string {
	url := c.keys["whip"]
	require.NotEmpty(t, url, "the WHIP ingress story made no ingress")
	testenv.PublishWHIP(t, url, testenv.Tone(t, 660, 30*time.Second))
	c.participant(t, "friday-jam", "obs-whip", "the WHIP push never became a track", func(p rooms.Participant) bool {
		return len(p.Tracks) > 0 && p.Tracks[0].Kind == "audio"
	})
	return works
}

func storyRTMPPush(t *testing.T, c *compatStage) string {
	url := c.keys["rtmp"]
	require.NotEmpty(t, url, "the RTMP ingress story made no ingress")
	testenv.PushRTMP(t, url, 90*time.Second, true)
	c.participant(t, "friday-jam", "obs-rtmp", "OBS's push never became a track", func(p rooms.Participant) bool {
		return len(p.Tracks) > 0 && p.Tracks[0].Kind == "audio"
	})
	return works
}

func storyRecording(t *testing.T, c *compatStage) string {
	code, body := c.call(t, "POST", "/api/egress", map[string]any{"kind": "audio", "room": "friday-jam", "identity": "ada", "bitrate": 128})
	require.Equal(t, http.StatusCreated, code, "%s", body)
	started := decodeAs[[]egress.Egress](t, body)
	require.Len(t, started, 1)
	id := started[0].ID
	c.egressReaches(t, "friday-jam", id, egress.Active)
	time.Sleep(2 * time.Second) // some music on tape (not a timing assertion)
	code, body = c.call(t, "DELETE", "/api/egress?id="+id, nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	c.egressReaches(t, "friday-jam", id, egress.Complete)
	code, body = c.call(t, "GET", "/api/recordings?room=friday-jam", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var found bool
	for _, r := range decodeAs[[]archive.Recording](t, body) {
		found = found || r.EgressID == id
	}
	assert.True(t, found, "the recording is in the archive: %s", body)
	return works
}

// storyRecorder: the shows' own recorder (a Go SDK participant under a
// reserved identity, with the own-participant proof where the server carries
// it) records ada and uploads the part to MinIO.
func storyRecorder(t *testing.T, c *compatStage) string {
	ctx := testenv.Within(t, time.Minute)
	dir := t.TempDir()
	r, err := capture.New(capture.Config{URL: c.env.WSURL, Tokens: c.sm.Tokens, Store: c.sm.Recordings, Dir: dir})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Arm(ctx, "friday-jam", "ada"))
	var key string
	require.Eventually(t, func() bool {
		a := r.Active("friday-jam")
		if len(a) != 1 || a[0].Status != egress.Active {
			return false
		}
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(a[0].Key)))
		key = a[0].Key
		return err == nil && st.Size() > 8<<10 // a second or so of Opus
	}, wait, tick, "the recorder never recorded ada")
	require.NoError(t, r.Finish(ctx, "friday-jam"))
	all, err := c.sm.Recordings.List(ctx, "friday-jam")
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(all, func(rec recordings.Recording) bool { return rec.Key == key }), "the recorder's part %s is in the bucket", key)
	return works
}

func storyShow(t *testing.T, c *compatStage) string {
	code, body := c.as(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "late-set",
		"performers": []map[string]any{{"identity": "mia"}, {"identity": "obs-late", "via": "obs"}},
		"ingest":     map[string]any{"kind": "rtmp"}, "record": []string{"audio"}})
	require.Equal(t, http.StatusCreated, code, "%s", body)
	show := decodeAs[showroutes.Opened](t, body)
	assert.Equal(t, "armed", show.Phase, "a show with a recording plan waits for its music")
	require.NotNil(t, show.OBS)
	c.keepOutOfLogs(show.OBS.StreamKey)
	code, body = c.as(t, testOperatorKey, "DELETE", "/api/shows/late-set", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	return works
}

// storyBrowserJoin is LiveKit's web SDK in Chromium joining with a token the
// dashboard made: the operator's monitor, listening to ada.
func storyBrowserJoin(t *testing.T, c *compatStage) string {
	b := openDashboard(t, c.srv.URL+"/", "mia")
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	b.until("ada on stage", `!!document.querySelector('#participants li[data-identity="ada"] li[data-track]')`)
	b.run(chromedp.Click("#listen", chromedp.ByQuery))
	b.until("the monitor listening", `document.querySelector("#monitor-state").textContent.startsWith("listening")`)
	b.until("ada heard", `+document.querySelector('#meters li[data-identity="ada"]')?.dataset.rms > -40`)
	return works
}

// storyOwnParticipants: the monitor that joined in the browser story is the
// project's own, and never called an impostor. Where the server carries the
// proof (participant attributes) the dashboard checks every reserved join;
// where it cannot (v1.6.1), the library says so with a typed error and the
// dashboard runs without the check rather than raise false alarms.
func storyOwnParticipants(t *testing.T, c *compatStage) string {
	monitor := func() bool {
		for _, e := range c.stream.all() {
			if e.Kind == events.ParticipantJoined && e.Participant != nil && tokens.Reserved(e.Participant.Identity) {
				return true
			}
		}
		return false
	}
	require.Eventually(t, monitor, wait, tick, "the monitor's join never reached /api/events: %v", storyOf(c.stream.all()))
	time.Sleep(500 * time.Millisecond) // the impostor event follows the join at once, if it comes
	assert.False(t, c.stream.has(events.Impostor, "friday-jam", ""), "the monitor was called an impostor: %v", storyOf(c.stream.all()))
	err := c.sm.Tokens.CheckOwnProof()
	if err != nil {
		assert.Contains(t, c.logs.String(), "cannot be told from impostors", "the dashboard says at start that the check is off")
	}
	return c.observed(t, err)
}

// storyAttributes: a performer's token carries attributes the room shows, or
// the library refuses it with a typed error where the server would drop them.
func storyAttributes(t *testing.T, c *compatStage) string {
	cello := tokens.WithAttributes(map[string]string{"instrument": "cello"})
	tok, err := c.sm.Tokens.Performer("friday-jam", "cello", cello)
	if err != nil {
		// The refusal is no guess: a token minted anyway (by an issuer not told
		// the release) joins, and the server drops its attributes.
		anyway, ierr := tokens.NewIssuer(c.env.APIKey, c.env.APISecret)
		require.NoError(t, ierr)
		tok, ierr = anyway.Performer("friday-jam", "cello", cello)
		require.NoError(t, ierr)
		c.env.Join(t, tok.JWT, nil)
		p := c.participant(t, "friday-jam", "cello", "cello never joined", func(rooms.Participant) bool { return true })
		assert.Empty(t, p.Attributes, "livekit-server %s kept the attributes: the refusal is wrong", c.version)
		return c.observed(t, err)
	}
	c.env.Join(t, tok.JWT, nil)
	c.participant(t, "friday-jam", "cello", "cello's attributes never showed", func(p rooms.Participant) bool {
		return p.Attributes["instrument"] == "cello"
	})
	return works
}

// observed is a story's cell: works for no error; for a refusal, the kind and
// hint, which must be ErrUnsupported naming this version (never on the pin).
func (c *compatStage) observed(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return works
	}
	require.ErrorIs(t, err, errs.ErrUnsupported)
	require.ErrorIs(t, err, stderrors.ErrUnsupported, "the standard library's kind matches too")
	pinned, verr := testenv.StackVersion("LIVEKIT_VERSION")
	require.NoError(t, verr)
	require.NotEqual(t, pinned, c.version, "the pinned version lacks nothing: %v", err)
	var e *errs.Error
	require.ErrorAs(t, err, &e)
	require.Contains(t, e.Message, c.version, "the error names the server's version")
	require.NotEmpty(t, e.Hint)
	return "ErrUnsupported: " + e.Message + "; " + e.Hint
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// Another operator's key: the same role as testOperatorKey, another person.
const otherOperatorKey = "other-operator-key-0123456789"

// withOtherOperator adds otherOperatorKey to a stage's keys.
func withOtherOperator(s *settings) {
	s.APIKeys = append(s.APIKeys, apiKey{otherOperatorKey, operator})
}

// newOwnersStage is newShowStage with a second operator.
func newOwnersStage(t testing.TB) (*stage, *testenv.Env) {
	t.Helper()
	hook := newHookFront(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	st := newStageWith(t, env, egress.Storage{Endpoint: "http://127.0.0.1:9", Bucket: "recordings",
		AccessKey: "show-stage-access", SecretKey: "show-stage-secret-0123456789"}, withOtherOperator)
	hook.to(st)
	return st, env
}

// noShowSecrets fails t if a show's answer holds a stream key or a token:
// the ones given, and any JWT at all (performer tokens are fresh each time).
func noShowSecrets(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, string(body), s)
	}
	assert.NotContains(t, string(body), "eyJ", "no token of any kind")
}

// Olga opens Friday's show. A viewer reads it, and Oscar, another operator,
// posts the same spec back: neither gets the stream key, a publish URL or a
// performer token (the answer says why). Olga and an admin get them, also
// from a second dashboard (a restart, a replica): who opened the show is kept
// with it. Oscar cannot close Olga's show; Olga can, and an admin can close any.
func TestShowSecretsGoToTheirOpener(t *testing.T) {
	st, env := newOwnersStage(t)
	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	require.Equal(t, 201, code, "%s", body)
	opened := decodeAs[openedShow](t, body)
	require.NotNil(t, opened.OBS)
	key, ada := opened.OBS.StreamKey, opened.Performers[0].Token
	require.NotEmpty(t, key)
	require.NotEmpty(t, ada)
	assert.Empty(t, opened.Withheld)

	code, body = st.as(t, testViewerKey, "GET", "/api/shows/friday-jam", "")
	require.Equal(t, 200, code, "%s", body)
	noShowSecrets(t, body, key, ada)

	code, body = st.as(t, otherOperatorKey, "POST", "/api/shows", fridayJam())
	require.Equal(t, 200, code, "the same spec: the show as it is: %s", body)
	noShowSecrets(t, body, key, ada, platformKey)
	theirs := decodeAs[openedShow](t, body)
	assert.Contains(t, theirs.Withheld, "opened by someone else")
	require.NotNil(t, theirs.OBS, "the ingest's settings, without its key")
	assert.Equal(t, opened.OBS.IngressID, theirs.OBS.IngressID)
	assert.Empty(t, theirs.OBS.StreamKey)
	assert.Empty(t, theirs.OBS.PublishURL)
	for _, p := range theirs.Performers {
		assert.Empty(t, p.Token, p.Identity)
	}

	// The opener and an admin get the secrets, on this dashboard and on
	// another one in front of the same LiveKit.
	other := newStageWith(t, env, egress.Storage{Endpoint: "http://127.0.0.1:9", Bucket: "recordings",
		AccessKey: "show-stage-access", SecretKey: "show-stage-secret-0123456789"}, withOtherOperator)
	for _, s := range []*stage{st, other} {
		for _, who := range []string{testOperatorKey, testAPIKey} {
			code, body = s.as(t, who, "POST", "/api/shows", fridayJam())
			require.Equal(t, 200, code, "%s", body)
			again := decodeAs[openedShow](t, body)
			assert.Empty(t, again.Withheld)
			require.NotNil(t, again.OBS)
			assert.Equal(t, key, again.OBS.StreamKey)
			assert.NotEmpty(t, again.Performers[0].Token)
		}
		code, body = s.as(t, otherOperatorKey, "POST", "/api/shows", fridayJam())
		require.Equal(t, 200, code, "%s", body)
		noShowSecrets(t, body, key)
	}

	// Oscar cannot close it: refused before anything is touched.
	for _, s := range []*stage{st, other} {
		code, body = s.as(t, otherOperatorKey, "DELETE", "/api/shows/friday-jam", "")
		assert.Equal(t, 403, code, "%s", body)
		assert.Equal(t, "forbidden", errorCode(t, body))
	}
	ctx := t.Context()
	rs, err := st.sm.Rooms.List(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Len(t, rs, 1, "the stage is open")
	ins, err := st.sm.Ingress.List(ctx, ingress.ListOptions{Room: "friday-jam"})
	require.NoError(t, err)
	assert.Len(t, ins, 1, "the ingress is there")
	code, body = st.as(t, testViewerKey, "DELETE", "/api/shows/friday-jam", "")
	assert.Equal(t, 403, code, "%s", body)

	// Olga closes it (on the other dashboard); closing again answers her the report, not Oscar.
	code, body = other.as(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", "")
	require.Equal(t, 200, code, "%s", body)
	code, body = other.as(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", "")
	assert.Equal(t, 200, code, "%s", body)
	code, body = other.as(t, otherOperatorKey, "DELETE", "/api/shows/friday-jam", "")
	assert.Equal(t, 403, code, "%s", body)

	// An admin closes a show an operator opened.
	jam := map[string]any{"name": "saturday-jam"}
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", jam)
	require.Equal(t, 201, code, "%s", body)
	code, body = st.as(t, testAPIKey, "DELETE", "/api/shows/saturday-jam", "")
	require.Equal(t, 200, code, "%s", body)
	rs, err = st.sm.Rooms.List(ctx, "saturday-jam")
	require.NoError(t, err)
	assert.Empty(t, rs)
}

// A DJ's set is pulled from a URL whose query and userinfo hold credentials
// (made outside the dashboard, which refuses userinfo). Viewers see the pull in
// the list, the event stream and the room's timeline without them, and the
// shared Redis log never stores them; an admin's list has the URL whole.
func TestPullCredentialsStayWithAdmins(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env, _ := testenv.Ingress(t, hook.option())
	st := newStageOn(t, env, func(s *settings) {
		s.LiveKitTimeout = 10 * time.Second
		s.RedisURL = "redis://" + env.RedisAddr
	})
	hook.to(st)
	src := strings.Replace(testenv.MediaFile(t, "set.ogg", 8*time.Second), "http://", "http://dj:pa55-s3cr3t@", 1) + "?token=s3cr3t"
	ctx := t.Context()
	var pull ingress.Ingress
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) { // Ingress may be busy a moment (pullURL)
		pull, err = st.ing.PullURL(ctx, ingress.URLOptions{Participant: ingress.Participant{Room: "afterparty", Identity: "dj-set"}, URL: src})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	require.NoError(t, err)

	// The viewer's list comes from the model, which learned the pull from
	// LiveKit's webhooks.
	if !poll(t, wait, "the pull never reached the model", func() (bool, string) {
		code, body, rev := st.read(t, "/api/ingress?room=afterparty")
		return code == 200 && rev != 0 && strings.Contains(string(body), pull.ID), string(body)
	}) {
		t.FailNow()
	}
	viewed := map[string][]byte{}
	for _, path := range []string{"/api/ingress?room=afterparty", "/api/ingress", "/api/events?follow=false&after=0", "/api/rooms/afterparty/timeline"} {
		code, body, _ := st.read(t, path)
		require.Equal(t, 200, code, "%s: %s", path, body)
		viewed[path] = body
	}
	assert.Contains(t, string(viewed["/api/events?follow=false&after=0"]), pull.ID, "the stream tells the pull")
	for path, body := range viewed {
		assert.NotContains(t, string(body), "s3cr3t", path)
		assert.NotContains(t, string(body), "pa55", path)
	}
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	defer rdb.Close()
	raw, err := rdb.XRange(context.Background(), "streamkit:events", "-", "+").Result()
	require.NoError(t, err)
	require.NotEmpty(t, raw, "the shared log holds the events")
	logged := 0
	for _, m := range raw {
		for _, v := range m.Values {
			s, _ := v.(string)
			assert.NotContains(t, s, "s3cr3t", "stored in Redis")
			assert.NotContains(t, s, "pa55", "stored in Redis")
			if strings.Contains(s, pull.ID) {
				logged++
			}
		}
	}
	assert.NotZero(t, logged, "the pull's events are in the log")

	code, body := st.call(t, "GET", "/api/ingress?room=afterparty", nil, "X-API-Key", testAPIKey)
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), "token=s3cr3t", "an admin sees the URL whole")
	code, body = st.call(t, "GET", "/api/ingress?room=afterparty", nil, "X-API-Key", testOperatorKey)
	require.Equal(t, 200, code, "%s", body)
	assert.NotContains(t, string(body), "s3cr3t", "an operator does not")
}

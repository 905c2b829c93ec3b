package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// Another operator's key: the same role as testOperatorKey, another person.
const otherOperatorKey = "other-operator-key-0123456789"

// withOtherOperator adds otherOperatorKey to a stage's keys.
func withOtherOperator(s *config.Settings) {
	s.APIKeys = append(s.APIKeys, access.APIKey{Key: otherOperatorKey, Role: api.Operator})
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
	opened := decodeAs[showroutes.Opened](t, body)
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
	theirs := decodeAs[showroutes.Opened](t, body)
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
			again := decodeAs[showroutes.Opened](t, body)
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
// (made outside the dashboard, which refuses userinfo), and LiveKit's webhook
// tells the dashboard about it with the URL whole, as it does. Viewers see the
// pull in the list, the event stream and the room's timeline without them, and
// the shared Redis log never stores them. (An admin's list, from LiveKit, has
// the URL whole: TestEngineerStreamsFromOBS, with a real Ingress.)
func TestPullCredentialsStayWithAdmins(t *testing.T) {
	hook := newHookFront(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	st := newStageOn(t, env, func(s *config.Settings) {
		s.RedisURL = "redis://" + env.RedisAddr
		s.Resync = time.Hour // a resync would find no such pull in LiveKit and drop it
	})
	hook.to(st)
	require.Eventually(t, func() bool { return st.live.Snapshot().Synced }, wait, tick, "the model's first list")
	src := "http://dj:pa55-s3cr3t@cdn.example.test/sets/friday.ogg?token=s3cr3t"
	started := &livekit.WebhookEvent{Event: "ingress_started", Id: "EV_pull_started", CreatedAt: time.Now().Unix(),
		IngressInfo: &livekit.IngressInfo{IngressId: "IN_pullwithtoken", Name: "dj-set", InputType: livekit.IngressInput_URL_INPUT,
			Url: src, RoomName: "afterparty", ParticipantIdentity: "dj-set",
			State: &livekit.IngressState{Status: livekit.IngressState_ENDPOINT_ERROR, Error: "cannot fetch " + src + ": 403"}}}
	body, err := protojson.Marshal(started)
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	tok, err := auth.NewAccessToken(env.APIKey, env.APISecret).SetValidFor(time.Minute).SetSha256(base64.StdEncoding.EncodeToString(sum[:])).ToJWT()
	require.NoError(t, err)
	code, out := st.call(t, "POST", "/api/webhooks/livekit", string(body), "Authorization", tok, "Content-Type", "application/webhook+json")
	require.Equal(t, 200, code, "%s", out)

	// Answered from the model, which has the webhook's pull.
	if !poll(t, wait, "the pull never reached the viewer's list", func() (bool, string) {
		code, body, rev := st.read(t, "/api/ingress?room=afterparty")
		return code == 200 && rev != 0 && strings.Contains(string(body), "IN_pullwithtoken"), string(body)
	}) {
		t.FailNow()
	}
	viewed := map[string][]byte{}
	for _, path := range []string{"/api/ingress?room=afterparty", "/api/events?follow=false&after=0", "/api/rooms/afterparty/timeline"} {
		code, body, _ := st.read(t, path)
		require.Equal(t, 200, code, "%s: %s", path, body)
		assert.Contains(t, string(body), "IN_pullwithtoken", "%s tells the pull", path)
		assert.Contains(t, string(body), "cdn.example.test/sets/", "%s tells where from", path)
		viewed[path] = body
	}
	code, out = st.call(t, "GET", "/api/ingress?room=afterparty", nil, "X-API-Key", testOperatorKey)
	require.Equal(t, 200, code, "%s", out)
	viewed["an operator's list"] = out
	for path, body := range viewed {
		assert.NotContains(t, string(body), "s3cr3t", path)
		assert.NotContains(t, string(body), "pa55", path)
	}
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	defer rdb.Close()
	raw, err := rdb.XRange(context.Background(), "streamkit:events", "-", "+").Result()
	require.NoError(t, err)
	logged := 0
	for _, m := range raw {
		for _, v := range m.Values {
			s, _ := v.(string)
			assert.NotContains(t, s, "s3cr3t", "stored in Redis")
			assert.NotContains(t, s, "pa55", "stored in Redis")
			if strings.Contains(s, "IN_pullwithtoken") {
				logged++
			}
		}
	}
	assert.NotZero(t, logged, "the pull's event is in the shared log")
}

// Max, a moderator on Olga's stage, rewrites the show's metadata to make
// himself its opener and mark it closing. The dashboard reports the show as
// tampered and obeys none of it: GET names the problem, the show is not
// closing, a re-post is refused (409 show_tampered), and nobody's secrets go
// out; only an admin may close it now.
func TestATamperedShowIsReportedNotObeyed(t *testing.T) {
	st, env := newOwnersStage(t)
	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "late-set", "performers": []map[string]any{{"identity": "ada"}},
		"record": []string{"audio"}})
	require.Equal(t, 201, code, "%s", body)
	rs, err := st.sm.Rooms.List(t.Context(), "late-set")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	var md map[string]any
	require.NoError(t, json.Unmarshal([]byte(rs[0].Metadata), &md))
	md["closing"], md["opener"] = true, "0123456789abcdef0123456789abcdef"
	raw, err := json.Marshal(md)
	require.NoError(t, err)
	mod, err := st.sm.Tokens.Moderator("late-set", "max")
	require.NoError(t, err)
	st.keepOutOfLogs(mod.JWT)
	req, err := http.NewRequest("POST", env.URL+"/twirp/livekit.RoomService/UpdateRoomMetadata",
		strings.NewReader(fmt.Sprintf(`{"room":"late-set","metadata":%q}`, raw)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+mod.JWT)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "LiveKit lets a moderator rewrite room metadata")

	code, body = st.as(t, testViewerKey, "GET", "/api/shows/late-set", "")
	require.Equal(t, 200, code, "%s", body)
	v := decodeAs[showroutes.View](t, body)
	assert.NotEqual(t, "ending", v.Phase, "not closing")
	assert.Contains(t, strings.Join(v.Problems, " "), "changed outside streamkit")
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "late-set", "performers": []map[string]any{{"identity": "ada"}},
		"record": []string{"audio"}})
	assert.Equal(t, 409, code, "%s", body)
	assert.Equal(t, "show_tampered", errorCode(t, body))
	noShowSecrets(t, body)
	code, body = st.as(t, testOperatorKey, "DELETE", "/api/shows/late-set", "")
	assert.Equal(t, 403, code, "a tampered show's opener cannot be trusted: %s", body)
	code, body = st.as(t, testAPIKey, "DELETE", "/api/shows/late-set", "")
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), "changed outside streamkit", "the report tells it")
}

// BenchmarkKeyID is what telling API keys apart costs a request, against
// hashing the key each time (the baseline).
func BenchmarkKeyID(b *testing.B) {
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			sum := sha256.Sum256([]byte("streamkit api key\x00" + testOperatorKey))
			_ = hex.EncodeToString(sum[:8])
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			_ = access.KeyID(testOperatorKey)
		}
	})
}

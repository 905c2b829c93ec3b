package events_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/spacemusic/streamkit/spacemusic/events"
)

const (
	hookKey    = "streamkit"
	hookSecret = "a-webhook-secret-of-at-least-32-chars"
)

// signed is a webhook as LiveKit sends one: the body's sha256 in a JWT signed
// with key/secret, valid for validFor.
func signed(t require.TestingT, key, secret string, validFor time.Duration, body []byte) *http.Request {
	sum := sha256.Sum256(body)
	tok, err := auth.NewAccessToken(key, secret).SetValidFor(validFor).SetSha256(base64.StdEncoding.EncodeToString(sum[:])).ToJWT()
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	r.Header.Set("Authorization", tok)
	r.Header.Set("Content-Type", "application/webhook+json")
	return r
}

// handMade is a webhook signed correctly with a token that expires at exp
// (auth.AccessToken cannot make an expired one: it turns a negative lifetime
// into 6 h).
func handMade(t testing.TB, body []byte, exp time.Time) *http.Request {
	sum := sha256.Sum256(body)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": hookKey, "nbf": time.Now().Add(-time.Hour).Unix(),
		"exp": exp.Unix(), "sha256": base64.StdEncoding.EncodeToString(sum[:])}).SignedString([]byte(hookSecret))
	require.NoError(t, err)
	r := signed(t, hookKey, hookSecret, time.Minute, body)
	r.Header.Set("Authorization", tok)
	return r
}

func joinedBody(t require.TestingT, id string) []byte {
	b, err := protojson.Marshal(&livekit.WebhookEvent{Event: "participant_joined", Id: id, CreatedAt: time.Now().Unix(),
		Room:        &livekit.Room{Name: "stage", Sid: "RM_1"},
		Participant: &livekit.ParticipantInfo{Sid: "PA_1", Identity: "ada", Permission: &livekit.ParticipantPermission{CanPublish: true}}})
	require.NoError(t, err)
	return b
}

// Everything a forger, a replayer or a careless proxy can send is refused (or,
// for a retry, acknowledged) and emits nothing; only LiveKit's signed event is
// emitted, once.
func TestReceiverRefusesAllButLiveKit(t *testing.T) {
	var got []events.Event
	rc := events.NewReceiver(hookKey, hookSecret, func(_ context.Context, e events.Event) error { got = append(got, e); return nil })
	serve := func(r *http.Request) int {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, r)
		return w.Code
	}
	body := joinedBody(t, "EV_1")
	valid := func() *http.Request { return signed(t, hookKey, hookSecret, 5*time.Minute, body) }

	refused := map[string]struct {
		req    *http.Request
		status int
	}{
		"no Authorization":      {func() *http.Request { r := valid(); r.Header.Del("Authorization"); return r }(), 401},
		"garbled Authorization": {func() *http.Request { r := valid(); r.Header.Set("Authorization", "Bearer x.y.z"); return r }(), 401},
		"wrong secret":          {signed(t, hookKey, strings.Repeat("w", 40), 5*time.Minute, body), 401},
		"unknown key":           {signed(t, "someone-else", hookSecret, 5*time.Minute, body), 401},
		"expired":               {handMade(t, body, time.Now().Add(-10*time.Minute)), 401},
		"body changed after signing": {func() *http.Request {
			r := valid()
			r.Body = http.NoBody
			r.Body = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bytes.Replace(body, []byte("ada"), []byte("eve"), 1))).Body
			return r
		}(), 401},
		"signed but not an event": {signed(t, hookKey, hookSecret, 5*time.Minute, []byte(`{"nope":`)), 400},
		"signed but empty event":  {signed(t, hookKey, hookSecret, 5*time.Minute, []byte(`{}`)), 400},
		"oversized":               {signed(t, hookKey, hookSecret, 5*time.Minute, bytes.Repeat([]byte(" "), events.MaxWebhookBody+1)), 413},
		"form post": {func() *http.Request {
			r := valid()
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}(), 415},
		"GET": {httptest.NewRequest(http.MethodGet, "/webhook", nil), 405},
	}
	for name, c := range refused {
		assert.Equal(t, c.status, serve(c.req), name)
	}
	require.Empty(t, got, "a refused webhook emitted an event")

	assert.Equal(t, 200, serve(valid()))
	assert.Equal(t, 200, serve(valid()), "LiveKit's retry is acknowledged")
	require.Len(t, got, 1, "and emitted once")
	assert.Equal(t, events.ParticipantJoined, got[0].Kind)
	assert.Equal(t, "ada", got[0].Participant.Identity)
	assert.Equal(t, events.Performer, got[0].Participant.Role)
	c := rc.Counts()
	assert.Equal(t, int64(1), c[events.Accepted])
	assert.Equal(t, int64(1), c[events.Duplicate])
	assert.Equal(t, int64(6), c[events.Unsigned])

	// The control: the same hand-made token, not yet expired, is accepted.
	w := httptest.NewRecorder()
	events.NewReceiver(hookKey, hookSecret, func(context.Context, events.Event) error { return nil }).ServeHTTP(w, handMade(t, body, time.Now().Add(time.Minute)))
	assert.Equal(t, 200, w.Code)
}

// Whatever bytes arrive with whatever header, the receiver answers without
// panicking, and only the body LiveKit signed is ever emitted.
func FuzzReceiver(f *testing.F) {
	body := joinedBody(f, "EV_F")
	good := signed(f, hookKey, hookSecret, time.Hour, body).Header.Get("Authorization")
	f.Add(body, good)
	f.Add([]byte(`{"event":"room_started"}`), good)
	f.Add(body, "")
	f.Add([]byte{}, "Bearer")
	f.Fuzz(func(t *testing.T, b []byte, authz string) {
		emitted := 0
		rc := events.NewReceiver(hookKey, hookSecret, func(context.Context, events.Event) error { emitted++; return nil })
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(b))
		r.Header.Set("Authorization", authz)
		r.Header.Set("Content-Type", "application/webhook+json")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, r)
		if w.Code == 200 && emitted > 0 && !bytes.Equal(b, body) {
			t.Fatalf("emitted an event from a body LiveKit never signed: %q", b)
		}
		if w.Code != 200 && emitted > 0 {
			t.Fatalf("answered %d but emitted", w.Code)
		}
	})
}

// A webhook the sink could not take (the shared log was down) is answered 503
// and forgotten, so LiveKit's retry is taken, once.
func TestAFailedWebhookIsTakenOnRetry(t *testing.T) {
	fail, emitted := true, 0
	rc := events.NewReceiver(hookKey, hookSecret, func(context.Context, events.Event) error {
		if fail {
			return errors.New("log down")
		}
		emitted++
		return nil
	})
	body := joinedBody(t, "EV_retry")
	serve := func() int {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, signed(t, hookKey, hookSecret, time.Minute, body))
		return w.Code
	}
	assert.Equal(t, http.StatusServiceUnavailable, serve())
	fail = false
	assert.Equal(t, http.StatusOK, serve())
	assert.Equal(t, http.StatusOK, serve())
	assert.Equal(t, 1, emitted, "the retry is taken, the next one is a duplicate")
	assert.Equal(t, map[string]int64{events.Failed: 1, events.Accepted: 1, events.Duplicate: 1}, rc.Counts())
}

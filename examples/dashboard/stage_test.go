package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

const (
	testAPIKey = "key-for-tests-0123456789" // an admin's
	// Keys of the other roles, for the role tests.
	testOperatorKey = "operator-key-0123456789"
	testViewerKey   = "viewer-key-0123456789ab"
	wait, tick      = 15 * time.Second, 50 * time.Millisecond
	publicWS        = "wss://livekit.example.test"
)

// stage is a dashboard in front of a real LiveKit, with its logs captured and
// every answer checked for leaked credentials.
type stage struct {
	env   *testenv.Env
	sm    *spacemusic.Client
	ing   *ingress.Service
	srv   *httptest.Server
	logs  *testenv.Buffer
	api   *contract   // checks every exchange against the OpenAPI document
	live  live.Events // the watched model behind the live routes; nil without it
	shows *shows.Service
	t     testing.TB // the test the stage was made for

	mu      sync.Mutex
	secrets []string // must never appear in a log line: credentials, tokens, stream keys
}

// withAdminGroup is an environment with only the one setting start-up insists on.
func withAdminGroup(k string) string {
	return map[string]string{"DASHBOARD_ADMIN_GROUP": adminGroup}[k]
}

func defaultSettings() config.Settings {
	s, err := config.Load(nil, withAdminGroup, io.Discard)
	if err != nil {
		panic(err)
	}
	s.APIKeys = []access.APIKey{{Key: testAPIKey, Role: api.Admin}, {Key: testOperatorKey, Role: api.Operator}, {Key: testViewerKey, Role: api.Viewer}}
	s.RateLimit, s.RateBurst = 100000, 100000
	s.LiveKitTimeout = 2 * time.Second // an outage shows quickly
	return s
}

// newStage starts a LiveKit (with Redis, so ingresses can be managed) and a
// dashboard in front of it.
func newStage(t testing.TB, tweak func(*config.Settings)) *stage {
	t.Helper()
	return newStageOn(t, testenv.LiveKit(t, testenv.WithRedis()), tweak)
}

// newStageOn puts a dashboard in front of an existing LiveKit.
func newStageOn(t testing.TB, env *testenv.Env, tweak func(*config.Settings)) *stage {
	t.Helper()
	return newStageWith(t, env, egress.Storage{}, tweak)
}

// newStageWith puts a dashboard in front of an existing LiveKit, recording into
// storage when it names a bucket.
func newStageWith(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*config.Settings)) *stage {
	t.Helper()
	return newStageLive(t, env, storage, tweak, true)
}

// newStageLive is newStageWith, with the live model or without it (a test that
// counts every request reaching LiveKit would count the model's lists).
func newStageLive(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*config.Settings), live bool) *stage {
	t.Helper()
	return newStageAt(t, env, storage, tweak, live, publicWS)
}

// newStageAt is newStageLive handing out ws as LIVEKIT_WS_URL: a browser that
// really connects (the monitor) needs LiveKit's own URL.
func newStageAt(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*config.Settings), live bool, ws string) *stage {
	t.Helper()
	s := defaultSettings()
	if tweak != nil {
		tweak(&s)
	}
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, PublicURL: ws, APIKey: env.APIKey, APISecret: env.APISecret,
		Timeout: s.LiveKitTimeout, Storage: storage, ServerVersion: env.Version, HTTPClient: newTappedClient()})
	require.NoError(t, err)
	logs := &testenv.Buffer{}
	st := &stage{t: t, env: env, sm: sm, ing: sm.Ingress, logs: logs, secrets: []string{env.APISecret, testAPIKey, testOperatorKey, testViewerKey, testProxySecret}}
	deps := Deps{Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Settings: s, WSURL: sm.Config().WSURL(), Health: sm, Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress,
		Resolver: fakeDNS} // tests never resolve real names
	if sm.Egress != nil {
		deps.Egress, deps.Recordings = sm.Egress, sm.Recordings
		st.secrets = append(st.secrets, storage.SecretKey)
	}
	// The live model, as in production: a Watch fed by the webhook route (when
	// LiveKit was started with the dashboard's webhook URL: newLiveStage).
	if live {
		ctx, cancel := context.WithCancel(context.Background())
		stopWatch, err := watchLiveKit(ctx, &deps, sm.Config(), s, deps.Log)
		require.NoError(t, err)
		t.Cleanup(func() { cancel(); stopWatch() })
		st.live = deps.Events
	}
	shows, err := showsOn(sm, deps.Events, "", nil)
	require.NoError(t, err)
	deps.Shows, st.shows = shows, shows
	deps.Doctor = doctor.New(sm, s, nil) // webhooks: TestTheDoctorNamesWhatIsBroken
	if env.RedisAddr != "" {             // LiveKit's own Redis
		n := nodes.At("redis://" + env.RedisAddr)
		t.Cleanup(func() { _ = n.(io.Closer).Close() })
		deps.Nodes = n
	}
	deps.Rehearsals = rehearsals.NewRehearser(rehearsal.Config{URL: env.URL, Tokens: sm.Tokens, MetricsURL: env.MetricsURL})
	var h http.Handler
	st.api, h = newContract(t, NewServer(deps))
	st.srv = httptest.NewServer(h)
	t.Cleanup(st.srv.Close)
	t.Cleanup(func() {
		// Whatever happened, no credential may have reached a log line.
		out := logs.String()
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, secret := range st.secrets {
			assert.NotContains(t, out, secret, "a secret reached the logs")
		}
	})
	return st
}

// keepOutOfLogs adds values that no log line of this dashboard may hold (checked
// when the test ends), beyond the ones it starts with and the tokens and stream
// keys its answers hand out: bearer tokens, storage keys, platforms' stream keys.
func (s *stage) keepOutOfLogs(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
}

// call sends a request with the test API key unless headers say otherwise, and
// checks that the answer holds no server credential.
func (s *stage) call(t testing.TB, method, path string, body any, headers ...string) (int, []byte) {
	t.Helper()
	code, out, err := s.try(t, http.DefaultClient, method, path, body, headers...)
	require.NoError(t, err)
	return code, out
}

// try is call for worker goroutines and polled conditions, where a fatal check
// would end the wrong goroutine: a request that fails is returned, not fatal.
// The answer is still checked for leaked credentials (assert is safe anywhere).
func (s *stage) try(t assert.TestingT, client *http.Client, method, path string, body any, headers ...string) (int, []byte, error) {
	req, err := s.request(t, method, path, body, headers...)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, out, err
	}
	s.checkAnswer(t, out)
	return resp.StatusCode, out, nil
}

// helper marks the caller as a test helper when t is a testing.TB; polled
// conditions pass an *assert.CollectT instead (require inside a plain
// Eventually's condition would end the wrong goroutine: EventuallyWithT).
func helper(t any) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// checkAnswer fails t if out holds a credential, and remembers the tokens and
// stream keys it hands out so that the log check looks for them too.
func (s *stage) checkAnswer(t assert.TestingT, out []byte) {
	assert.NotContains(t, string(out), s.env.APISecret, "the LiveKit API secret leaked into an answer")
	for _, k := range []string{testAPIKey, testOperatorKey, testViewerKey, testProxySecret} {
		assert.NotContains(t, string(out), k, "an API key or the proxy secret leaked into an answer")
	}
	if sk := s.sm.Config().Storage.SecretKey; sk != "" {
		assert.NotContains(t, string(out), sk, "the storage secret key leaked into an answer")
	}
	var minted struct{ Token, StreamKey string }
	if json.Unmarshal(out, &minted) == nil {
		s.mu.Lock()
		for _, v := range []string{minted.Token, minted.StreamKey} {
			if v != "" {
				s.secrets = append(s.secrets, v)
			}
		}
		s.mu.Unlock()
	}
}

func (s *stage) do(t testing.TB, method, path string, body any, headers ...string) *http.Response {
	t.Helper()
	req, err := s.request(t, method, path, body, headers...)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func (s *stage) request(t any, method, path string, body any, headers ...string) (*http.Request, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(headers) == 0 {
		headers = []string{"X-API-Key", testAPIKey}
	}
	// A broken contract fails this test, the one that asked (the stage's own
	// test when a polled condition asks).
	tb, ok := t.(testing.TB)
	if !ok {
		tb = s.t
	}
	s.api.asking(tb)
	req.Header.Set(contractTestHeader, tb.Name())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, nil
}

// seen is a polled answer, for poll's message.
func seen(code int, body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", code, body)
}

// poll asks cond every tick, on the test's goroutine, until it holds; after
// within it marks the test failed with what and cond's last word (the body it saw
// last, not one from before the wait) and returns false.
func poll(t testing.TB, within time.Duration, what string, cond func() (bool, string)) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("%s (waited %s); last seen: %s", what, within, last)
			return false
		}
		time.Sleep(tick)
	}
}

// noAuth is the headers argument of a request without credentials.
var noAuth = []string{"X-None", ""}

func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var e api.ErrorBody
	require.NoError(t, json.Unmarshal(body, &e), "error body must be JSON: %s", body)
	require.NotEmpty(t, e.Error.Code, "error body: %s", body)
	require.NotEmpty(t, e.Error.Message, "error body: %s", body)
	return e.Error.Code
}

func decodeAs[T any](t require.TestingT, body []byte) T {
	helper(t)
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	return v
}

func mustRead(t require.TestingT, resp *http.Response) []byte {
	helper(t)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

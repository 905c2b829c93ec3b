package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/stack"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// connTestResult is the page's window.connectionTest.
type connTestResult struct {
	Room  string
	Done  bool
	OK    bool
	Error string
	Steps []struct {
		Name   string
		OK     bool
		MS     *int
		Path   string
		Hz     float64
		Detail string
	}
}

// step is the named step of a run; the test fails if the page left it out.
func (r connTestResult) step(t *testing.T, name string) (ok bool, ms int, path, detail string) {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			if s.MS != nil {
				ms = *s.MS
			}
			return s.OK, ms, s.Path, s.Detail
		}
	}
	t.Fatalf("the connection test has no step %q: %+v", name, r)
	return
}

// An operator tests the way to LiveKit from the page, in a real Chromium,
// against a real LiveKit with its TURN and ICE/TCP: the signal WebSocket,
// ICE over UDP, over TCP and through TURN each connect over the path they
// name, and a tone published by the test is heard back. A listener of the
// show in the room meanwhile is never sent the tone. Then the operator's
// network drops UDP to the SFU: the UDP step fails saying why, the others
// still pass (TURN relays, ICE/TCP connects). The steps fit a phone.
func TestOperatorTestsTheConnectionFromThePage(t *testing.T) {
	testenv.HoldMediaSlot(t) // Chromium connects four times and analyses a tone
	env, s := turnStage(t)
	var sent atomic.Int32 // tracks the audience is sent
	cb := &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
		OnTrackSubscribed: func(*webrtc.TrackRemote, *lksdk.RemoteTrackPublication, *lksdk.RemoteParticipant) { sent.Add(1) }}}
	env.Join(t, s.token(t, "listener", "lou").Token, cb)

	b := openDashboard(t, s.srv.URL+"/", "mia", testenv.TrustCA(env.TURN.CAFile))
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	run := func() connTestResult {
		start := time.Now()
		b.run(chromedp.Click("#conntest", chromedp.ByQuery))
		b.until("the connection test done", `window.connectionTest?.done === true`)
		var raw string
		b.run(chromedp.Evaluate(`JSON.stringify(window.connectionTest)`, &raw))
		var r connTestResult
		require.NoError(t, json.Unmarshal([]byte(raw), &r))
		require.Empty(t, r.Error, "the page's run")
		t.Logf("the connection test took %s (test clock); the page says:\n%s", time.Since(start).Round(time.Millisecond), b.text("#conntest-steps"))
		return r
	}

	r := run()
	for _, name := range []string{"signal", "udp", "tcp", "turn", "tone"} {
		ok, ms, _, detail := r.step(t, name)
		assert.True(t, ok, "%s: %s", name, detail)
		assert.Positive(t, ms, "%s has its time", name)
	}
	// Chromium's own end reads peer-reflexive here: the SFU saw it from
	// 127.0.0.1, not from the address it announced.
	_, _, path, _ := r.step(t, "udp")
	assert.Regexp(t, `^(host|prflx)/udp$`, path, "directly over UDP")
	_, _, path, _ = r.step(t, "tcp")
	assert.Regexp(t, `^(host|prflx)/tcp$`, path, "directly over TCP, to rtc.tcp_port")
	_, _, path, _ = r.step(t, "turn")
	assert.Equal(t, "relay/udp", path, "TURN over UDP while UDP flows")
	assert.True(t, r.OK)
	assert.Equal(t, "all steps ok", b.text("#conntest-state"))
	assert.Zero(t, sent.Load(), "the show's listener is never sent the test's tone")

	// The operator's network drops new UDP flows to the SFU's media port
	// (unless they leave from TURN's relay ports: TURN's own way on).
	testenv.Firewall(t, "-A", "OUTPUT", "-p", "udp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.UDPPort),
		"-m", "conntrack", "--ctstate", "NEW", "-m", "multiport", "!", "--sports", stack.TURNRelayPorts, "-j", "DROP")
	r = run()
	ok, ms, _, detail := r.step(t, "udp")
	assert.False(t, ok, "UDP to the SFU is blocked")
	assert.Contains(t, detail, "did not connect", "the reason is given")
	assert.Positive(t, ms, "how long it tried")
	for _, name := range []string{"signal", "tcp", "turn", "tone"} {
		ok, _, _, detail := r.step(t, name)
		assert.True(t, ok, "%s without UDP to the SFU: %s", name, detail)
	}
	assert.False(t, r.OK)
	assert.Contains(t, b.text("#conntest-steps"), "ICE over UDP: failed")
	assert.Zero(t, sent.Load(), "the show's listener is never sent the test's tone")

	// On a phone: the steps wrap within the screen.
	b.run(chromedp.EmulateViewport(390, 844))
	b.until("the page fits 390 px", `document.documentElement.scrollWidth <= 390`)
}

// Who may test, and with what: an operator gets two short-lived tokens for
// one room that exists, under fresh reserved identities nobody can be handed
// from /api/tokens: a hidden subscribe-only listener and a microphone-only
// publisher that hears nothing. A viewer or a stranger gets nothing; a room
// that does not exist is a 404 and is not opened; a hostile name is a 400.
func TestOnlyOperatorsTestTheConnection(t *testing.T) {
	s, out := askForRoomTokens(t, "connection-test")
	ct := decodeAs[connectionTest](t, out)
	assert.Equal(t, publicWS, ct.WSURL)
	assert.WithinDuration(t, time.Now().Add(connTestTTL), ct.ExpiresAt, 5*time.Second)
	for _, tok := range []testToken{ct.Listener, ct.Publisher} {
		assert.True(t, tokens.Reserved(tok.Identity), "%s is reserved", tok.Identity)
		claims, err := s.sm.Tokens.Verify(tok.Token)
		require.NoError(t, err)
		assert.Equal(t, "friday-jam", claims.Grant.Room, "this room only")
		assert.False(t, claims.Grant.RoomAdmin || claims.Grant.RoomCreate || claims.Grant.RoomList || claims.Grant.IngressAdmin || claims.Grant.Recorder)
		assert.WithinDuration(t, time.Now().Add(connTestTTL), claims.ExpiresAt, 5*time.Second, "two minutes")
		code, out := s.as(t, testAPIKey, "POST", "/api/tokens", map[string]any{"role": "performer", "room": "friday-jam", "identity": tok.Identity})
		assert.Equal(t, http.StatusForbidden, code, "nobody is handed the test's identities: %s", out)
	}
	l, err := s.sm.Tokens.Verify(ct.Listener.Token)
	require.NoError(t, err)
	assert.True(t, l.Grant.Hidden)
	assert.False(t, *l.Grant.CanPublish)
	assert.False(t, *l.Grant.CanPublishData)
	p, err := s.sm.Tokens.Verify(ct.Publisher.Token)
	require.NoError(t, err)
	assert.True(t, *p.Grant.CanPublish)
	assert.Equal(t, []string{"microphone"}, p.Grant.CanPublishSources, "a tone, nothing else")
	assert.False(t, *p.Grant.CanSubscribe, "the publisher hears nothing of the show")
	assert.False(t, *p.Grant.CanPublishData)
	_, again := s.as(t, testOperatorKey, "POST", "/api/rooms/friday-jam/connection-test", nil)
	assert.NotEqual(t, ct.Publisher.Identity, decodeAs[connectionTest](t, again).Publisher.Identity, "each test is someone new")
	assert.NotContains(t, s.logs.String(), ct.Listener.Token[strings.LastIndex(ct.Listener.Token, ".")+1:], "no token in the logs")

	onlyOperatorsGetRoomTokens(t, s, "connection-test")
}

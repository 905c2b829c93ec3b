package rehearsal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

func issuer(t *testing.T) *tokens.Issuer {
	t.Helper()
	iss, err := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	require.NoError(t, err)
	return iss
}

// An attacker (or a typo) asks for more than a rehearsal may do: each ask is
// refused with ErrInvalidArgument before anything is dialled: the server
// below, which answers as LiveKit does, sees no request.
func TestHostileOptionsAreRefusedBeforeAnyoneJoins(t *testing.T) {
	var hits atomic.Int32
	lk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); _, _ = w.Write([]byte("OK")) }))
	defer lk.Close()
	cfg := Config{URL: lk.URL, Tokens: issuer(t)}
	for name, o := range map[string]Options{
		"over the maximum":      {Steps: []int{10, MaxListeners + 1}},
		"zero steps":            {Steps: []int{}},
		"a zero step":           {Steps: []int{0}},
		"steps going down":      {Steps: []int{5, 2}},
		"too many steps":        {Steps: make([]int, MaxSteps+1)},
		"a negative hold":       {Hold: -time.Second},
		"a hold too short":      {Hold: time.Millisecond},
		"a hold too long":       {Hold: MaxHold + time.Second},
		"a negative deadline":   {Deadline: -time.Minute},
		"a deadline too long":   {Deadline: MaxDeadline + time.Second},
		"a bitrate Opus lacks":  {Bitrate: 1_000_000},
		"a negative bitrate":    {Bitrate: -1},
		"a negative loss limit": {Limits: Limits{LossPercent: -1}},
		"a loss limit over 100": {Limits: Limits{LossPercent: 101}},
		"a negative jitter":     {Limits: Limits{JitterP95: -time.Millisecond}},
	} {
		_, err := Run(context.Background(), cfg, o)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, name)
	}
	for name, c := range map[string]Config{
		"no issuer":                  {URL: lk.URL},
		"no URL":                     {Tokens: cfg.Tokens},
		"a file URL":                 {URL: "file:///etc/passwd", Tokens: cfg.Tokens},
		"metrics on another host":    {URL: lk.URL, Tokens: cfg.Tokens, MetricsURL: "http://10.0.0.1:9100/metrics"},
		"metrics on another scheme":  {URL: lk.URL, Tokens: cfg.Tokens, MetricsURL: "file://127.0.0.1/metrics"},
		"metrics one cannot parse":   {URL: lk.URL, Tokens: cfg.Tokens, MetricsURL: "http://[::1"},
		"a host that is not a URL's": {URL: "ws://", Tokens: cfg.Tokens},
	} {
		_, err := Run(context.Background(), c, Options{Steps: []int{1}})
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, name)
	}
	assert.Zero(t, hits.Load(), "nothing may be dialled for refused options")
	// A program checks its configuration when it starts, as Run would.
	assert.ErrorIs(t, Config{URL: "ws://127.0.0.1:7880", Tokens: cfg.Tokens, MetricsURL: "http://10.0.0.1:6789/metrics"}.Check(), errs.ErrInvalidArgument)
	assert.NoError(t, Config{URL: "ws://127.0.0.1:7880", Tokens: cfg.Tokens, MetricsURL: "http://127.0.0.1:6789/metrics"}.Check())
}

// A URL that is not LiveKit's (a web server answering something else) is
// refused after one GET, before any listener or performer joins; one that
// answers nothing is unavailable.
func TestAURLNotLiveKitsIsRefused(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		_, _ = w.Write([]byte("<html>a shop</html>"))
	}))
	defer other.Close()
	_, err := Run(context.Background(), Config{URL: other.URL, Tokens: issuer(t)}, Options{Steps: []int{1}})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	mu.Lock()
	assert.Equal(t, []string{"/"}, paths, "one probe, nothing else")
	mu.Unlock()

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = Run(context.Background(), Config{URL: closed.URL, Tokens: issuer(t)}, Options{Steps: []int{1}})
	require.ErrorIs(t, err, errs.ErrUnavailable)
	assert.NotContains(t, err.Error(), "secret")
}

// rtp is a fixed RTP header with seq and ts.
func rtp(seq uint16, ts uint32) []byte {
	return []byte{0x80, 111, byte(seq >> 8), byte(seq), byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts), 0, 0, 0, 1}
}

// A listener's accounting from headers alone: a steady stream has no jitter
// and no loss across a sequence wrap; one dropped packet in a window is
// counted; a packet 40 ms late moves the jitter as RFC 3550 says.
func TestPacketAccountingFromHeaders(t *testing.T) {
	c := counter{clock: 48000}
	const step = 960 // 20 ms at 48 kHz
	ns := int64(time.Millisecond)
	seq, ts := uint16(65530), uint32(1<<32-3*step)
	for i := 0; i < 10; i++ { // across the wrap of both
		c.packet(rtp(seq, ts), ns)
		seq, ts, ns = seq+1, ts+step, ns+int64(Frame)
	}
	assert.Zero(t, c.Jitter())
	m := c.mark()
	for i := 0; i < 10; i++ {
		if i != 4 { // lost
			c.packet(rtp(seq, ts), ns)
		}
		seq, ts, ns = seq+1, ts+step, ns+int64(Frame)
	}
	exp, got := c.since(m, 200*time.Millisecond)
	assert.Equal(t, int64(10), exp)
	assert.Equal(t, int64(9), got)
	assert.InDelta(t, 10, lossPercent(exp, got), 1e-9)

	c.packet(rtp(seq, ts), ns+int64(40*time.Millisecond)) // 40 ms late: |D| = 1920
	late := time.Duration(1920/16) * time.Second / 48000
	assert.Equal(t, late, c.Jitter())
	seq, ts, ns = seq+1, ts+step, ns+int64(Frame)
	c.packet(rtp(seq, ts), ns+int64(40*time.Millisecond)) // on time after the late one: J decays
	assert.Less(t, c.Jitter(), late)
	assert.Equal(t, late, c.Peak(), "the sampler sees the peak of its interval")
	assert.Equal(t, c.Jitter(), c.Peak(), "the next interval starts where J is")

	var deaf counter
	exp, got = deaf.since(deaf.mark(), time.Second)
	assert.Equal(t, int64(50), exp, "a listener that heard nothing lost a frame's packet every 20 ms")
	assert.Zero(t, got)
	assert.Zero(t, lossPercent(10, 12), "retransmitted duplicates are no negative loss")
}

// The synthetic performer's frame is a CELT fullband 20 ms stereo Opus frame
// of the bitrate's size.
func TestTheSyntheticFrameHasTheShowsSize(t *testing.T) {
	f := opusFrame(128000)
	assert.Len(t, f, 320)
	assert.Equal(t, byte(0xFC), f[0])
	assert.Len(t, opusFrame(256000), 640)
	assert.NotEqual(t, strings.Repeat("\x00", 10), string(f[1:11]))
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	p50, p95 := percentiles(ds)
	assert.Equal(t, time.Duration(50), p50)
	assert.Equal(t, time.Duration(95), p95)
	p50, p95 = percentiles([]time.Duration{7})
	assert.Equal(t, time.Duration(7), p50)
	assert.Equal(t, time.Duration(7), p95)
}

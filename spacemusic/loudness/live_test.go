package loudness_test

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

// changes collects what a Meter tells of live shows.
type changes struct {
	mu  sync.Mutex
	got []loudness.Change
}

func (c *changes) add(ch loudness.Change) {
	c.mu.Lock()
	c.got = append(c.got, ch)
	c.mu.Unlock()
}

func (c *changes) kinds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ch := range c.got {
		out = append(out, ch.Kind)
	}
	return out
}

// play writes file's Ogg pages into w at five times real time (a page is 20
// ms of audio), as the recorder hands a show's packets over.
func play(t *testing.T, w interface{ Write([]byte) (int, error) }, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for len(b) > 0 {
		pg, ok := ogg.Parse(b)
		require.True(t, ok, "an Ogg page")
		_, err := w.Write(b[:pg.Size])
		require.NoError(t, err)
		b = b[pg.Size:]
		time.Sleep(4 * time.Millisecond)
	}
}

// Bo plays overdriven, Ada a clean sine at -20 dBFS, at the same time: Bo's
// show starts clipping (the operator's target is -20 LUFS) and counts clipped seconds; Ada's measures as ffmpeg
// measures her file, and says nothing. Each measurement ends with its show,
// with its ffmpeg and its figures.
func TestTheLiveMeterHearsAShowClip(t *testing.T) {
	m, err := loudness.New(loudness.Config{FFmpeg: testenv.Binary(t, "ffmpeg", "ffmpeg"), Target: -20})
	require.NoError(t, err)
	var seen changes
	m.NotifyLive(seen.add)
	bo, ada := testenv.OverdrivenTone(t, 440, 10*time.Second), testenv.SineAt(t, 1000, -20, 10*time.Second)
	goroutines := runtime.NumGoroutine()

	boW, adaW := m.Listen("bo-set"), m.Listen("ada-set")
	require.NotNil(t, boW)
	require.NotNil(t, adaW)
	assert.Equal(t, 2, m.LiveRuns())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); play(t, boW, bo) }()
	go func() { defer wg.Done(); play(t, adaW, ada) }()
	wg.Wait()
	require.Eventually(t, func() bool { return m.Shows()["ada-set"].At > 9*time.Second && m.Shows()["bo-set"].At > 9*time.Second },
		10*time.Second, 50*time.Millisecond, "ffmpeg caught up")
	live := m.Shows()
	t.Logf("Bo: %+v", live["bo-set"])
	t.Logf("Ada: %+v", live["ada-set"])
	assert.True(t, live["bo-set"].Clipping)
	assert.Greater(t, live["bo-set"].Clipped, 8*time.Second, "nearly every window of Bo's clips")
	assert.Zero(t, live["ada-set"].Clipped)
	assert.InDelta(t, testenv.Loudness(t, ada).Integrated, live["ada-set"].Integrated, 1.0, "as ffmpeg measures her file")
	assert.Zero(t, live["ada-set"].Dropped+live["bo-set"].Dropped, "a meter that keeps up drops nothing")

	require.NoError(t, boW.Close())
	require.NoError(t, adaW.Close())
	assert.Empty(t, m.Shows(), "a show that ends takes its figures with it")
	assert.Zero(t, m.LiveRuns())
	assert.Equal(t, []string{loudness.ClippingStarted, loudness.ClippingStopped}, seen.kinds(), "Bo's clipping, once")
	for _, ch := range seen.got {
		assert.Equal(t, "bo-set", ch.Room)
		assert.Greater(t, ch.TruePeak, loudness.ClipAt)
	}
	// Polled here, not with Eventually, whose own goroutine would count.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "no goroutine outlives its show")
}

// The attacker's angle: a performer's packets are garbage, or ffmpeg hangs.
// Writing never waits (what the meter cannot take is dropped), and ending the
// show ends ffmpeg within its bound.
func TestAStuckOrFedGarbageLiveMeterNeverHoldsTheRecorder(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 60\n"), 0o700))
	for name, bin := range map[string]string{"a hung ffmpeg": hang, "a real one fed garbage": testenv.Binary(t, "ffmpeg", "ffmpeg")} {
		t.Run(name, func(t *testing.T) {
			m, err := loudness.New(loudness.Config{FFmpeg: bin})
			require.NoError(t, err)
			w := m.Listen("bo-set")
			require.NotNil(t, w)
			garbage := make([]byte, 4000)
			for i := range garbage {
				garbage[i] = byte(i * 7)
			}
			start := time.Now()
			for range 2000 { // 40 s of packets
				_, err := w.Write(garbage)
				require.NoError(t, err)
			}
			assert.Less(t, time.Since(start), time.Second, "writes never wait for ffmpeg")
			start = time.Now()
			require.NoError(t, w.Close())
			assert.Less(t, time.Since(start), 5*time.Second, "ending the show ends ffmpeg")
			assert.Zero(t, m.LiveRuns())
		})
	}
}

// Without ffmpeg the meter says so once, however many shows start, and
// measures none.
func TestWithoutFFmpegTheLiveMeterSaysSoOnce(t *testing.T) {
	m, err := loudness.New(loudness.Config{FFmpeg: "/nonexistent/ffmpeg"})
	require.NoError(t, err)
	var seen changes
	m.NotifyLive(seen.add)
	assert.Nil(t, m.Listen("bo-set"))
	assert.Nil(t, m.Listen("ada-set"))
	require.Len(t, seen.got, 1)
	assert.ErrorIs(t, seen.got[0].Err, loudness.ErrNoFFmpeg)
	assert.Empty(t, seen.got[0].Kind)
}

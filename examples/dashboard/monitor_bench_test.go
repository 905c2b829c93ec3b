package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// BenchmarkMouthToEar is the steady delay of a live show, per ingest path, as a
// listener hears it: a sender beeps at known wall-clock times and the page's
// monitor (or, for HLS, a player-like reader) timestamps each beep's onset,
// on the same machine and clock. The paths: a browser performer (WebAudio,
// published with livekit-client), WHIP (Opus passed through), RTMP and a URL
// pull (both transcoded by Ingress) and the show's HLS egress. Reported, not
// asserted: median and p95 in ms. STREAMKIT_BEEPS sets the number of beeps
// per path (default 3, enough to run in CI; docs/benchmarks.md uses 20).
func BenchmarkMouthToEar(b *testing.B) {
	testenv.RequireNetNS(b)
	n := 3 // STREAMKIT_BEEPS=20 for the figures in docs/benchmarks.md
	if v, err := strconv.Atoi(os.Getenv("STREAMKIT_BEEPS")); err == nil && v > 0 {
		n = min(v, 40) // bounded: a beep every 2 to 3 s, and the monitor keeps 50 onsets
	}
	m := testenv.MinIO(b) // before the media slot, which Ingress takes
	env, _ := testenv.Ingress(b)
	testenv.Egress(b, env) // the show's HLS
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	s := newStageAt(b, env, storage, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	}, false, env.WSURL)
	ctx := b.Context()
	require.NoError(b, s.sm.Recordings.EnsureBucket(ctx))
	code, out := s.call(b, "POST", "/api/rooms", map[string]any{"name": "latency"})
	require.Equal(b, http.StatusCreated, code, "%s", out)
	page := openDashboard(b, s.srv.URL+"/", "mia")
	page.click(`#rooms tr[data-room="latency"] button.link`)
	page.run(chromedp.Click("#listen", chromedp.ByQuery))
	page.until("the monitor listening", `document.querySelector("#monitor-state").textContent.startsWith("listening")`)

	// heard is the onsets the monitor timestamped on identity's card (epoch ms).
	heard := func(b *testing.B, identity string) []int64 {
		var list string
		require.NoError(b, chromedp.Run(page.Ctx, chromedp.Evaluate(
			`document.querySelector('#meters li[data-identity="`+identity+`"]')?.dataset.onsets || ""`, &list)))
		var onsets []int64
		for _, v := range strings.Split(list, ",") {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				onsets = append(onsets, ms)
			}
		}
		return onsets
	}
	report := func(b *testing.B, path string, got []float64, sent int) {
		b.Helper()
		require.NotEmpty(b, got, "the listener heard no two of the %d beeps in their pattern", sent)
		slices.Sort(got)
		median, p95 := got[len(got)/2], got[min(len(got)-1, len(got)*95/100)]
		b.ReportMetric(median, "ms-median")
		b.ReportMetric(p95, "ms-p95")
		b.ReportMetric(float64(len(got)), "beeps-heard")
		b.Logf("%s mouth to ear: median %.0f ms, p95 %.0f ms (%d of %d beeps heard): %v", path, median, p95, len(got), sent, got)
	}

	// live is closed once the monitor hears identity: the live senders (RTMP,
	// URL) hum until then, so that their beeps start once the path is live
	// however long Ingress took (on a loaded machine, RTMP with a fixed 8 s
	// lead heard one beep of three, twice). A beep lost later counts so.
	live := func(identity string) chan struct{} {
		c := make(chan struct{})
		go func() {
			defer close(c)
			_ = chromedp.Run(page.Ctx, chromedp.Poll(`!!document.querySelector('#meters li[data-identity="`+identity+`"]')`, nil,
				chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)))
		}()
		return c
	}
	// mouthsOf collects a live sender's mouth times, failing if the sound
	// never started (the path never went live).
	mouthsOf := func(b *testing.B, said <-chan time.Time, beeps testenv.Beeps) []time.Time {
		var mouths []time.Time
		for limit := time.After(2*time.Minute + beeps.At(beeps.N-1)); ; {
			select {
			case m, ok := <-said:
				if !ok {
					time.Sleep(3 * time.Second) // the last beep reaches the page
					return mouths
				}
				mouths = append(mouths, m)
			case <-limit:
				b.Fatalf("the beeps never all sounded (%d of %d)", len(mouths), n)
			}
		}
	}
	b.Run("rtmp", func(b *testing.B) {
		obs, err := s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "latency", Identity: "obs-beeps"}, AudioOnly: true})
		require.NoError(b, err)
		// At least six beeps: Ingress's transcoder drifts and drops some on a
		// loaded machine, and three left no two in their pattern once in CI.
		beeps := testenv.Beeps{Lead: 2 * time.Second, Period: 2 * time.Second, N: max(n, 6), After: live("obs-beeps")}
		mouths := mouthsOf(b, beeps.PushRTMP(b, obs.PublishURL), beeps)
		report(b, "RTMP (transcoded)", delays(heard(b, "obs-beeps"), mouths), len(mouths))
	})
	b.Run("whip", func(b *testing.B) {
		whip, err := s.sm.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "latency", Identity: "whip-beeps"}})
		require.NoError(b, err)
		beeps := testenv.Beeps{Lead: 4 * time.Second, Period: 2 * time.Second, N: n}
		first, stop := testenv.PublishWHIPTimed(b, whip.PublishURL, beeps.Ogg(b))
		defer stop()
		var mouths []time.Time
		for k := range n {
			mouths = append(mouths, first.Add(beeps.At(k)))
		}
		time.Sleep(time.Until(first.Add(beeps.At(n-1) + 3*time.Second)))
		report(b, "WHIP (passthrough)", delays(heard(b, "whip-beeps"), mouths), n)
	})

	// The browser performer is a second LiveKit participant in the listener's
	// page (one clock), publishing once for the browser and HLS paths.
	performing := false
	perform := func(b *testing.B) {
		if performing {
			return
		}
		tok, err := s.sm.Tokens.Performer("latency", "browser-beeps")
		require.NoError(b, err)
		page.run(chromedp.Evaluate(fmt.Sprintf(performerJS, env.WSURL, tok.JWT), nil))
		page.until("the browser performer publishing", `window.__performer === "yes" || (window.__performer || "").startsWith("failed")`)
		require.Equal(b, "yes", page.read("body", "window.__performer"), "the browser could not publish")
		performing = true
	}
	beep := func(b *testing.B, beeps testenv.Beeps) []time.Time { return browserBeeps(b, page, beeps) }
	b.Run("browser", func(b *testing.B) {
		perform(b)
		page.until("the monitor hearing the browser performer", `!!document.querySelector('#meters li[data-identity="browser-beeps"]')`)
		mouths := beep(b, testenv.Beeps{Lead: 2 * time.Second, Period: 2 * time.Second, N: n})
		time.Sleep(time.Until(mouths[n-1].Add(3 * time.Second)))
		report(b, "browser (livekit-client)", delays(heard(b, "browser-beeps"), mouths), n)
	})

	// The URL pull reads a live stream (an Icecast-like Ogg Opus mount, made
	// in real time from the moment Ingress asks for it): the mouth is when a
	// beep's first sample went into that stream's encoder, so the figure is
	// Ingress's pull, decode and transcode plus LiveKit, with no CDN between.
	b.Run("url", func(b *testing.B) {
		beeps := testenv.Beeps{Lead: 2 * time.Second, Period: 2 * time.Second, N: n, After: live("url-beeps")}
		src, said := beeps.Serve(b)
		opts := ingress.URLOptions{Participant: ingress.Participant{Room: "latency", Identity: "url-beeps"}, URL: src}
		_, err := s.sm.Ingress.PullURL(ctx, opts)
		if errors.Is(err, errs.ErrResourceExhausted) { // a busy machine (see testenv/slot.go): once more
			time.Sleep(2 * time.Second)
			_, err = s.sm.Ingress.PullURL(ctx, opts)
		}
		require.NoError(b, err)
		mouths := mouthsOf(b, said, beeps)
		report(b, "URL pull (live Ogg, transcoded)", delays(heard(b, "url-beeps"), mouths), n)
	})

	// HLS is heard by a reader that plays as a player with no buffer would:
	// see hlsReader.
	b.Run("hls", func(b *testing.B) {
		perform(b)
		h, err := s.sm.Egress.HLS(ctx, "latency", "browser-beeps")
		require.NoError(b, err)
		b.Cleanup(func() { _, _ = s.sm.Egress.Stop(context.Background(), h.ID) })
		live, err := s.sm.Egress.WaitFor(testenv.Within(b, time.Minute), h.ID, egress.Active)
		require.NoError(b, err)
		require.Equal(b, egress.Active, live.Status, live.Error)
		r := &hlsReader{store: s.sm.Recordings, room: "latency"}
		r.until(b, time.Minute, "the first segment", func() bool { return len(r.segments) > 0 })
		mouths := beep(b, testenv.Beeps{Lead: time.Second, Period: 2 * time.Second, N: n})
		// The last beep's segment is at most 4 s long, then uploaded.
		last := mouths[n-1]
		r.until(b, time.Until(last.Add(30*time.Second)), "the segments after the last beep", func() bool {
			return r.segments[len(r.segments)-1].listed.After(last.Add(6 * time.Second))
		})
		report(b, "HLS (egress, 4 s segments)", delays(r.onsets(b), mouths), n)
	})
}

// performerJS has the page join the room as a browser performer, as a
// performer's laptop would with livekit-client: a WebAudio hum (a live
// room's noise floor) published with the music preset, and
// window.__beeps(offsets) scheduling 50 ms beeps of 1 kHz at those ms from
// now, answering each one's mouth time (epoch ms). The audio clock is read
// once, with the wall clock, when they are scheduled: the mouth is exact to
// within one render quantum of Chromium's audio thread (some 10 ms).
const performerJS = `(async () => {
` + loadLiveKit + `
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const dest = ctx.createMediaStreamDestination();
  const tone = (hz, gain, from, to) => {
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.frequency.value = hz; g.gain.value = gain;
    o.connect(g).connect(dest);
    o.start(from);
    if (to) o.stop(to);
  };
  tone(220, 0.005, 0);
  const room = new LK.Room({ adaptiveStream: false, dynacast: false });
  await room.connect(%q, %q);
  await room.localParticipant.publishTrack(dest.stream.getAudioTracks()[0], { source: LK.Track.Source.Microphone,
    audioPreset: LK.AudioPresets.musicHighQualityStereo, dtx: false, red: false });
  window.__beeps = (offsets) => {
    const now = ctx.currentTime, wall = performance.timeOrigin + performance.now();
    return offsets.map((ms) => { tone(1000, 0.5, now + ms / 1000, now + ms / 1000 + 0.05); return Math.round(wall + ms); });
  };
  window.__performer = "yes";
})().catch((e) => { window.__performer = "failed: " + e; })`

// delays matches the beeps sent with the onsets a listener heard (epoch ms):
// the delay is the offset that lines up the most beeps with an onset (within
// 60 ms; the gaps between beeps differ, so only the true offset lines up
// many), then each beep's own onset, the nearest within 400 ms of that offset
// (a delay may drift over a run: one RTMP run's delays spread over 114 ms,
// with 5 of 20 beeps unmatched within 60 ms; the beeps are 2 s apart, so no
// other beep's onset is that near), minus its mouth time, in ms. One beep
// lines up with any onset: when no two do, nothing was measured (seen on a
// loaded machine: RTMP's one heard beep matched to the wrong one, 280 ms).
func delays(onsets []int64, mouths []time.Time) []float64 {
	near := func(at, within int64) (int64, bool) {
		found, gap := int64(0), within
		for _, o := range onsets {
			if d := max(o-at, at-o); d < gap {
				found, gap = o, d
			}
		}
		return found, gap < within
	}
	var best int64
	most := 0
	for _, m := range mouths {
		for _, o := range onsets {
			d := o - m.UnixMilli()
			if d < 0 || d > 10_000 {
				continue
			}
			n := 0
			for _, m2 := range mouths {
				if _, ok := near(m2.UnixMilli()+d, 60); ok {
					n++
				}
			}
			if n > most || (n == most && d < best) {
				best, most = d, n
			}
		}
	}
	var out []float64
	for _, m := range mouths {
		if o, ok := near(m.UnixMilli()+best, 400); ok && most >= min(2, len(mouths)) {
			out = append(out, float64(o-m.UnixMilli()))
		}
	}
	return out
}

// hlsReader plays the show's HLS as a player with no buffer would: it reads
// the playlist from the bucket every 100 ms, fetches each segment as soon as
// the playlist lists it, and would play it at once. A beep is heard when its
// segment was listed (the playlist read that named it had returned, so up
// to 100 ms late) plus its offset inside the segment. That is the least
// delay HLS allows: hls.js by default plays three segments behind the
// newest one's end (liveSyncDurationCount), about 8 s more with 4 s segments.
type hlsReader struct {
	store    *recordings.Store
	room     string
	playlist string // the key, once the egress has written a segment
	segments []hlsSegment
}

type hlsSegment struct {
	name   string
	length time.Duration // its #EXTINF
	listed time.Time
	data   []byte
}

// until reads the playlist until done, failing after limit.
func (r *hlsReader) until(b *testing.B, limit time.Duration, what string, done func() bool) {
	b.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		r.read(b)
		if done() {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("HLS: no %s after %s (%d segments listed)", what, limit, len(r.segments))
		}
	}
}

// read reads the playlist once and fetches the segments it newly lists.
func (r *hlsReader) read(b *testing.B) {
	b.Helper()
	ctx := b.Context()
	if r.playlist == "" {
		list, err := r.store.List(ctx, r.room)
		require.NoError(b, err)
		for _, rec := range list { // the run's folder, from its first segment or its playlist
			if strings.HasPrefix(rec.Key, r.room+"/hls/") {
				r.playlist = path.Dir(rec.Key) + "/playlist.m3u8"
			}
		}
		if r.playlist == "" {
			return
		}
	}
	text, ok := r.fetch(b, r.playlist)
	if !ok {
		return
	}
	listed := time.Now()
	var length time.Duration
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if v, found := strings.CutPrefix(line, "#EXTINF:"); found {
			secs, _ := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			length = time.Duration(secs * float64(time.Second))
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") || slices.ContainsFunc(r.segments, func(s hlsSegment) bool { return s.name == line }) {
			continue
		}
		data, ok := r.fetch(b, path.Dir(r.playlist)+"/"+line)
		require.True(b, ok, "HLS: the playlist lists %s, which is not in the bucket", line)
		r.segments = append(r.segments, hlsSegment{name: line, length: length, listed: listed, data: data})
	}
}

// fetch reads key from the bucket; false while it is not there yet.
func (r *hlsReader) fetch(b *testing.B, key string) ([]byte, bool) {
	o, err := r.store.Open(b.Context(), key)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, false
	}
	require.NoError(b, err)
	defer o.Close()
	data, err := io.ReadAll(o)
	require.NoError(b, err)
	return data, true
}

// onsets are when the reader heard each beep (epoch ms): the segments, one
// MPEG-TS stream end to end, decoded, each onset placed in its segment by
// the playlist's segment lengths.
func (r *hlsReader) onsets(b *testing.B) []int64 {
	var all []byte
	for _, s := range r.segments {
		all = append(all, s.data...)
	}
	file := path.Join(b.TempDir(), "show.ts")
	require.NoError(b, os.WriteFile(file, all, 0o600))
	var out []int64
	for _, at := range testenv.Onsets(b, file) {
		start := time.Duration(0)
		for _, s := range r.segments {
			if at < start+s.length {
				out = append(out, s.listed.Add(at-start).UnixMilli())
				break
			}
			start += s.length
		}
	}
	return out
}

// browserBeeps has the browser performer in page play beeps (Lead from now)
// and answers when each one's first sample was made.
func browserBeeps(t testing.TB, page *browser, beeps testenv.Beeps) []time.Time {
	offsets := make([]int64, beeps.N)
	for k := range offsets {
		offsets[k] = beeps.At(k).Milliseconds()
	}
	list, err := json.Marshal(offsets)
	require.NoError(t, err)
	var at []int64
	page.run(chromedp.Evaluate(`window.__beeps(`+string(list)+`)`, &at))
	mouths := make([]time.Time, len(at))
	for k, ms := range at {
		mouths[k] = time.UnixMilli(ms)
	}
	return mouths
}

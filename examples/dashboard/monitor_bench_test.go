package main

import (
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// BenchmarkMouthToEar is the steady delay of a live show as the page's monitor
// hears it: a sender beeps at known wall-clock times and the monitor's
// analyser timestamps each beep's onset (same machine, same clock). The RTMP
// path is transcoded by Ingress (ffmpeg encodes AAC from a live "sound card",
// as OBS does); the WHIP path is passed through (Opus as sent). Reported, not
// asserted: median and p95 in ms. STREAMKIT_BEEPS sets the number of beeps per
// path (default 5, enough to run in CI; the README's figures use 30).
func BenchmarkMouthToEar(b *testing.B) {
	testenv.RequireNetNS(b)
	n := 3 // STREAMKIT_BEEPS=30 for the figures in docs/benchmarks.md
	if v, err := strconv.Atoi(os.Getenv("STREAMKIT_BEEPS")); err == nil && v > 0 {
		n = min(v, 120) // bounded: a beep every 2 to 3 s
	}
	env, _ := testenv.Ingress(b)
	s := newStageAt(b, env, egress.Storage{}, func(s *settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	}, false, env.WSURL)
	ctx := b.Context()
	code, out := s.call(b, "POST", "/api/rooms", map[string]any{"name": "latency"})
	require.Equal(b, http.StatusCreated, code, "%s", out)
	page := openDashboard(b, s.srv.URL+"/", "mia")
	page.click(`#rooms tr[data-room="latency"] button.link`)
	page.run(chromedp.Click("#listen", chromedp.ByQuery))
	page.until("the monitor listening", `document.querySelector("#monitor-state").textContent.startsWith("listening")`)

	// delays matches the beeps sent with the onsets the monitor heard: the
	// delay is the offset that lines up the most beeps with an onset (within
	// 60 ms; the gaps between beeps differ, so only the true offset lines up
	// many), then each matched beep's own onset minus its mouth time, in ms.
	delays := func(b *testing.B, identity string, mouths []time.Time) []float64 {
		var heard string
		require.NoError(b, chromedp.Run(page.Ctx, chromedp.Evaluate(
			`document.querySelector('#meters li[data-identity="`+identity+`"]')?.dataset.onsets || ""`, &heard)))
		var onsets []int64
		for _, v := range strings.Split(heard, ",") {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				onsets = append(onsets, ms)
			}
		}
		near := func(at int64) (int64, bool) {
			for _, o := range onsets {
				if o > at-60 && o < at+60 {
					return o, true
				}
			}
			return 0, false
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
					if _, ok := near(m2.UnixMilli() + d); ok {
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
			if o, ok := near(m.UnixMilli() + best); ok && most > 0 {
				out = append(out, float64(o-m.UnixMilli()))
			}
		}
		return out
	}
	report := func(b *testing.B, path string, got []float64, sent int) {
		b.Helper()
		require.NotEmpty(b, got, "the monitor heard none of the %d beeps", sent)
		slices.Sort(got)
		median, p95 := got[len(got)/2], got[min(len(got)-1, len(got)*95/100)]
		b.ReportMetric(median, "ms-median")
		b.ReportMetric(p95, "ms-p95")
		b.ReportMetric(float64(len(got)), "beeps-heard")
		b.Logf("%s mouth to ear: median %.0f ms, p95 %.0f ms (%d of %d beeps heard): %v", path, median, p95, len(got), sent, got)
	}

	// The lead-in lets the ingest go live and the monitor subscribe (RTMP takes
	// longer: Ingress transcodes); a beep before that is not heard, and counted so.
	b.Run("rtmp", func(b *testing.B) {
		obs, err := s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "latency", Identity: "obs-beeps"}, AudioOnly: true})
		require.NoError(b, err)
		beeps := testenv.Beeps{Lead: 8 * time.Second, Period: 2 * time.Second, N: n}
		var mouths []time.Time
		for m := range beeps.PushRTMP(b, obs.PublishURL) {
			mouths = append(mouths, m)
		}
		time.Sleep(3 * time.Second) // the last beep reaches the page
		report(b, "RTMP (transcoded)", delays(b, "obs-beeps", mouths), len(mouths))
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
		report(b, "WHIP (passthrough)", delays(b, "whip-beeps", mouths), n)
	})
}

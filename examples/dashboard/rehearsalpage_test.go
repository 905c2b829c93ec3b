package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// Mia, an admin, rehearses tonight's show from the page, in a real Chromium
// against a real LiveKit: one, then two hidden listeners, a second each. The
// chart in the show's detail has one point per step for loss, jitter and the
// SFU's CPU, and a mark at the capacity, two listeners.
// (STREAMKIT_REHEARSAL_SHOT=path keeps the chart, as docs/rehearsal.png.)
func TestAnAdminRehearsesFromThePage(t *testing.T) {
	testenv.RequireNetNS(t)
	testenv.HoldMediaSlot(t)
	env := testenv.LiveKit(t)
	s := newStageAt(t, env, egress.Storage{}, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup = adminGroup
	}, false, env.WSURL)
	code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "gig"})
	require.Contains(t, []int{200, 201}, code, "%s", body)

	b := openDashboard(t, s.srv.URL+"/", "mia")
	b.until("the show's row", `!!document.querySelector('#shows tr[data-show="gig"] button.link')`)
	b.click(`#shows tr[data-show="gig"] button.link`)
	b.until("the rehearsal form", `!document.querySelector('#rehearsal').hidden`)
	b.run(chromedp.SetValue(`#rehearse input[name="steps"]`, "1, 2", chromedp.ByQuery),
		chromedp.SetValue(`#rehearse input[name="hold"]`, "1", chromedp.ByQuery))
	b.click(`#rehearse button[type="submit"]`)
	b.until("the rehearsal done", `window.rehearsal?.state === "done"`)
	t.Logf("the page says: %s", b.text("#rehearsal-state"))

	for _, series := range []string{"lossPercent", "jitterP95Ms", "sfuCpu"} {
		if series == "sfuCpu" && env.MetricsURL == "" {
			continue
		}
		assert.Equal(t, 2, b.count(`#rehearsal-chart circle[data-series="`+series+`"]`), "one point per step of %s", series)
	}
	assert.Equal(t, "2", b.attr(`#rehearsal-chart line.capacity`, "data-capacity"), "the capacity is marked")
	assert.Contains(t, b.text("#rehearsal-state"), "capacity 2")

	shot := filepath.Join(testenv.Artifacts(), "rehearsal.png")
	if p := os.Getenv("STREAMKIT_REHEARSAL_SHOT"); p != "" {
		shot = p
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(shot), 0o755))
	var png []byte
	b.run(chromedp.Screenshot("#rehearsal", &png, chromedp.ByQuery))
	require.NoError(t, os.WriteFile(shot, png, 0o644))
}

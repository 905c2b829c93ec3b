// Package web is the dashboard's user interface: one server-rendered page with a
// little hand-written JavaScript that drives the same JSON API as every other
// client. Everything is embedded, so the binary works offline.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/index.html"))

// Site is the page of one deployment. Its Content-Security-Policy allows nothing
// but this origin (no inline script or style, no third party), and, for the
// monitor, LiveKit's WebSocket URL.
type Site struct {
	csp     string
	silence time.Duration
}

// NewSite builds the page for a dashboard whose tokens name liveKitWS (the
// public LIVEKIT_WS_URL; empty: the monitor cannot connect), and whose monitor
// calls a live track silent after silenceAfter.
func NewSite(liveKitWS string, silenceAfter time.Duration) (*Site, error) {
	connect := "'self'"
	if liveKitWS != "" {
		u, err := url.Parse(liveKitWS)
		if err != nil || u.Host == "" || (u.Scheme != "ws" && u.Scheme != "wss") {
			return nil, fmt.Errorf("web: the LiveKit URL %q is not a ws:// or wss:// URL", liveKitWS)
		}
		// livekit-client speaks WebSocket to /rtc and, when that fails, asks
		// /rtc/validate over HTTP(S) why: both of LiveKit's origins, nothing else.
		httpScheme := map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
		connect += " " + u.Scheme + "://" + u.Host + " " + httpScheme + "://" + u.Host
	}
	if silenceAfter <= 0 {
		silenceAfter = 5 * time.Second
	}
	return &Site{silence: silenceAfter,
		csp: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src " + connect + "; media-src 'self' blob:; frame-ancestors 'none'"}, nil
}

// SecurityHeaders are the page's headers, also on its assets (and their 404s):
// nothing from here may be framed, sniffed into another type, or leak the URL.
func (s *Site) SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Page renders the dashboard for a signed-in user ("dev" in dev mode).
func (s *Site) Page(w http.ResponseWriter, user string, dev bool) error {
	h := w.Header()
	s.SecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	return page.Execute(w, struct {
		User          string
		Dev           bool
		SilenceAfterS float64
	}{user, dev, s.silence.Seconds()})
}

// asset is one file the page references, read once.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assetFiles are exactly the files the page loads from /static/; nothing
// else of the embedded directory (the page's template, listings) is served.
var assetFiles = map[string]asset{
	"app.js":       load("app.js", "text/javascript; charset=utf-8"),
	"app.css":      load("app.css", "text/css; charset=utf-8"),
	"monitor.js":   load("monitor.js", "text/javascript; charset=utf-8"),
	"conntest.js":  load("conntest.js", "text/javascript; charset=utf-8"),
	"rehearsal.js": load("rehearsal.js", "text/javascript; charset=utf-8"),
	// The monitor's loudness worklet (AudioWorklet.addModule, not a <script>).
	"loudness.js": load("loudness.js", "text/javascript; charset=utf-8"),
	// The LiveKit web SDK, vendored by scripts/livekit-client; loaded only when
	// an operator listens.
	"vendor/livekit-client.umd.js":  load("vendor/livekit-client.umd.js", "text/javascript; charset=utf-8"),
	"vendor/livekit-client.LICENSE": load("vendor/livekit-client.LICENSE", "text/plain; charset=utf-8"),
}

func load(name, contentType string) asset {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // a build without its own assets is a bug
	}
	sum := sha256.Sum256(b)
	return asset{b, contentType, `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Asset serves the asset name with the page's security headers and reports
// whether there is one; when not, it has written nothing but the headers.
func (s *Site) Asset(w http.ResponseWriter, r *http.Request, name string) bool {
	s.SecurityHeaders(w.Header())
	a, ok := assetFiles[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache") // revalidate (the ETag): a new binary ships new files
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return true
}

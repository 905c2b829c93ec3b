// Package web is the dashboard's user interface: one server-rendered page with a
// little hand-written JavaScript that drives the same JSON API as every other
// client. Everything is embedded, so the binary works offline.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/index.html"))

// csp allows nothing but this origin: no inline script or style, no third party.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

// SecurityHeaders are the page's headers, also on its assets (and their 404s):
// nothing from here may be framed, sniffed into another type, or leak the URL.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Page renders the dashboard for a signed-in user ("dev" in dev mode).
func Page(w http.ResponseWriter, user string, dev bool) error {
	h := w.Header()
	SecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	return page.Execute(w, struct {
		User string
		Dev  bool
	}{user, dev})
}

// asset is one file the page references, read once.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assetFiles are exactly the files index.html references under /static/; nothing
// else of the embedded directory (the page's template, listings) is served.
var assetFiles = map[string]asset{
	"app.js":  load("app.js", "text/javascript; charset=utf-8"),
	"app.css": load("app.css", "text/css; charset=utf-8"),
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
func Asset(w http.ResponseWriter, r *http.Request, name string) bool {
	SecurityHeaders(w.Header())
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

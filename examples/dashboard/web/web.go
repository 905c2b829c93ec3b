// Package web is the dashboard's user interface: one server-rendered page with a
// little hand-written JavaScript that drives the same JSON API as every other
// client. Everything is embedded, so the binary works offline.
package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/index.html"))

// csp allows nothing but this origin: no inline script or style, no third party.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

// Page renders the dashboard for a signed-in user ("dev" in dev mode).
func Page(w http.ResponseWriter, user string, dev bool) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	return page.Execute(w, struct {
		User string
		Dev  bool
	}{user, dev})
}

// Assets serves the page's script and style under /static/.
func Assets() http.Handler {
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache") // revalidate: a new binary ships new files
		files.ServeHTTP(w, r)
	})
}

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

// Options connect the page to the server it is part of.
type Options struct {
	// User names who is signed in (from forward auth, "dev" in dev mode).
	User func(*http.Request) string
	Dev  bool
}

// Handler serves the page at / and its scripts and styles under /static/.
func Handler(o Options) http.Handler {
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		user := "signed in"
		if o.User != nil {
			user = o.User(r)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		_ = page.Execute(w, struct {
			User string
			Dev  bool
		}{user, o.Dev})
	})
	return mux
}

package main

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

// devHostAllowed marks a dev-mode answer as such and refuses any request
// whose Host is not loopback. Dev mode makes every caller an admin; a page on
// any web site can point its own name at 127.0.0.1 (DNS rebinding) and its
// script then reaches this server same-origin, Host still naming that site.
// Browsers always send the Host they dialled, so a name that is not loopback
// is such a page (or a mistake): 421, code host_not_loopback.
func (s *server) devHostAllowed(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("X-Dashboard-Dev-Mode", "no authentication")
	if loopbackHost(r.Host) {
		return true
	}
	s.Log.Warn("dev mode: a request for a host that is not loopback refused", "remote", r.RemoteAddr, "id", api.RequestID(r.Context()))
	api.WriteError(w, api.NewError(http.StatusMisdirectedRequest, "host_not_loopback",
		"dev mode answers only requests for localhost, 127.0.0.0/8 or [::1]"))
	return false
}

// loopbackHost reports whether a Host header names this machine's loopback:
// localhost, 127.0.0.0/8 or ::1, with any port. An empty Host (HTTP/1.0) is
// refused: fail closed.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // [::1] without a port
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

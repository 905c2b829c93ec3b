// Package redact hides the secrets a URL carries, for lists, events, logs and
// errors: one rule for every URL the project shows (restream destinations,
// pulled sources, an ingest's server URL).
package redact

import (
	"net/url"
	"path"
	"strings"
)

// Hidden stands for what was hidden.
const Hidden = "{redacted}"

// URL is raw without its credentials: the userinfo (user:password@), the query
// string (?token=..., a presigned link's signature) and the fragment are
// dropped, and the last path element (an RTMP stream key, e.g.
// rtmp://a.rtmp.youtube.com/live2/<key>) is replaced by {redacted}. What stays
// (scheme, host, the folders of the path) tells people which source or
// platform it is. A URL that does not parse, or has no path, is all hidden.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" || u.Opaque != "" {
		return "[redacted]"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	dir, _ := path.Split(u.Path)
	u.Path, u.RawPath = dir+Hidden, ""
	return strings.Replace(u.String(), "%7Bredacted%7D", Hidden, 1)
}

// In is s with every occurrence of raw (a URL that holds secrets) replaced by
// its redacted form: for error messages that quote a URL.
func In(s, raw string) string {
	if raw == "" || !strings.Contains(s, raw) {
		return s
	}
	return strings.ReplaceAll(s, raw, URL(raw))
}

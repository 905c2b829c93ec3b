package main

// The token route's hot path (BenchmarkCreateToken): the body decoded once,
// and the answer written without reflection.

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

var answers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeToken answers t as writeJSON would, byte for byte (TestTokenAnswerAsJSON).
func writeToken(w http.ResponseWriter, t tokenResponse) {
	bp := answers.Get().(*[]byte)
	b := append((*bp)[:0], `{"token":"`...)
	b = append(b, t.Token...) // a JWT is base64url and dots: nothing to escape
	b = append(b, '"')
	b = append(b, `,"wsUrl":`...)
	b = appendJSONString(b, t.WSURL)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, t.Role)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, t.Room)
	b = append(b, `,"identity":`...)
	b = appendJSONString(b, t.Identity)
	b = append(b, `,"expiresAt":"`...)
	b = t.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	api.WriteJSONBytes(w, http.StatusCreated, b)
	*bp = b
	answers.Put(bp)
}

// appendJSONString quotes s as encoding/json does: plain printable ASCII as
// it is, anything else (quotes, backslashes, <>&, control characters,
// non-ASCII) through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain marks the bytes encoding/json writes as they are: one load per
// byte instead of seven comparisons.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

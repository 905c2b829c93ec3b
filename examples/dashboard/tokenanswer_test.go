package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The hand-written token answer is what encoding/json writes, for plain and
// hostile strings alike.
func TestTokenAnswerAsJSON(t *testing.T) {
	at := time.Date(2026, 12, 4, 18, 44, 31, 0, time.UTC)
	for _, tr := range []tokenResponse{
		{Token: "eyJ.a-b_c.d", WSURL: "wss://live.example", Role: "listener", Room: "night", Identity: "bob", ExpiresAt: at},
		{Token: "x", WSURL: "", Role: "performer", Room: `<script>"&'\`, Identity: "Ådá\u2028\x7f", ExpiresAt: at.Add(time.Nanosecond)},
		{Identity: string([]byte{0xff, 'a'})},
	} {
		w := httptest.NewRecorder()
		writeToken(w, tr)
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(tr)
		assert.Equal(t, want.String(), w.Body.String())
		assert.Equal(t, 201, w.Code)
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	}
}

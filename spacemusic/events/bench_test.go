package events_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/spacemusic/streamkit/spacemusic/events"
)

// BenchmarkWebhook: verified webhooks per second through a Receiver into a
// Watch (signature, checksum, parse, dedupe, apply), against the baseline of
// reading and parsing the same bodies without verification.
//
//	go test -run '^$' -bench Webhook -benchtime 2s ./spacemusic/events/
func BenchmarkWebhook(b *testing.B) {
	const distinct = 1000
	type signedReq struct {
		body []byte
		auth string
	}
	reqs := make([]signedReq, distinct)
	for i := range reqs {
		body := joinedBody(b, "EV_"+strconv.Itoa(i))
		body = bytes.Replace(body, []byte(`"PA_1"`), []byte(`"PA_`+strconv.Itoa(i)+`"`), 1)
		body = bytes.Replace(body, []byte(`"ada"`), []byte(`"p`+strconv.Itoa(i)+`"`), 1)
		r := signed(b, hookKey, hookSecret, time.Hour, body)
		reqs[i] = signedReq{body, r.Header.Get("Authorization")}
	}
	serve := func(b *testing.B, h http.Handler) {
		for i := 0; i < b.N; i++ {
			q := reqs[i%distinct]
			r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(q.body))
			r.Header.Set("Authorization", q.auth)
			r.Header.Set("Content-Type", "application/webhook+json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("answered %d", w.Code)
			}
		}
	}
	b.Run("verified", func(b *testing.B) {
		var w *events.Watch
		var rc *events.Receiver
		n := 0
		h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if n%distinct == 0 { // a fresh lap: the same events are new again
				w = events.NewWatch(nil, events.Options{})
				rc = events.NewReceiver(hookKey, hookSecret, events.WatchSink(w))
			}
			n++
			rc.ServeHTTP(rw, r)
		})
		serve(b, h)
	})
	// The baseline: reading and parsing the same bodies, no verification.
	b.Run("baseline-parse-only", func(b *testing.B) {
		h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(r.Body)
			var ev livekit.WebhookEvent
			if err := protojson.Unmarshal(buf.Bytes(), &ev); err != nil {
				http.Error(rw, err.Error(), 400)
			}
		})
		serve(b, h)
	})
}

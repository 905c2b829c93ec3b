package events

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"sync"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/webhook"
	"google.golang.org/protobuf/encoding/protojson"
)

// MaxWebhookBody bounds one webhook. LiveKit's largest (an egress with many
// segments) is a few KiB.
const MaxWebhookBody = 1 << 20

// Results of a webhook, as Receiver.Counts names them.
const (
	Accepted    = "accepted"     // verified, new, emitted
	Duplicate   = "duplicate"    // verified, an id seen before (a retry): acknowledged, not emitted
	Ignored     = "ignored"      // verified, a kind the show has no word for
	Unsigned    = "unauthorized" // refused: no, garbled, expired or wrong signature, unknown key, body changed
	Malformed   = "malformed"    // verified but not a webhook event
	TooLarge    = "too_large"
	Failed      = "failed" // verified, but the sink could not take it: 503, LiveKit retries
	WrongMedium = "unsupported_media_type"
)

// Receiver is the http.Handler LiveKit posts its webhooks to. It verifies each
// against the API key and secret on the raw body (nothing is parsed before the
// signature and the body's checksum hold), drops duplicates by event id and hands
// every new event to sink.
type Receiver struct {
	keys auth.KeyProvider
	sink func(context.Context, Event) error

	mu    sync.Mutex
	seen  map[string]uint64 // id -> its place in order (counted from 1)
	order []string
	added uint64 // ids ever added

	counts counter[string] // by result
}

// seenIDs bounds the duplicate filter; LiveKit retries within seconds.
const seenIDs = 1 << 14

// NewReceiver verifies webhooks signed with apiKey/apiSecret (LiveKit's
// webhook.api_key) and passes each new event to sink. When sink fails (a shared
// log is down), the webhook is answered 503 and forgotten, so LiveKit's retry is
// taken. WatchSink(w) feeds a Watch.
func NewReceiver(apiKey, apiSecret string, sink func(context.Context, Event) error) *Receiver {
	return &Receiver{keys: auth.NewSimpleKeyProvider(apiKey, apiSecret), sink: sink, seen: map[string]uint64{}}
}

// Counts returns how many webhooks ended in each result.
func (rc *Receiver) Counts() map[string]int64 { return rc.counts.read() }

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "POST only")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/webhook+json" && mt != "application/json") {
		rc.counts.add(WrongMedium)
		refuse(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/webhook+json")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxWebhookBody)
	body, err := webhook.Receive(r, rc.keys)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rc.counts.add(TooLarge)
			refuse(w, http.StatusRequestEntityTooLarge, "body_too_large", "the webhook is larger than 1 MiB")
			return
		}
		// One answer for every verification failure: which check failed is no
		// business of a forger.
		rc.counts.add(Unsigned)
		refuse(w, http.StatusUnauthorized, "unauthenticated", "the webhook signature is not valid")
		return
	}
	var ev livekit.WebhookEvent
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &ev); err != nil || ev.GetEvent() == "" {
		rc.counts.add(Malformed)
		refuse(w, http.StatusBadRequest, "invalid_argument", "the body is not a LiveKit webhook event")
		return
	}
	if rc.duplicate(ev.GetId()) {
		rc.counts.add(Duplicate)
		w.WriteHeader(http.StatusOK)
		return
	}
	e, ok := FromWebhook(&ev)
	if !ok {
		rc.counts.add(Ignored)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := rc.sink(r.Context(), e); err != nil {
		rc.forget(ev.GetId())
		rc.counts.add(Failed)
		refuse(w, http.StatusServiceUnavailable, "events_unavailable", "the event log cannot take the event now; retry")
		return
	}
	rc.counts.add(Accepted)
	w.WriteHeader(http.StatusOK)
}

// refuse answers in the JSON error shape streamkit's servers use:
// {"error":{"code":"...","message":"..."}}, never echoing the request.
func refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": code, "message": msg}})
}

// WatchSink is the sink that applies each event to w.
func WatchSink(w *Watch) func(context.Context, Event) error {
	return func(ctx context.Context, e Event) error {
		_, _, err := w.Apply(ctx, e)
		return err
	}
}

func (rc *Receiver) forget(id string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.seen, id) // its place in order then evicts nothing
}

// duplicate reports whether id was seen before, remembering it if not.
func (rc *Receiver) duplicate(id string) bool {
	if id == "" {
		return false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen[id] != 0 {
		return true
	}
	rc.added++
	rc.seen[id] = rc.added
	rc.order = append(rc.order, id)
	if len(rc.order) > seenIDs {
		// Evict the oldest place, unless its id was forgotten and added again since.
		if old := rc.order[0]; rc.seen[old] == rc.added-uint64(len(rc.order))+1 {
			delete(rc.seen, old)
		}
		rc.order = rc.order[1:]
	}
	return false
}

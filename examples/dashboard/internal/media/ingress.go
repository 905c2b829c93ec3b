// Package media is the dashboard's ingress and egress routes: what goes into
// LiveKit (RTMP, WHIP, URL pulls) and what comes out of it (recordings, HLS,
// restreams).
package media

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Routes is the ingress and egress routes, with what they need of the rest of
// the dashboard.
type Routes struct {
	Ingress Ingresses
	Egress  Egresses
	Model   *live.Model
	Events  live.Events // nil: no live model
	Log     *slog.Logger
	// CheckPull checks a pull's source against the outbound rules.
	CheckPull func(ctx context.Context, url string) error
	// CheckDestinations checks restream destinations and their number: those
	// egressID sends to already ("" for a new restream) plus add.
	CheckDestinations func(ctx context.Context, egressID string, add []string) error
}

// Ingresses is what the ingress routes need: *ingress.Service.
type Ingresses interface {
	RTMP(ctx context.Context, o ingress.RTMPOptions) (ingress.Ingress, error)
	WHIP(ctx context.Context, o ingress.WHIPOptions) (ingress.Ingress, error)
	PullURL(ctx context.Context, o ingress.URLOptions) (ingress.Ingress, error)
	List(ctx context.Context, o ingress.ListOptions) ([]ingress.Ingress, error)
	Get(ctx context.Context, id string) (ingress.Ingress, error)
	Delete(ctx context.Context, id string) error
}

// Egresses is what the egress routes need: *egress.Service.
type Egresses interface {
	RecordAudio(ctx context.Context, room string, o egress.AudioOptions) (egress.Egress, error)
	RecordVideo(ctx context.Context, room string, o egress.VideoOptions) (egress.Egress, error)
	RecordStems(ctx context.Context, room string) ([]egress.Egress, error)
	RecordRoom(ctx context.Context, room string, o egress.RoomOptions) (egress.Egress, error)
	HLS(ctx context.Context, room, identity string) (egress.Egress, error)
	Restream(ctx context.Context, room, identity string, urls ...string) (egress.Egress, error)
	AddDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error)
	RemoveDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error)
	Stop(ctx context.Context, id string) (egress.Egress, error)
	List(ctx context.Context, o egress.ListOptions) ([]egress.Egress, error)
	Get(ctx context.Context, id string) (egress.Egress, error)
}

// ListIngress lists the ingresses with their state, stream keys redacted.
func (h *Routes) ListIngress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		room := r.URL.Query().Get("room")
		// A pull's URL holds credentials (userinfo, ?token=): the model and
		// its events keep it redacted for everyone, so an admin, who may see
		// it whole, is answered from LiveKit.
		full := api.UserFrom(r.Context()).Role >= api.Admin
		return live.Answer(h.Model, w, r, !full, func(snap *events.Snapshot) ([]ingress.Ingress, error) {
			return live.InRoom(room, snap.IngressList)
		}, func(ctx context.Context) ([]ingress.Ingress, error) {
			list, err := h.Ingress.List(ctx, ingress.ListOptions{Room: room})
			for i := range list {
				if full {
					list[i] = list[i].WithoutStreamKey()
				} else {
					list[i] = list[i].Redacted()
				}
			}
			return list, err
		})
	}
}

// StreamKey is what an encoder needs to publish to an ingress.
type StreamKey struct {
	ID         string `json:"id"`
	ServerURL  string `json:"serverUrl"`
	StreamKey  string `json:"streamKey"`
	PublishURL string `json:"publishUrl"`
}

// RevealStreamKey answers an ingress's stream key to an admin, and logs
// who saw which (never the key).
func (h *Routes) RevealStreamKey() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		in, err := h.Ingress.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		u := api.UserFrom(r.Context())
		h.Log.Info("stream key revealed", "ingress", in.ID, "room", in.Room, "by", u.Name, "auth", u.Method, "id", api.RequestID(r.Context()))
		api.WriteJSON(w, http.StatusOK, StreamKey{ID: in.ID, ServerURL: in.ServerURL, StreamKey: in.StreamKey, PublishURL: in.PublishURL})
		return nil
	}
}

// IngressRequest is an ingress to create: RTMP, WHIP or a URL pull.
type IngressRequest struct {
	Kind            string `json:"kind" enum:"rtmp,whip,url"`
	Room            string `json:"room"`
	Identity        string `json:"identity"` // how the room sees the stream, e.g. obs-main
	Name            string `json:"name,omitempty"`
	ParticipantName string `json:"participantName,omitempty"`
	Metadata        string `json:"metadata,omitempty"`
	AudioBitrate    int    `json:"audioBitrate,omitempty"` // bits/s: rtmp, and whip with transcode
	AudioOnly       bool   `json:"audioOnly,omitempty"`    // rtmp: no video expected
	VideoPreset     string `json:"videoPreset,omitempty"`  // rtmp: a LiveKit H.264 preset
	Transcode       bool   `json:"transcode,omitempty"`    // whip: re-encode (off: passthrough)
	URL             string `json:"url,omitempty"`          // url: the http(s) source to pull
	Disabled        bool   `json:"disabled,omitempty"`     // rtmp, whip: refuse the encoder until enabled
}

// Check refuses options that do not apply to the kind, rather than ignoring them.
func (c IngressRequest) Check() error {
	switch c.Kind {
	case "rtmp":
		if c.Transcode || c.URL != "" {
			return api.BadRequest("transcode and url do not apply to rtmp")
		}
	case "whip":
		if c.AudioOnly || c.VideoPreset != "" || c.URL != "" {
			return api.BadRequest("audioOnly, videoPreset and url do not apply to whip")
		}
	case "url":
		if c.AudioOnly || c.VideoPreset != "" || c.Transcode || c.AudioBitrate != 0 || c.Disabled {
			return api.BadRequest("only url applies to a url pull")
		}
	default:
		return api.BadRequest("kind must be rtmp, whip or url")
	}
	// An ingest joins under its identity: the recorder's would drop the recorder.
	if err := tokens.CheckUnreserved("identity", c.Identity); err != nil {
		return err
	}
	return nil
}

// CreateIngress creates an ingress; the answer carries its stream key.
func (h *Routes) CreateIngress() api.Handler {
	return api.JSONWrite(http.StatusCreated, func(r *http.Request, req *IngressRequest) (ingress.Ingress, error) {
		ctx := r.Context()
		if req.Kind == "url" {
			if err := h.CheckPull(ctx, req.URL); err != nil {
				return ingress.Ingress{}, err
			}
		}
		who := ingress.Participant{Room: req.Room, Identity: req.Identity, Name: req.ParticipantName, Metadata: req.Metadata}
		var in ingress.Ingress
		var err error
		switch req.Kind {
		case "rtmp":
			in, err = h.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: who, Name: req.Name, AudioBitrate: req.AudioBitrate,
				AudioOnly: req.AudioOnly, VideoPreset: req.VideoPreset, Disabled: req.Disabled})
		case "whip":
			in, err = h.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: who, Name: req.Name, Transcode: req.Transcode,
				AudioBitrate: req.AudioBitrate, Disabled: req.Disabled})
		case "url":
			in, err = h.Ingress.PullURL(ctx, ingress.URLOptions{Participant: who, Name: req.Name, URL: req.URL})
		}
		if err == nil {
			h.Model.Wrote(ctx, live.IngestEvent(events.IngestUpdated, in))
		}
		return in, err
	})
}

// DeleteIngress deletes an ingress: its stream key stops working.
func (h *Routes) DeleteIngress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Query().Get("id")
		if id == "" {
			return api.BadRequest("the query parameter id names the ingress to delete")
		}
		var known *events.IngestState
		if h.Events != nil {
			if in, ok := h.Events.Snapshot().Ingresses[id]; ok {
				known = &in
			}
		}
		if err := h.Ingress.Delete(r.Context(), id); err != nil {
			return err
		}
		if known != nil {
			h.Model.Wrote(r.Context(), live.IngestEvent(events.IngestRemoved, known.Ingress))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

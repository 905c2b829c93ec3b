package main

import (
	"context"
	"net/http"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

func (s *server) handleListIngress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		room := r.URL.Query().Get("room")
		// A pull's URL holds credentials (userinfo, ?token=): the model and
		// its events keep it redacted for everyone, so an admin, who may see
		// it whole, is answered from LiveKit.
		full := api.UserFrom(r.Context()).Role >= api.Admin
		list, err := live.Or(s.model, w, r, !full, func(snap *events.Snapshot) ([]ingress.Ingress, error) {
			return live.InRoom(room, snap.IngressList)
		}, func(ctx context.Context) ([]ingress.Ingress, error) {
			list, err := s.Ingress.List(ctx, ingress.ListOptions{Room: room})
			for i := range list {
				if full {
					list[i] = list[i].WithoutStreamKey()
				} else {
					list[i] = list[i].Redacted()
				}
			}
			return list, err
		})
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, list)
		return nil
	}
}

// streamKey is what an encoder needs to publish to an ingress.
type streamKey struct {
	ID         string `json:"id"`
	ServerURL  string `json:"serverUrl"`
	StreamKey  string `json:"streamKey"`
	PublishURL string `json:"publishUrl"`
}

// handleRevealStreamKey answers an ingress's stream key to an admin, and logs
// who saw which (never the key).
func (s *server) handleRevealStreamKey() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		in, err := s.Ingress.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		u := api.UserFrom(r.Context())
		s.Log.Info("stream key revealed", "ingress", in.ID, "room", in.Room, "by", u.Name, "auth", u.Method, "id", api.RequestID(r.Context()))
		api.WriteJSON(w, http.StatusOK, streamKey{ID: in.ID, ServerURL: in.ServerURL, StreamKey: in.StreamKey, PublishURL: in.PublishURL})
		return nil
	}
}

type createIngressRequest struct {
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
func (c createIngressRequest) Check() error {
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
	if err := reservedIdentity(c.Identity); err != nil {
		return err
	}
	return nil
}

func (s *server) handleCreateIngress() api.Handler {
	return api.JSONWrite(http.StatusCreated, func(r *http.Request, req *createIngressRequest) (ingress.Ingress, error) {
		ctx := r.Context()
		if req.Kind == "url" {
			if err := s.checkOutbound(ctx, s.pullCheck(), req.URL); err != nil {
				return ingress.Ingress{}, err
			}
		}
		who := ingress.Participant{Room: req.Room, Identity: req.Identity, Name: req.ParticipantName, Metadata: req.Metadata}
		var in ingress.Ingress
		var err error
		switch req.Kind {
		case "rtmp":
			in, err = s.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: who, Name: req.Name, AudioBitrate: req.AudioBitrate,
				AudioOnly: req.AudioOnly, VideoPreset: req.VideoPreset, Disabled: req.Disabled})
		case "whip":
			in, err = s.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: who, Name: req.Name, Transcode: req.Transcode,
				AudioBitrate: req.AudioBitrate, Disabled: req.Disabled})
		case "url":
			in, err = s.Ingress.PullURL(ctx, ingress.URLOptions{Participant: who, Name: req.Name, URL: req.URL})
		}
		if err == nil {
			s.model.Wrote(ctx, live.IngestEvent(events.IngestUpdated, in))
		}
		return in, err
	})
}

func (s *server) handleDeleteIngress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Query().Get("id")
		if id == "" {
			return api.BadRequest("the query parameter id names the ingress to delete")
		}
		var known *events.IngestState
		if s.Events != nil {
			if in, ok := s.Events.Snapshot().Ingresses[id]; ok {
				known = &in
			}
		}
		if err := s.Ingress.Delete(r.Context(), id); err != nil {
			return err
		}
		if known != nil {
			s.model.Wrote(r.Context(), live.IngestEvent(events.IngestRemoved, known.Ingress))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

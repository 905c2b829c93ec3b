package media

import (
	"context"
	"net/http"
	"strconv"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// ListEgress lists recordings and restreams, from the live model once it
// serves.
func (h *Routes) ListEgress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		active, err := boolParam(q.Get("active"), "active")
		if err != nil {
			return err
		}
		// The model holds the running egresses only.
		return live.Answer(h.Model, w, r, active, func(snap *events.Snapshot) ([]egress.Egress, error) {
			return live.InRoom(q.Get("room"), snap.RecordingList)
		}, func(ctx context.Context) ([]egress.Egress, error) {
			list, err := h.Egress.List(ctx, egress.ListOptions{Room: q.Get("room"), Active: active})
			return api.NonNil(list), err
		})
	}
}

// EgressRequest is what to record or restream, and from whom.
type EgressRequest struct {
	Kind     string `json:"kind" enum:"audio,video,stems,room,hls,restream"`
	Room     string `json:"room"`
	Identity string `json:"identity,omitempty"` // audio, video, hls, restream: whose audio (and video) is the show; empty: the only one publishing
	// audio, video, room: a suffix for the key the server chooses, <room>/<UTC time>-<unique id>-<filename>.<ext>;
	// at most 64 of A-Z a-z 0-9 _ -, anything else is refused (400)
	Filename string `json:"filename,omitempty" pattern:"^[A-Za-z0-9_-]{0,64}$"`
	Bitrate  int    `json:"bitrate,omitempty"` // audio: Opus kbps, 256 when 0
	// room: grid, speaker or single-speaker, dark by default or with -dark or -light; speaker when empty
	Layout string `json:"layout,omitempty" enum:"grid,grid-dark,grid-light,speaker,speaker-dark,speaker-light,single-speaker,single-speaker-dark,single-speaker-light"`
	Width  int    `json:"width,omitempty"`  // room: the picture's width in pixels (even, 16..3840, with height); 1280 when 0
	Height int    `json:"height,omitempty"` // room: the picture's height in pixels (even, 16..3840, with width); 720 when 0
	// room: the room's mixed sound only, Opus in Ogg (no layout, no size) instead of MP4
	AudioOnly bool     `json:"audioOnly,omitempty"`
	URLs      []string `json:"urls,omitempty"` // restream: rtmp(s):// destinations
}

// Check refuses options that do not apply to the kind, rather than ignoring them.
func (e EgressRequest) Check() error {
	notFor := func(what string) error { return api.BadRequest("%s does not apply to a %s egress", what, e.Kind) }
	switch e.Kind {
	case "audio", "video", "stems", "room", "hls", "restream":
	default:
		return api.BadRequest("kind must be one of audio, video, stems, room, hls, restream")
	}
	if (e.Kind == "stems" || e.Kind == "room") && e.Identity != "" {
		return notFor("identity")
	}
	if e.Kind != "audio" && e.Kind != "video" && e.Kind != "room" && e.Filename != "" {
		return notFor("filename")
	}
	if e.Kind != "audio" && e.Bitrate != 0 {
		return notFor("bitrate")
	}
	if e.Kind != "room" && (e.Layout != "" || e.AudioOnly || e.Width != 0 || e.Height != 0) {
		return notFor("layout, width, height and audioOnly")
	}
	if e.Kind != "restream" && len(e.URLs) > 0 {
		return notFor("urls")
	}
	if e.Kind == "restream" && len(e.URLs) == 0 {
		return api.BadRequest("a restream needs at least one rtmp:// URL in urls")
	}
	if e.Bitrate < 0 || e.Bitrate > egress.MaxBitrate {
		return api.BadRequest("bitrate is Opus kbps, at most %d", egress.MaxBitrate)
	}
	return nil
}

// StartEgress answers a list: stems start one egress per performer, every
// other kind one.
func (h *Routes) StartEgress() api.Handler {
	return api.JSONWrite(http.StatusCreated, func(r *http.Request, req *EgressRequest) ([]egress.Egress, error) {
		ctx := r.Context()
		if req.Kind == "restream" {
			if err := h.CheckDestinations(ctx, "", req.URLs); err != nil {
				return nil, err
			}
		}
		var one egress.Egress
		var err error
		switch req.Kind {
		case "stems":
			stems, err := h.Egress.RecordStems(ctx, req.Room)
			if err != nil {
				return nil, err
			}
			for _, e := range stems {
				h.Model.Wrote(ctx, live.RecordingEvent(e))
			}
			return api.NonNil(stems), nil
		case "audio":
			one, err = h.Egress.RecordAudio(ctx, req.Room, egress.AudioOptions{Identity: req.Identity, Filename: req.Filename, Bitrate: req.Bitrate})
		case "video":
			one, err = h.Egress.RecordVideo(ctx, req.Room, egress.VideoOptions{Identity: req.Identity, Filename: req.Filename})
		case "room":
			one, err = h.Egress.RecordRoom(ctx, req.Room, egress.RoomOptions{Layout: req.Layout, Width: req.Width, Height: req.Height,
				AudioOnly: req.AudioOnly, Filename: req.Filename})
		case "hls":
			one, err = h.Egress.HLS(ctx, req.Room, req.Identity)
		case "restream":
			one, err = h.Egress.Restream(ctx, req.Room, req.Identity, req.URLs...)
		}
		if err != nil {
			return nil, err
		}
		h.Model.Wrote(ctx, live.RecordingEvent(one))
		return []egress.Egress{one}, nil
	})
}

// StopEgress stops a recording or restream; the file stays in the bucket.
func (h *Routes) StopEgress() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Query().Get("id")
		if id == "" {
			return api.BadRequest("the query parameter id names the egress to stop")
		}
		e, err := h.Egress.Stop(r.Context(), id)
		if err != nil {
			return err
		}
		h.Model.Wrote(r.Context(), live.RecordingEvent(e))
		api.WriteJSON(w, http.StatusOK, e)
		return nil
	}
}

// DestinationsRequest adds and removes a restream's RTMP destinations.
type DestinationsRequest struct {
	Add    []string `json:"add,omitempty"`    // rtmp(s):// URLs to start sending to
	Remove []string `json:"remove,omitempty"` // URLs to stop sending to
}

func (d DestinationsRequest) Check() error {
	if len(d.Add) == 0 && len(d.Remove) == 0 {
		return api.BadRequest("name destinations to add or remove")
	}
	return nil
}

// Destinations changes a live restream's RTMP destinations: adds first, so
// swapping platforms never leaves the show with none.
func (h *Routes) Destinations() api.Handler {
	return api.JSONWrite(http.StatusOK, func(r *http.Request, req *DestinationsRequest) (egress.Egress, error) {
		id, ctx := r.PathValue("id"), r.Context()
		var e egress.Egress
		var err error
		if len(req.Add) > 0 {
			if err = h.CheckDestinations(ctx, id, req.Add); err != nil {
				return e, err
			}
			if e, err = h.Egress.AddDestinations(ctx, id, req.Add...); err != nil {
				return e, err
			}
		}
		if len(req.Remove) > 0 {
			if e, err = h.Egress.RemoveDestinations(ctx, id, req.Remove...); err != nil {
				return e, err
			}
		}
		h.Model.Wrote(ctx, live.RecordingEvent(e))
		return e, nil
	})
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, api.BadRequest("%s must be true or false", name)
	}
	return b, nil
}

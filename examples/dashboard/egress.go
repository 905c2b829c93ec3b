package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// Egresses is what the egress routes need: *egress.Service.
type Egresses interface {
	RecordAudio(ctx context.Context, room string, o egress.AudioOptions) (egress.Egress, error)
	RecordStems(ctx context.Context, room string) ([]egress.Egress, error)
	RecordRoom(ctx context.Context, room string, o egress.RoomOptions) (egress.Egress, error)
	HLS(ctx context.Context, room, identity string) (egress.Egress, error)
	Restream(ctx context.Context, room, identity string, urls ...string) (egress.Egress, error)
	AddDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error)
	RemoveDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error)
	Stop(ctx context.Context, id string) (egress.Egress, error)
	List(ctx context.Context, o egress.ListOptions) ([]egress.Egress, error)
}

// Recordings is the archive the recordings route reads: *recordings.Store.
type Recordings interface {
	List(ctx context.Context, room string) ([]recordings.Recording, error)
	Link(ctx context.Context, r recordings.Recording, ttl time.Duration) (string, error)
}

func (s *server) handleListEgress() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		active, err := boolParam(q.Get("active"), "active")
		if err != nil {
			return err
		}
		list, err := s.Egress.List(r.Context(), egress.ListOptions{Room: q.Get("room"), Active: active})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, nonNil(list))
		return nil
	}
}

type startEgressRequest struct {
	Kind     string `json:"kind" enum:"audio,stems,room,hls,restream"`
	Room     string `json:"room"`
	Identity string `json:"identity,omitempty"` // audio, hls, restream: whose audio is the show; empty: the only one publishing
	// audio, room: a suffix for the key the server chooses, <room>/<UTC time>-<unique id>-<filename>.<ext>;
	// at most 64 of A-Z a-z 0-9 _ -, anything else is refused (400)
	Filename  string   `json:"filename,omitempty" pattern:"^[A-Za-z0-9_-]{0,64}$"`
	Bitrate   int      `json:"bitrate,omitempty"`   // audio: Opus kbps, 256 when 0
	Layout    string   `json:"layout,omitempty"`    // room: grid, speaker, single-speaker
	AudioOnly bool     `json:"audioOnly,omitempty"` // room: OGG instead of MP4
	URLs      []string `json:"urls,omitempty"`      // restream: rtmp(s):// destinations
}

// check refuses options that do not apply to the kind, rather than ignoring them.
func (e startEgressRequest) check() error {
	notFor := func(what string) error { return badRequest("%s does not apply to a %s egress", what, e.Kind) }
	switch e.Kind {
	case "audio", "stems", "room", "hls", "restream":
	default:
		return badRequest("kind must be one of audio, stems, room, hls, restream")
	}
	if (e.Kind == "stems" || e.Kind == "room") && e.Identity != "" {
		return notFor("identity")
	}
	if e.Kind != "audio" && e.Kind != "room" && e.Filename != "" {
		return notFor("filename")
	}
	if e.Kind != "audio" && e.Bitrate != 0 {
		return notFor("bitrate")
	}
	if e.Kind != "room" && (e.Layout != "" || e.AudioOnly) {
		return notFor("layout and audioOnly")
	}
	if e.Kind != "restream" && len(e.URLs) > 0 {
		return notFor("urls")
	}
	if e.Kind == "restream" && len(e.URLs) == 0 {
		return badRequest("a restream needs at least one rtmp:// URL in urls")
	}
	if e.Bitrate < 0 || e.Bitrate > 510 {
		return badRequest("bitrate is Opus kbps, at most 510")
	}
	return nil
}

// handleStartEgress answers a list: stems start one egress per performer, every
// other kind one.
func (s *server) handleStartEgress() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req startEgressRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		ctx := r.Context()
		var one egress.Egress
		var err error
		switch req.Kind {
		case "stems":
			stems, err := s.Egress.RecordStems(ctx, req.Room)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, nonNil(stems))
			return nil
		case "audio":
			one, err = s.Egress.RecordAudio(ctx, req.Room, egress.AudioOptions{Identity: req.Identity, Filename: req.Filename, Bitrate: req.Bitrate})
		case "room":
			one, err = s.Egress.RecordRoom(ctx, req.Room, egress.RoomOptions{Layout: req.Layout, AudioOnly: req.AudioOnly, Filename: req.Filename})
		case "hls":
			one, err = s.Egress.HLS(ctx, req.Room, req.Identity)
		case "restream":
			one, err = s.Egress.Restream(ctx, req.Room, req.Identity, req.URLs...)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, []egress.Egress{one})
		return nil
	}
}

func (s *server) handleStopEgress() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Query().Get("id")
		if id == "" {
			return badRequest("the query parameter id names the egress to stop")
		}
		e, err := s.Egress.Stop(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, e)
		return nil
	}
}

type destinationsRequest struct {
	Add    []string `json:"add,omitempty"`    // rtmp(s):// URLs to start sending to
	Remove []string `json:"remove,omitempty"` // URLs to stop sending to
}

func (d destinationsRequest) check() error {
	if len(d.Add) == 0 && len(d.Remove) == 0 {
		return badRequest("name destinations to add or remove")
	}
	return nil
}

// handleDestinations changes a live restream's RTMP destinations: adds first, so
// swapping platforms never leaves the show with none.
func (s *server) handleDestinations() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req destinationsRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		id, ctx := r.PathValue("id"), r.Context()
		var e egress.Egress
		var err error
		if len(req.Add) > 0 {
			if e, err = s.Egress.AddDestinations(ctx, id, req.Add...); err != nil {
				return err
			}
		}
		if len(req.Remove) > 0 {
			if e, err = s.Egress.RemoveDestinations(ctx, id, req.Remove...); err != nil {
				return err
			}
		}
		writeJSON(w, http.StatusOK, e)
		return nil
	}
}

// recording is a file in the bucket with a link to download it and, when the
// egress that wrote it is still known to LiveKit, its duration.
type recording struct {
	recordings.Recording
	DurationMS  int64     `json:"durationMs,omitempty"`
	EgressID    string    `json:"egressId,omitempty"`
	DownloadURL string    `json:"downloadUrl"`
	LinkExpires time.Time `json:"linkExpiresAt"`
}

func (s *server) handleListRecordings() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		ttl := recordings.DefaultLinkTTL
		if v := q.Get("linkTtl"); v != "" {
			secs, err := strconv.Atoi(v)
			if err != nil || secs < 1 || time.Duration(secs)*time.Second > recordings.MaxLinkTTL {
				return badRequest("linkTtl is seconds, from 1 to %d", int(recordings.MaxLinkTTL.Seconds()))
			}
			ttl = time.Duration(secs) * time.Second
		}
		ctx := r.Context()
		files, err := s.Recordings.List(ctx, q.Get("room"))
		if err != nil {
			return err
		}
		// One ListEgress for every duration, never one call per file.
		type written struct {
			id  string
			dur time.Duration
		}
		byKey := map[string]written{}
		if len(files) > 0 { // the route needs recordingService: Egress is there
			if eg, err := s.Egress.List(ctx, egress.ListOptions{Room: q.Get("room")}); err == nil {
				for _, e := range eg {
					for _, f := range e.Files {
						byKey[f.Key] = written{e.ID, f.Duration}
					}
				}
			} // durations are a nicety: a LiveKit hiccup must not hide the archive
		}
		out := make([]recording, 0, len(files))
		expires := time.Now().Add(ttl).UTC()
		for _, f := range files {
			link, err := s.Recordings.Link(ctx, f, ttl)
			if err != nil {
				return err
			}
			wr := byKey[f.Key]
			out = append(out, recording{Recording: f, DurationMS: wr.dur.Milliseconds(), EgressID: wr.id, DownloadURL: link, LinkExpires: expires})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s must be true or false", name)
	}
	return b, nil
}

// nonNil keeps empty lists as [] in JSON, never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

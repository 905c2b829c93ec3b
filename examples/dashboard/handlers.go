package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

func (s *server) handleOpenAPI() api.Handler {
	var once sync.Once
	var doc []byte
	return func(w http.ResponseWriter, r *http.Request) error {
		once.Do(func() { doc, _ = json.Marshal(api.OpenAPI(s.routes())) })
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return nil
	}
}

func (s *server) handleMetrics() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		// Room names are the shows' names: only a scrape that proved who it
		// is (authorize found a user) gets them, unless the operator made
		// them public.
		if api.UserFrom(r.Context()).Method != "" || s.Settings.MetricsPublicRooms {
			s.metrics.withRooms.ServeHTTP(w, r)
			return nil
		}
		s.metrics.http.ServeHTTP(w, r)
		return nil
	}
}

func (s *server) handleListRooms() api.Handler {
	var encoded live.EncodedRead // 1,000 rooms polled by every open page: one encoding per snapshot
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := live.Or(s.model, w, r, true, func(snap *events.Snapshot) ([]byte, error) {
			return encoded.Of(snap, func(snap *events.Snapshot) any { return snap.RoomList() })
		}, func(ctx context.Context) ([]byte, error) {
			rs, err := s.Rooms.List(ctx)
			if err != nil {
				return nil, err
			}
			return live.JSONLine(rs)
		})
		if err != nil {
			return err
		}
		api.WriteJSONBytes(w, http.StatusOK, body)
		return nil
	}
}

type createRoomRequest struct {
	Name             string `json:"name"`
	EmptyTimeout     int    `json:"emptyTimeout,omitempty"`     // seconds
	DepartureTimeout int    `json:"departureTimeout,omitempty"` // seconds
	MaxParticipants  int    `json:"maxParticipants,omitempty"`
	Metadata         string `json:"metadata,omitempty"`
	MinPlayoutDelay  int    `json:"minPlayoutDelay,omitempty"` // milliseconds
	MaxPlayoutDelay  int    `json:"maxPlayoutDelay,omitempty"` // milliseconds
	SyncStreams      bool   `json:"syncStreams,omitempty"`
}

// Check keeps numbers in ranges LiveKit's uint32 fields hold; names and the rest
// are checked by the rooms package.
func (c createRoomRequest) Check() error {
	const day = 24 * 60 * 60
	switch {
	case c.EmptyTimeout > day || c.DepartureTimeout > day:
		return api.BadRequest("timeouts are at most a day (86400 s)")
	case c.MinPlayoutDelay > 10_000 || c.MaxPlayoutDelay > 10_000:
		return api.BadRequest("playout delays are at most 10000 ms")
	case c.MaxParticipants > 100_000:
		return api.BadRequest("maxParticipants is at most 100000")
	}
	return nil
}

func (s *server) handleCreateRoom() api.Handler {
	return api.JSONWrite(http.StatusCreated, func(r *http.Request, req *createRoomRequest) (rooms.Room, error) {
		room, err := s.Rooms.Create(r.Context(), req.Name, rooms.CreateOptions{
			EmptyTimeout:     time.Duration(req.EmptyTimeout) * time.Second,
			DepartureTimeout: time.Duration(req.DepartureTimeout) * time.Second,
			MaxParticipants:  req.MaxParticipants,
			Metadata:         req.Metadata,
			MinPlayoutDelay:  time.Duration(req.MinPlayoutDelay) * time.Millisecond,
			MaxPlayoutDelay:  time.Duration(req.MaxPlayoutDelay) * time.Millisecond,
			SyncStreams:      req.SyncStreams,
		})
		if err == nil {
			s.model.Wrote(r.Context(), live.RoomOpened(room))
		}
		return room, err
	})
}

func (s *server) handleGetRoom() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		detail, err := live.Or(s.model, w, r, true, func(snap *events.Snapshot) (rooms.Detail, error) { return live.RoomInModel(snap, name) },
			func(ctx context.Context) (rooms.Detail, error) { return s.Rooms.Get(ctx, name) })
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, detail)
		return nil
	}
}

func (s *server) handleDeleteRoom() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		sid, known := s.model.RoomSession(name)
		if err := s.Rooms.Delete(r.Context(), name); err != nil {
			return err
		}
		if known {
			s.model.Wrote(r.Context(), events.Event{Kind: events.RoomClosed, Room: name, RoomSID: sid})
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *server) handleListParticipants() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		return live.Answer(s.model, w, r, true, func(snap *events.Snapshot) ([]rooms.Participant, error) {
			detail, err := live.RoomInModel(snap, name)
			return detail.Participants, err
		}, func(ctx context.Context) ([]rooms.Participant, error) { return s.Rooms.Participants(ctx, name) })
	}
}

type participantAction struct {
	Action   string `json:"action" enum:"remove,mute,unmute,promote,demote"`
	Identity string `json:"identity"`
	TrackSID string `json:"trackSid,omitempty"` // mute/unmute one track; empty: every audio track
}

func (p participantAction) Check() error {
	switch p.Action {
	case "remove", "promote", "demote":
		if p.TrackSID != "" {
			return api.BadRequest("trackSid applies to mute and unmute only")
		}
	case "mute", "unmute":
	default:
		return api.BadRequest("action must be one of remove, mute, unmute, promote, demote")
	}
	return nil
}

// ActionName is what the route's per-action roles (routes.go) are keyed by.
func (p *participantAction) ActionName() string { return p.Action }

type participantActionResult struct {
	Action      string             `json:"action"`
	Identity    string             `json:"identity"`
	Participant *rooms.Participant `json:"participant,omitempty"` // after promote/demote
	Tracks      []rooms.Track      `json:"tracks,omitempty"`      // after mute/unmute
}

func (s *server) handleParticipantAction() api.Handler {
	return api.JSONWrite(http.StatusOK, func(r *http.Request, req *participantAction) (participantActionResult, error) {
		room, ctx := r.PathValue("name"), r.Context()
		res := participantActionResult{Action: req.Action, Identity: req.Identity}
		var sids []string
		if req.TrackSID != "" {
			sids = []string{req.TrackSID}
		}
		var (
			err     error
			left    events.Event
			hadLeft bool
		)
		switch req.Action {
		case "remove":
			// The participant as the model holds it before the kick: the
			// event names the session it ends.
			left, hadLeft = s.model.ParticipantEvent(events.ParticipantLeft, room, req.Identity, nil)
			err = s.Rooms.Kick(ctx, room, req.Identity)
		case "mute":
			res.Tracks, err = s.Rooms.Mute(ctx, room, req.Identity, sids...)
		case "unmute":
			res.Tracks, err = s.Rooms.Unmute(ctx, room, req.Identity, sids...)
		case "promote":
			var p rooms.Participant
			p, err = s.Rooms.Promote(ctx, room, req.Identity)
			res.Participant = &p
		case "demote":
			var p rooms.Participant
			p, err = s.Rooms.Demote(ctx, room, req.Identity)
			res.Participant = &p
		}
		if err != nil {
			return res, err
		}
		switch {
		case req.Action == "remove" && hadLeft:
			s.model.Wrote(ctx, left)
		case res.Participant != nil:
			if e, ok := s.model.ParticipantEvent(events.ParticipantUpdated, room, req.Identity, res.Participant); ok {
				s.model.Wrote(ctx, e)
			}
		default:
			if e, ok := s.model.ParticipantEvent(events.TrackUpdated, room, req.Identity, nil); ok {
				for _, tr := range res.Tracks {
					e.Track = &tr
					s.model.Wrote(ctx, e)
				}
			}
		}
		return res, nil
	})
}

type tokenRequest struct {
	Role     string `json:"role" enum:"performer,listener,moderator"`
	Room     string `json:"room"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Metadata string `json:"metadata,omitempty"`
	TTL      int    `json:"ttl,omitempty"` // lifetime in seconds; the role's default when 0
}

func (t tokenRequest) Check() error {
	if t.TTL < 0 {
		return api.BadRequest("ttl must not be negative")
	}
	if t.TTL > 7*24*3600 {
		return api.BadRequest("ttl is at most a week (604800 s)")
	}
	return tokens.CheckUnreserved("identity", t.Identity)
}

type tokenResponse struct {
	Token     string    `json:"token"`
	WSURL     string    `json:"wsUrl"`
	Role      string    `json:"role"`
	Room      string    `json:"room"`
	Identity  string    `json:"identity"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *server) handleCreateToken() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := api.BodyOf[tokenRequest](r)
		if err != nil {
			return err
		}
		var mint func(string, string, ...tokens.Option) (tokens.Token, error)
		switch req.Role {
		case "performer":
			mint = s.Tokens.Performer
		case "listener":
			mint = s.Tokens.Listener
		case "moderator":
			mint = s.Tokens.Moderator
		default:
			return api.BadRequest("role must be performer, listener or moderator")
		}
		var opts []tokens.Option // each option is a closure: none made for what was not asked
		if req.Name != "" {
			opts = append(opts, tokens.WithName(req.Name))
		}
		if req.Metadata != "" {
			opts = append(opts, tokens.WithMetadata(req.Metadata))
		}
		if req.TTL > 0 {
			opts = append(opts, tokens.WithTTL(time.Duration(req.TTL)*time.Second))
		}
		tok, err := mint(req.Room, req.Identity, opts...)
		if err != nil {
			return err
		}
		s.answerToken(w, r, req.Role, tok, time.Duration(req.TTL)*time.Second)
		return nil
	}
}

// answerToken logs who handed out which access, never the token itself, and
// answers the token; ttl 0 is the role's default, a whole number of minutes.
func (s *server) answerToken(w http.ResponseWriter, r *http.Request, role string, tok tokens.Token, ttl time.Duration) {
	if ttl == 0 {
		ttl = time.Until(tok.ExpiresAt).Round(time.Minute)
	}
	// The request's own log line becomes the audit line: one line per mint.
	c, _ := api.CallOf(r)
	c.Minted = api.Mint{Role: role, Room: tok.Room, Identity: tok.Identity, TTL: ttl}
	writeToken(w, tokenResponse{Token: tok.JWT, WSURL: s.WSURL, Role: role,
		Room: tok.Room, Identity: tok.Identity, ExpiresAt: tok.ExpiresAt})
}

// me is the caller as the dashboard sees them; the page shows what their
// role allows.
type me struct {
	Name string `json:"name"`
	Auth string `json:"auth" enum:"forward-auth,api-key,bearer,dev"`
	Role string `json:"role" enum:"viewer,operator,admin"`
}

func (s *server) handleMe() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		u := api.UserFrom(r.Context())
		api.WriteJSON(w, http.StatusOK, me{Name: u.Name, Auth: u.Method, Role: u.Role.String()})
		return nil
	}
}

func (s *server) handlePage() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.site.Page(w, api.UserFrom(r.Context()).Name, s.Settings.Dev)
	}
}

// handleAssets serves exactly the page's script and style; any other path under
// /static/ is a 404 in the one error shape.
func (s *server) handleAssets() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !s.site.Asset(w, r, strings.TrimPrefix(r.URL.Path, "/static/")) {
			return api.NewError(http.StatusNotFound, "not_found", "no such asset")
		}
		return nil
	}
}

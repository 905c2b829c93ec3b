package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// route is one API endpoint; the table below is the single source for the mux, the
// auth rules and the OpenAPI document.
type route struct {
	method, path string // path below /api
	summary      string
	public       bool // no authentication
	admin        bool // destructive: needs the admin group when one is configured
	stream       bool // also served under /api/stream, the API gateway's paths
	request      any  // JSON body, for the OpenAPI document
	response     any  // success body
	status       int  // success status
	handle       func(d *Deps, w http.ResponseWriter, r *http.Request) error
}

func (rt route) prefixes() []string {
	if rt.stream {
		return []string{"/api", "/api/stream"}
	}
	return []string{"/api"}
}

func routes() []route {
	return []route{
		{method: "GET", path: "/health", summary: "LiveKit connectivity check", public: true, response: healthResponse{}, status: 200, handle: health},
		{method: "GET", path: "/openapi.json", summary: "This API as an OpenAPI 3 document", public: true, response: map[string]any{}, status: 200, handle: openAPI},

		{method: "GET", path: "/rooms", summary: "List rooms", stream: true, response: []rooms.Room{}, status: 200, handle: listRooms},
		{method: "POST", path: "/rooms", summary: "Create a room", stream: true, request: createRoomRequest{}, response: rooms.Room{}, status: 201, handle: createRoom},
		{method: "GET", path: "/rooms/{name}", summary: "Room detail with participants and tracks", stream: true, response: rooms.Detail{}, status: 200, handle: getRoom},
		{method: "DELETE", path: "/rooms/{name}", summary: "Close a room, disconnecting everyone", stream: true, admin: true, status: 204, handle: deleteRoom},
		{method: "GET", path: "/rooms/{name}/participants", summary: "List participants", stream: true, response: []rooms.Participant{}, status: 200, handle: listParticipants},
		{method: "POST", path: "/rooms/{name}/participants", summary: "Act on a participant: remove, mute, unmute, promote, demote (remove needs the admin group)", stream: true, request: participantAction{}, response: participantActionResult{}, status: 200, handle: actOnParticipant},

		{method: "POST", path: "/tokens", summary: "Mint a performer, listener or moderator token", stream: true, request: tokenRequest{}, response: tokenResponse{}, status: 201, handle: createToken},
	}
}

type healthResponse struct {
	Status  string `json:"status"`            // ok or unavailable
	LiveKit string `json:"livekit"`           // ok, readiness or api: the check that failed
	Error   string `json:"error,omitempty"`   // why, without secrets
	Checked string `json:"checked,omitempty"` // RFC 3339
}

func health(d *Deps, w http.ResponseWriter, r *http.Request) error {
	res := healthResponse{Status: "ok", LiveKit: "ok", Checked: time.Now().UTC().Format(time.RFC3339)}
	err := d.SM.Health(r.Context())
	if err != nil {
		var he *spacemusic.HealthError
		res.Status, res.LiveKit, res.Error = "unavailable", "unknown", err.Error()
		if errors.As(err, &he) {
			res.LiveKit = he.Check
		}
		writeJSON(w, http.StatusServiceUnavailable, res)
		return nil
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func listRooms(d *Deps, w http.ResponseWriter, r *http.Request) error {
	rs, err := d.SM.Rooms.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
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

func createRoom(d *Deps, w http.ResponseWriter, r *http.Request) error {
	var req createRoomRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	const day = 24 * 60 * 60
	if req.EmptyTimeout > day || req.DepartureTimeout > day || req.MinPlayoutDelay > 10_000 || req.MaxPlayoutDelay > 10_000 {
		return badRequest("timeouts are at most a day and playout delays at most 10000 ms")
	}
	room, err := d.SM.Rooms.Create(r.Context(), req.Name, &rooms.CreateOptions{
		EmptyTimeout:     time.Duration(req.EmptyTimeout) * time.Second,
		DepartureTimeout: time.Duration(req.DepartureTimeout) * time.Second,
		MaxParticipants:  req.MaxParticipants,
		Metadata:         req.Metadata,
		MinPlayoutDelay:  time.Duration(req.MinPlayoutDelay) * time.Millisecond,
		MaxPlayoutDelay:  time.Duration(req.MaxPlayoutDelay) * time.Millisecond,
		SyncStreams:      req.SyncStreams,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, room)
	return nil
}

func getRoom(d *Deps, w http.ResponseWriter, r *http.Request) error {
	detail, err := d.SM.Rooms.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, detail)
	return nil
}

func deleteRoom(d *Deps, w http.ResponseWriter, r *http.Request) error {
	if err := d.SM.Rooms.Delete(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func listParticipants(d *Deps, w http.ResponseWriter, r *http.Request) error {
	ps, err := d.SM.Rooms.Participants(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

type participantAction struct {
	Action   string `json:"action"` // remove, mute, unmute, promote, demote
	Identity string `json:"identity"`
	TrackSID string `json:"trackSid,omitempty"` // mute/unmute one track; empty: every audio track
}

type participantActionResult struct {
	Action      string             `json:"action"`
	Identity    string             `json:"identity"`
	Participant *rooms.Participant `json:"participant,omitempty"`
	Tracks      []rooms.Track      `json:"tracks,omitempty"`
}

func actOnParticipant(d *Deps, w http.ResponseWriter, r *http.Request) error {
	var req participantAction
	if err := decode(r, &req); err != nil {
		return err
	}
	room, ctx := r.PathValue("name"), r.Context()
	res := participantActionResult{Action: req.Action, Identity: req.Identity}
	var sids []string
	if req.TrackSID != "" {
		sids = []string{req.TrackSID}
	}
	var err error
	switch req.Action {
	case "remove", "kick":
		if !d.Auth.isAdmin(userFrom(ctx)) {
			return &apiError{http.StatusForbidden, "forbidden", "removing a participant needs the admin group"}
		}
		err = d.SM.Rooms.Kick(ctx, room, req.Identity)
	case "mute":
		res.Tracks, err = d.SM.Rooms.Mute(ctx, room, req.Identity, sids...)
	case "unmute":
		res.Tracks, err = d.SM.Rooms.Unmute(ctx, room, req.Identity, sids...)
	case "promote", "demote":
		var p rooms.Participant
		if req.Action == "promote" {
			p, err = d.SM.Rooms.Promote(ctx, room, req.Identity)
		} else {
			p, err = d.SM.Rooms.Demote(ctx, room, req.Identity)
		}
		res.Participant = &p
	default:
		return badRequest("action must be one of remove, mute, unmute, promote, demote")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

type tokenRequest struct {
	Role     string `json:"role"` // performer, listener or moderator
	Room     string `json:"room"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Metadata string `json:"metadata,omitempty"`
	TTL      int    `json:"ttl,omitempty"` // lifetime in seconds; role default when 0
}

type tokenResponse struct {
	Token     string    `json:"token"`
	WSURL     string    `json:"wsUrl"`
	Role      string    `json:"role"`
	Room      string    `json:"room"`
	Identity  string    `json:"identity"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func createToken(d *Deps, w http.ResponseWriter, r *http.Request) error {
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.TTL < 0 {
		return badRequest("ttl must not be negative")
	}
	opts := []tokens.Option{tokens.WithName(req.Name), tokens.WithMetadata(req.Metadata)}
	if req.TTL > 0 {
		opts = append(opts, tokens.WithTTL(time.Duration(req.TTL)*time.Second))
	}
	var tok tokens.Token
	var err error
	switch req.Role {
	case "performer":
		tok, err = d.SM.Tokens.Performer(req.Room, req.Identity, opts...)
	case "listener", "viewer":
		tok, err = d.SM.Tokens.Listener(req.Room, req.Identity, opts...)
	case "moderator":
		tok, err = d.SM.Tokens.Moderator(req.Room, req.Identity, opts...)
	default:
		return badRequest("role must be performer, listener or moderator")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenResponse{Token: tok.JWT, WSURL: d.SM.Config().WSURL(), Role: req.Role,
		Room: tok.Room, Identity: tok.Identity, ExpiresAt: tok.ExpiresAt})
	return nil
}

func openAPI(d *Deps, w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, openAPIDocument(routes()))
	return nil
}

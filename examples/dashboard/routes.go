package main

import (
	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// routes is every endpoint of the dashboard. The table is the single source of
// the mux, the auth rules, the metrics labels and the OpenAPI document.
func (s *server) routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/health", Role: api.Public, Status: 200, Response: healthResponse{},
			Summary: "LiveKit connectivity: 200 when reachable and our credentials work, 503 naming the failed check", Handle: s.handleHealth()},
		{Method: "GET", Path: "/api/openapi.json", Role: api.Public, Status: 200, Response: map[string]any{},
			Summary: "This API as an OpenAPI 3 document", Handle: s.handleOpenAPI()},
		{Method: "GET", Path: "/metrics", Role: api.Scrape, Status: 200, ContentTypes: []string{"text/plain"},
			Summary: "Prometheus metrics (public unless DASHBOARD_METRICS_PUBLIC=false)", Handle: s.handleMetrics()},
		{Method: "GET", Path: "/api/doctor", Role: api.Admin, Status: 200, Response: doctor.Report{}, Needs: doctorService,
			Summary: "Checks the deployment end to end (LiveKit and our key, clocks, LIVEKIT_WS_URL, webhooks, Ingress, Egress, the bucket, downloads): one line per check with its fix; one run at a time (429 doctor_busy)", Handle: s.Doctor.Handler()},

		{Method: "POST", Path: "/api/webhooks/livekit", Role: api.Signed, Status: 200, Needs: eventsService,
			Summary: "LiveKit's webhooks (application/webhook+json); the signature with LIVEKIT_API_KEY/SECRET is the authentication", Handle: s.feed.Webhook()},
		{Method: "GET", Path: "/api/events", Role: api.Viewer, Status: 200, ContentTypes: []string{"text/event-stream"}, Needs: eventsService,
			Query: []api.Param{{Name: "room", Help: "only this room's events", Required: false},
				{Name: "follow", Help: "false: answer the events kept after Last-Event-ID (or ?after=) and end, for scripts; default true", Required: false},
				{Name: "after", Help: "resume after this revision (as Last-Event-ID does)", Required: false}},
			Summary: "The show's events as Server-Sent Events: id is the model's revision; a reconnect sending Last-Event-ID resumes after it without a gap", Handle: s.feed.Events()},
		{Method: "GET", Path: "/api/rooms/{name}/timeline", Role: api.Viewer, Status: 200, Response: live.TimelinePage{}, Needs: eventsService,
			Query: []api.Param{{Name: "limit", Help: "events per page, the newest (default 200, at most 1000)", Required: false},
				{Name: "before", Help: "the before of the previous answer: the events older than it", Required: false}},
			Summary: "A room's story from the event log (joins, tracks, ingest, recordings), also after it closed: its newest events, oldest first; before names the page of older ones", Handle: s.feed.Timeline()},

		{Method: "GET", Path: "/api/me", Role: api.Viewer, Status: 200, Response: me{},
			Summary: "Who is signed in, how, and with which role", Handle: s.handleMe()},

		{Method: "GET", Path: "/api/rooms", Stream: true, Role: api.Viewer, Status: 200, Response: []rooms.Room{}, Headers: live.ModelHeaders,
			Summary: "List open rooms (from the live model once it has synced: see the X-Model headers)", Handle: s.handleListRooms()},
		{Method: "POST", Path: "/api/rooms", Stream: true, Role: api.Operator, Status: 201, Request: createRoomRequest{}, Response: rooms.Room{},
			Summary: "Create a room (idempotent: an existing room is returned as it is)", Handle: s.handleCreateRoom()},
		{Method: "GET", Path: "/api/rooms/{name}", Stream: true, Role: api.Viewer, Status: 200, Response: rooms.Detail{}, Headers: live.ModelHeaders,
			Summary: "Room detail with participants and their tracks", Handle: s.handleGetRoom()},
		{Method: "DELETE", Path: "/api/rooms/{name}", Stream: true, Role: api.Admin, Status: 204,
			Summary: "Close a room, disconnecting everyone", Handle: s.handleDeleteRoom()},
		{Method: "GET", Path: "/api/rooms/{name}/participants", Stream: true, Role: api.Viewer, Status: 200, Response: []rooms.Participant{}, Headers: live.ModelHeaders,
			Summary: "List participants with their tracks", Handle: s.handleListParticipants()},
		{Method: "POST", Path: "/api/rooms/{name}/participants", Stream: true, Role: api.Operator, Status: 200, Request: participantAction{}, Response: participantActionResult{},
			Stricter: api.ByAction(map[string]api.Role{"mute": api.Operator, "unmute": api.Operator, "promote": api.Operator, "demote": api.Operator, "remove": api.Admin}),
			Summary:  "Act on a participant: remove, mute/unmute one track or all audio, promote/demote", Handle: s.handleParticipantAction()},

		{Method: "POST", Path: "/api/rooms/{name}/monitor", Stream: true, Role: api.Operator, Status: 201, Response: tokenResponse{},
			Summary: "A token for the page's monitor: listen to the room hidden (not counted, not listed) and subscribe-only, for 10 minutes", Handle: s.handleMonitor()},
		{Method: "POST", Path: "/api/rooms/{name}/connection-test", Stream: true, Role: api.Operator, Status: 201, Response: connectionTest{},
			Summary: "Two 2-minute tokens for the page's connection test: a hidden subscribe-only listener and a microphone-only tone publisher, both under fresh reserved identities", Handle: s.handleConnectionTest()},

		{Method: "POST", Path: "/api/tokens", Stream: true, Role: api.Operator, Status: 201, Request: tokenRequest{}, Response: tokenResponse{}, Stricter: s.tokenRule(),
			Summary: "Mint a performer, listener or moderator token with the public WebSocket URL", Handle: s.handleCreateToken()},

		{Method: "GET", Path: "/api/ingress", Stream: true, Role: api.Viewer, Status: 200, Response: []ingress.Ingress{}, Needs: ingressService,
			Query: []api.Param{{Name: "room", Help: "only this room's ingresses", Required: false}}, Headers: live.ModelHeaders,
			Summary: "List ingresses (RTMP, WHIP, URL pulls) with their state; stream keys are redacted, and so are a pulled URL's credentials (userinfo, query) below admin", Handle: s.media.ListIngress()},
		{Method: "GET", Path: "/api/ingress/{id}/stream-key", Stream: true, Role: api.Admin, Status: 200, Response: media.StreamKey{}, Needs: ingressService,
			Summary: "Reveal an ingress's server URL, stream key and publish URL (logged)", Handle: s.media.RevealStreamKey()},
		{Method: "POST", Path: "/api/ingress", Stream: true, Role: api.Operator, Status: 201, Request: media.IngressRequest{}, Response: ingress.Ingress{}, Needs: ingressService,
			Summary: "Create an RTMP, WHIP or URL ingress; the answer carries the OBS settings and stream key", Handle: s.media.CreateIngress()},
		{Method: "DELETE", Path: "/api/ingress", Stream: true, Role: api.Admin, Status: 204, Needs: ingressService,
			Query: []api.Param{{Name: "id", Help: "the ingress ID (IN_...)", Required: true}}, Summary: "Delete an ingress; its stream key stops working", Handle: s.media.DeleteIngress()},

		{Method: "GET", Path: "/api/egress", Stream: true, Role: api.Viewer, Status: 200, Response: []egress.Egress{}, Needs: recordingService,
			Query: []api.Param{{Name: "room", Help: "only this room's egresses", Required: false}, {Name: "active", Help: "true: only those still running (answered from the live model); otherwise LiveKit also lists those that ended", Required: false}}, Headers: live.ModelHeaders,
			Summary: "List recordings and restreams with their status", Handle: s.media.ListEgress()},
		{Method: "POST", Path: "/api/egress", Stream: true, Role: api.Operator, Status: 201, Request: media.EgressRequest{}, Response: []egress.Egress{}, Needs: recordingService,
			Summary: "Start recording the show's audio, a performer's video (MP4), stems (one egress per performer), the room, HLS, or a restream to RTMP", Handle: s.media.StartEgress()},
		{Method: "DELETE", Path: "/api/egress", Stream: true, Role: api.Operator, Status: 200, Response: egress.Egress{}, Needs: recordingService,
			Query: []api.Param{{Name: "id", Help: "the egress ID (EG_...)", Required: true}}, Summary: "Stop a recording or restream; its files are uploaded as it ends", Handle: s.media.StopEgress()},
		{Method: "POST", Path: "/api/egress/{id}/destinations", Stream: true, Role: api.Operator, Status: 200, Request: media.DestinationsRequest{}, Response: egress.Egress{}, Needs: recordingService,
			Summary: "Add or remove RTMP destinations of a live restream (adds first)", Handle: s.media.Destinations()},
		{Method: "POST", Path: "/api/shows", Stream: true, Role: api.Operator, Status: 201, OKToo: 200, Request: showroutes.Request{}, Response: showroutes.Opened{}, Needs: showsService,
			Summary: "Open a show (stage, ingest, performers, recording plan, restreams): 201 when created, 200 when the same spec was open already (a performer or destination added is applied live); the answer carries the OBS settings with the stream key, performer tokens and the listener recipe, to the operator who opened the show and to admins (anyone else gets it without them, withheld saying why)",
			Handle:  s.shows.Open()},
		{Method: "GET", Path: "/api/shows", Stream: true, Role: api.Viewer, Status: 200, Response: []showroutes.View{}, Needs: showsService, Headers: live.ModelHeaders,
			Summary: "List the open shows with their phase (scheduled, armed, live, ending) and whether they record (from the live model once it has synced); no stream key, token or restream URL", Handle: s.shows.List()},
		{Method: "GET", Path: "/api/shows/{name}", Stream: true, Role: api.Viewer, Status: 200, Response: showroutes.View{}, Needs: showsService,
			Summary: "A show with its phase and its parts (recordings and restreams so far, with download links); no stream key, token or restream URL", Handle: s.shows.Get()},
		{Method: "DELETE", Path: "/api/shows/{name}", Stream: true, Role: api.Operator, Status: 200, Response: showroutes.Report{}, Needs: showsService, Stricter: s.shows.CloseRule(),
			Summary: "Close a show (an admin, or the operator who opened it): stop its recordings and restreams and wait for the uploads, delete its ingest, close the stage; answers the report (timeline, recordings with durations and download links). Closing again answers the same report", Handle: s.shows.Close()},

		{Method: "POST", Path: "/api/shows/{name}/rehearsal", Role: api.Admin, Status: 202, Request: rehearsals.Request{}, Response: rehearsals.State{}, Needs: rehearsalService,
			Headers: []api.Param{{Name: "Location", Help: "where to GET the rehearsal's state", Required: false}},
			Summary: "Start rehearsing the show's audience: hidden, subscribe-only synthetic listeners join in steps (a test room with a synthetic performer at the show's profile, or, with force, the live show itself) and each step's loss, jitter, join times and CPU are measured; it stops at the first step past the limits, and the capacity is the last good step. Answers 202 at once; each step and the end are rehearsal_* events on /api/events (admins only) and in GET's answer. One at a time (429 rehearsal_busy); never on a live show unless forced (409 show_live)",
			Handle:  s.rehearsals.Start()},
		{Method: "GET", Path: "/api/shows/{name}/rehearsal", Role: api.Admin, Status: 200, Response: rehearsals.State{}, Needs: rehearsalService,
			Summary: "The show's latest rehearsal on this dashboard: running with the steps measured so far, done with the capacity, or failed saying why; 404 when it has not rehearsed the show since it started",
			Handle:  s.rehearsals.Latest()},

		{Method: "GET", Path: "/api/nodes", Role: api.Operator, Status: 200, Response: []nodes.View{}, Needs: nodesService,
			Summary: "LiveKit's nodes from its Redis (REDIS_URL must be LiveKit's own): each node's load as it last reported it (rooms, participants, tracks, CPU), whether it is alive (reported within 5 s), and the open shows whose room it hosts", Handle: s.nodes.Handler()},

		{Method: "GET", Path: "/api/recordings", Stream: true, Role: api.Viewer, Status: 200, Response: []archive.Recording{}, Needs: recordingService,
			Query: []api.Param{{Name: "room", Help: "only this room's recordings", Required: false}, {Name: "linkTtl", Help: "download link lifetime in seconds (default 3600); at most 3600 for viewers, 86400 for operators, 604800 for admins: more is refused with 400 link_ttl_too_long, never clamped", Required: false},
				{Name: "limit", Help: "recordings per page (default 50, at most 500)", Required: false}, {Name: "cursor", Help: "the X-Next-Cursor of the previous page", Required: false}},
			Headers: []api.Param{{Name: "X-Next-Cursor", Help: "cursor of the next page; absent on the last", Required: false}, {Name: "Link", Help: `the next page's URL, rel="next"; absent on the last`}},
			Summary: "Finished recordings in the bucket, newest first, a page at a time, each HLS run as one; with download links (presigned, or this dashboard's own path)",
			Handle:  s.recs.List()},
		{Method: "GET", Path: "/api/recordings/{key...}", Stream: true, Role: api.Viewer, Status: 200, Ranges: true,
			// What recordings.ContentType gives a key, by its extension.
			ContentTypes: []string{"audio/*", "video/*", "application/vnd.apple.mpegurl", "application/octet-stream"}, Needs: recordingService,
			Summary: "Download a recording through the dashboard; key is its bucket key (room/...); Range requests answer 206", Handle: s.recs.Download()},
	}
}

// pages are the web UI: the page itself for signed-in users, its script and
// style for anyone. They go through the same pipeline as the API (auth, rate
// limit, metrics, logs) but are not part of the API's OpenAPI document.
func (s *server) pages() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/{$}", Role: api.Viewer, Summary: "the dashboard page", Handle: s.handlePage()},
		{Method: "GET", Path: "/static/", Role: api.Public, Summary: "the page's script and style", Handle: s.handleAssets()},
	}
}

const (
	ingressService   api.Service = "ingress"
	recordingService api.Service = "recording (MINIO_BUCKET)"
	eventsService    api.Service = "events"
	showsService     api.Service = "shows"
	doctorService    api.Service = "doctor"
	rehearsalService api.Service = "rehearsal"
	nodesService     api.Service = "nodes (REDIS_URL)"
)

// has reports whether the dashboard was given what svc needs.
func (s *server) has(svc api.Service) bool {
	switch svc {
	case ingressService:
		return s.Ingress != nil
	case recordingService:
		return s.Egress != nil && s.Recordings != nil
	case eventsService:
		return s.Events != nil && s.Webhooks != nil
	case showsService:
		return s.Shows != nil
	case doctorService:
		return s.Doctor != nil
	case rehearsalService:
		return s.Shows != nil && s.Rehearsals != nil
	case nodesService:
		return s.Nodes != nil
	}
	return true
}

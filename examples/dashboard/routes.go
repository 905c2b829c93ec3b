package main

import (
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// routes is every endpoint of the dashboard. The table is the single source of
// the mux, the auth rules, the metrics labels and the OpenAPI document.
func (s *server) routes() []route {
	return []route{
		{method: "GET", path: "/api/health", role: public, status: 200, response: healthResponse{},
			summary: "LiveKit connectivity: 200 when reachable and our credentials work, 503 naming the failed check", handle: s.handleHealth()},
		{method: "GET", path: "/api/openapi.json", role: public, status: 200, response: map[string]any{},
			summary: "This API as an OpenAPI 3 document", handle: s.handleOpenAPI()},
		{method: "GET", path: "/metrics", role: scrape, status: 200, contentTypes: []string{"text/plain"},
			summary: "Prometheus metrics (public unless DASHBOARD_METRICS_PUBLIC=false)", handle: s.handleMetrics()},
		{method: "GET", path: "/api/doctor", role: admin, status: 200, response: doctorReport{}, needs: doctorService,
			summary: "Checks the deployment end to end (LiveKit and our key, clocks, LIVEKIT_WS_URL, webhooks, Ingress, Egress, the bucket, downloads): one line per check with its fix; one run at a time (429 doctor_busy)", handle: s.handleDoctor()},

		{method: "POST", path: "/api/webhooks/livekit", role: signed, status: 200, needs: eventsService,
			summary: "LiveKit's webhooks (application/webhook+json); the signature with LIVEKIT_API_KEY/SECRET is the authentication", handle: s.handleWebhook()},
		{method: "GET", path: "/api/events", role: viewer, status: 200, contentTypes: []string{"text/event-stream"}, needs: eventsService,
			query: []param{{"room", "only this room's events", false},
				{"follow", "false: answer the events kept after Last-Event-ID (or ?after=) and end, for scripts; default true", false},
				{"after", "resume after this revision (as Last-Event-ID does)", false}},
			summary: "The show's events as Server-Sent Events: id is the model's revision; a reconnect sending Last-Event-ID resumes after it without a gap", handle: s.handleEvents()},
		{method: "GET", path: "/api/rooms/{name}/timeline", role: viewer, status: 200, response: timeline{}, needs: eventsService,
			query: []param{{"limit", "events per page, the newest (default 200, at most 1000)", false},
				{"before", "the before of the previous answer: the events older than it", false}},
			summary: "A room's story from the event log (joins, tracks, ingest, recordings), also after it closed: its newest events, oldest first; before names the page of older ones", handle: s.handleTimeline()},

		{method: "GET", path: "/api/me", role: viewer, status: 200, response: me{},
			summary: "Who is signed in, how, and with which role", handle: s.handleMe()},

		{method: "GET", path: "/api/rooms", stream: true, role: viewer, status: 200, response: []rooms.Room{}, headers: modelHeaders,
			summary: "List open rooms (from the live model once it has synced: see the X-Model headers)", handle: s.handleListRooms()},
		{method: "POST", path: "/api/rooms", stream: true, role: operator, status: 201, request: createRoomRequest{}, response: rooms.Room{},
			summary: "Create a room (idempotent: an existing room is returned as it is)", handle: s.handleCreateRoom()},
		{method: "GET", path: "/api/rooms/{name}", stream: true, role: viewer, status: 200, response: rooms.Detail{}, headers: modelHeaders,
			summary: "Room detail with participants and their tracks", handle: s.handleGetRoom()},
		{method: "DELETE", path: "/api/rooms/{name}", stream: true, role: admin, status: 204,
			summary: "Close a room, disconnecting everyone", handle: s.handleDeleteRoom()},
		{method: "GET", path: "/api/rooms/{name}/participants", stream: true, role: viewer, status: 200, response: []rooms.Participant{}, headers: modelHeaders,
			summary: "List participants with their tracks", handle: s.handleListParticipants()},
		{method: "POST", path: "/api/rooms/{name}/participants", stream: true, role: operator, status: 200, request: participantAction{}, response: participantActionResult{},
			stricter: byAction(map[string]role{"mute": operator, "unmute": operator, "promote": operator, "demote": operator, "remove": admin}),
			summary:  "Act on a participant: remove, mute/unmute one track or all audio, promote/demote", handle: s.handleParticipantAction()},

		{method: "POST", path: "/api/rooms/{name}/monitor", stream: true, role: operator, status: 201, response: tokenResponse{},
			summary: "A token for the page's monitor: listen to the room hidden (not counted, not listed) and subscribe-only, for 10 minutes", handle: s.handleMonitor()},
		{method: "POST", path: "/api/rooms/{name}/connection-test", stream: true, role: operator, status: 201, response: connectionTest{},
			summary: "Two 2-minute tokens for the page's connection test: a hidden subscribe-only listener and a microphone-only tone publisher, both under fresh reserved identities", handle: s.handleConnectionTest()},

		{method: "POST", path: "/api/tokens", stream: true, role: operator, status: 201, request: tokenRequest{}, response: tokenResponse{}, stricter: s.tokenRule(),
			summary: "Mint a performer, listener or moderator token with the public WebSocket URL", handle: s.handleCreateToken()},

		{method: "GET", path: "/api/ingress", stream: true, role: viewer, status: 200, response: []ingress.Ingress{}, needs: ingressService,
			query: []param{{"room", "only this room's ingresses", false}}, headers: modelHeaders,
			summary: "List ingresses (RTMP, WHIP, URL pulls) with their state; stream keys are redacted, and so are a pulled URL's credentials (userinfo, query) below admin", handle: s.handleListIngress()},
		{method: "GET", path: "/api/ingress/{id}/stream-key", stream: true, role: admin, status: 200, response: streamKey{}, needs: ingressService,
			summary: "Reveal an ingress's server URL, stream key and publish URL (logged)", handle: s.handleRevealStreamKey()},
		{method: "POST", path: "/api/ingress", stream: true, role: operator, status: 201, request: createIngressRequest{}, response: ingress.Ingress{}, needs: ingressService,
			summary: "Create an RTMP, WHIP or URL ingress; the answer carries the OBS settings and stream key", handle: s.handleCreateIngress()},
		{method: "DELETE", path: "/api/ingress", stream: true, role: admin, status: 204, needs: ingressService,
			query: []param{{"id", "the ingress ID (IN_...)", true}}, summary: "Delete an ingress; its stream key stops working", handle: s.handleDeleteIngress()},

		{method: "GET", path: "/api/egress", stream: true, role: viewer, status: 200, response: []egress.Egress{}, needs: recordingService,
			query: []param{{"room", "only this room's egresses", false}, {"active", "true: only those still running (answered from the live model); otherwise LiveKit also lists those that ended", false}}, headers: modelHeaders,
			summary: "List recordings and restreams with their status", handle: s.handleListEgress()},
		{method: "POST", path: "/api/egress", stream: true, role: operator, status: 201, request: startEgressRequest{}, response: []egress.Egress{}, needs: recordingService,
			summary: "Start recording the show's audio, a performer's video (MP4), stems (one egress per performer), the room, HLS, or a restream to RTMP", handle: s.handleStartEgress()},
		{method: "DELETE", path: "/api/egress", stream: true, role: operator, status: 200, response: egress.Egress{}, needs: recordingService,
			query: []param{{"id", "the egress ID (EG_...)", true}}, summary: "Stop a recording or restream; its files are uploaded as it ends", handle: s.handleStopEgress()},
		{method: "POST", path: "/api/egress/{id}/destinations", stream: true, role: operator, status: 200, request: destinationsRequest{}, response: egress.Egress{}, needs: recordingService,
			summary: "Add or remove RTMP destinations of a live restream (adds first)", handle: s.handleDestinations()},
		{method: "POST", path: "/api/shows", stream: true, role: operator, status: 201, okToo: 200, request: showRequest{}, response: openedShow{}, needs: showsService,
			summary: "Open a show (stage, ingest, performers, recording plan, restreams): 201 when created, 200 when the same spec was open already (a performer or destination added is applied live); the answer carries the OBS settings with the stream key, performer tokens and the listener recipe, to the operator who opened the show and to admins (anyone else gets it without them, withheld saying why)",
			handle:  s.handleOpenShow()},
		{method: "GET", path: "/api/shows", stream: true, role: viewer, status: 200, response: []ShowView{}, needs: showsService, headers: modelHeaders,
			summary: "List the open shows with their phase (scheduled, armed, live, ending) and whether they record (from the live model once it has synced); no stream key, token or restream URL", handle: s.handleListShows()},
		{method: "GET", path: "/api/shows/{name}", stream: true, role: viewer, status: 200, response: ShowView{}, needs: showsService,
			summary: "A show with its phase and its parts (recordings and restreams so far, with download links); no stream key, token or restream URL", handle: s.handleGetShow()},
		{method: "DELETE", path: "/api/shows/{name}", stream: true, role: operator, status: 200, response: showReport{}, needs: showsService, stricter: s.closeShowRule(),
			summary: "Close a show (an admin, or the operator who opened it): stop its recordings and restreams and wait for the uploads, delete its ingest, close the stage; answers the report (timeline, recordings with durations and download links). Closing again answers the same report", handle: s.handleCloseShow()},

		{method: "POST", path: "/api/shows/{name}/rehearsal", role: admin, status: 202, request: rehearsalRequest{}, response: rehearsalState{}, needs: rehearsalService,
			headers: []param{{"Location", "where to GET the rehearsal's state", false}},
			summary: "Start rehearsing the show's audience: hidden, subscribe-only synthetic listeners join in steps (a test room with a synthetic performer at the show's profile, or, with force, the live show itself) and each step's loss, jitter, join times and CPU are measured; it stops at the first step past the limits, and the capacity is the last good step. Answers 202 at once; each step and the end are rehearsal_* events on /api/events (admins only) and in GET's answer. One at a time (429 rehearsal_busy); never on a live show unless forced (409 show_live)",
			handle:  s.handleRehearse()},
		{method: "GET", path: "/api/shows/{name}/rehearsal", role: admin, status: 200, response: rehearsalState{}, needs: rehearsalService,
			summary: "The show's latest rehearsal on this dashboard: running with the steps measured so far, done with the capacity, or failed saying why; 404 when it has not rehearsed the show since it started",
			handle:  s.handleRehearsal()},

		{method: "GET", path: "/api/nodes", role: operator, status: 200, response: []nodeView{}, needs: nodesService,
			summary: "LiveKit's nodes from its Redis (REDIS_URL must be LiveKit's own): each node's load as it last reported it (rooms, participants, tracks, CPU), whether it is alive (reported within 5 s), and the open shows whose room it hosts", handle: s.handleNodes()},

		{method: "GET", path: "/api/recordings", stream: true, role: viewer, status: 200, response: []recording{}, needs: recordingService,
			query: []param{{"room", "only this room's recordings", false}, {"linkTtl", "download link lifetime in seconds (default 3600); at most 3600 for viewers, 86400 for operators, 604800 for admins: more is refused with 400 link_ttl_too_long, never clamped", false},
				{"limit", "recordings per page (default 50, at most 500)", false}, {"cursor", "the X-Next-Cursor of the previous page", false}},
			headers: []param{{"X-Next-Cursor", "cursor of the next page; absent on the last", false}, {"Link", `the next page's URL, rel="next"; absent on the last`, false}},
			summary: "Finished recordings in the bucket, newest first, a page at a time, each HLS run as one; with download links (presigned, or this dashboard's own path)",
			handle:  s.handleListRecordings()},
		{method: "GET", path: "/api/recordings/{key...}", stream: true, role: viewer, status: 200, ranges: true,
			// What recordings.ContentType gives a key, by its extension.
			contentTypes: []string{"audio/*", "video/*", "application/vnd.apple.mpegurl", "application/octet-stream"}, needs: recordingService,
			summary: "Download a recording through the dashboard; key is its bucket key (room/...); Range requests answer 206", handle: s.handleGetRecording()},
	}
}

// pages are the web UI: the page itself for signed-in users, its script and
// style for anyone. They go through the same pipeline as the API (auth, rate
// limit, metrics, logs) but are not part of the API's OpenAPI document.
func (s *server) pages() []route {
	return []route{
		{method: "GET", path: "/{$}", role: viewer, summary: "the dashboard page", handle: s.handlePage()},
		{method: "GET", path: "/static/", role: public, summary: "the page's script and style", handle: s.handleAssets()},
	}
}

const (
	ingressService   service = "ingress"
	recordingService service = "recording (MINIO_BUCKET)"
	eventsService    service = "events"
	showsService     service = "shows"
	doctorService    service = "doctor"
	rehearsalService service = "rehearsal"
	nodesService     service = "nodes (REDIS_URL)"
)

// has reports whether the dashboard was given what svc needs.
func (s *server) has(svc service) bool {
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

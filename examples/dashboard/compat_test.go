package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// The compatibility suite lives with the dashboard because the seed's operators
// meet LiveKit through a dashboard: each story below is what they do there
// (rooms, people, tokens, OBS, recordings, shows, the live event stream), on
// the whole stack (LiveKit, Ingress, Egress, MinIO), once on the version we pin
// and once on the seed's. What each version did becomes docs/support.md.

// compatVersions are the livekit-server releases the suite runs on, as
// scripts/versions names them: ours first, then the seed's.
var compatVersions = []string{"LIVEKIT_VERSION", "LIVEKIT_SEED_VERSION"}

// compatStage is one version's whole stack with a dashboard in front of it.
type compatStage struct {
	*stage
	version string
	stream  *sse              // the dashboard's /api/events, open from the start
	keys    map[string]string // ingress kind -> publish URL, for the push story
}

// newCompatStage starts LiveKit at version with Redis and webhooks, Ingress,
// Egress and MinIO beside it, and the dashboard (live model, recordings,
// restreams to loopback) in front, its monitor pointed at LiveKit itself.
func newCompatStage(t *testing.T, version string) *compatStage {
	t.Helper()
	hook := newHookFront(t)
	m := testenv.MinIO(t) // before the media slot, which Ingress and Egress take
	env, _ := testenv.Ingress(t, testenv.WithVersion(version), hook.option())
	testenv.Egress(t, env)
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	st := newStageAt(t, env, storage, func(s *config.Settings) {
		s.LiveKitTimeout = 10 * time.Second
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	}, true, env.WSURL)
	hook.to(st)
	require.NoError(t, st.sm.Recordings.EnsureBucket(t.Context()))
	st.keepOutOfLogs(m.AccessKey)
	return &compatStage{stage: st, version: version, stream: openStream(t, st.srv.URL+"/api/events", testAPIKey, ""), keys: map[string]string{}}
}

// A story is one feature as an operator uses it. It returns what it observed
// for the support table: works, or the typed error the library answered.
type story struct {
	feature string
	run     func(t *testing.T, c *compatStage) string
}

const works = "works"

// compatStories run in order on one stage: later ones use the room and the
// performer the earlier ones made, as an evening's work would.
var compatStories = []story{
	{"health", storyHealth},
	{"rooms: create, list, delete", storyRooms},
	{"tokens: a performer joins (Go SDK)", storyPerformerJoins},
	{"webhooks to the live model and /api/events", storyLiveEvents},
	{"participants: mute, promote, kick", storyParticipants},
	{"tokens: participant attributes", storyAttributes},
	{"rooms: metadata, and a listener hears the music and gets data", storyListener},
	{"ingress: RTMP and WHIP created", storyIngressCreated},
	{"ingress: an RTMP push becomes a track", storyRTMPPush},
	{"ingress: a WHIP push becomes a track", storyWHIPPush},
	{"recording: audio egress to MinIO", storyRecording},
	{"recording: the shows' recorder (Go SDK) to MinIO", storyRecorder},
	{"shows: open and close", storyShow},
	{"tokens: a monitor joins (Chromium)", storyBrowserJoin},
	{"own participants told from impostors", storyOwnParticipants},
	{"monitoring: the livekit-server series deploy/ reads", storyMetrics},
}

// Operators run the seed's stack on an older LiveKit than ours: every feature
// is tried on both, and what each version did must be what docs/support.md says.
func TestFeaturesOnBothLiveKitVersions(t *testing.T) {
	testenv.RequireNetNS(t)
	// One media lane for both versions: between them another test binary
	// would take it, and the seed's half would queue for it again.
	testenv.HoldMediaSlot(t)
	observed := map[string]map[string]string{} // version -> feature -> cell
	var order []string
	for _, name := range compatVersions {
		version, err := testenv.StackVersion(name)
		require.NoError(t, err)
		order = append(order, version)
		t.Run(version, func(t *testing.T) {
			start := time.Now()
			c := newCompatStage(t, version)
			up := time.Since(start)
			cells := map[string]string{}
			for _, s := range compatStories {
				var cell string
				if t.Run(s.feature, func(t *testing.T) { cell = s.run(t, c) }) {
					cells[s.feature] = cell
				} else {
					cells[s.feature] = "fails"
				}
			}
			observed[version] = cells
			t.Logf("livekit-server %s: the stack was up in %s, the stories took %s", version, up.Round(100*time.Millisecond),
				(time.Since(start) - up).Round(100*time.Millisecond))
		})
	}
	checkSupportTable(t, order, observed)
}

func storyHealth(t *testing.T, c *compatStage) string {
	code, body := c.call(t, "GET", "/api/health", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	return works
}

func storyRooms(t *testing.T, c *compatStage) string {
	code, body := c.call(t, "POST", "/api/rooms", map[string]any{"name": "soundcheck", "emptyTimeout": 300, "departureTimeout": 20})
	require.Equal(t, http.StatusCreated, code, "%s", body)
	code, body = c.call(t, "POST", "/api/rooms", map[string]any{"name": "friday-jam", "emptyTimeout": 600})
	require.Equal(t, http.StatusCreated, code, "%s", body)
	code, body = c.call(t, "GET", "/api/rooms", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	names := map[string]bool{}
	for _, r := range decodeAs[[]rooms.Room](t, body) {
		names[r.Name] = true
	}
	assert.True(t, names["soundcheck"] && names["friday-jam"], "both rooms listed: %s", body)
	code, body = c.call(t, "DELETE", "/api/rooms/soundcheck", nil)
	require.Equal(t, http.StatusNoContent, code, "%s", body)
	rs, err := c.sm.Rooms.List(t.Context(), "soundcheck")
	require.NoError(t, err)
	assert.Empty(t, rs, "the deleted room is gone")
	return works
}

// token asks the dashboard for a token of role in room.
func (c *compatStage) token(t *testing.T, role, room, identity string) string {
	t.Helper()
	code, body := c.call(t, "POST", "/api/tokens", map[string]any{"role": role, "room": room, "identity": identity})
	require.Equal(t, http.StatusCreated, code, "%s", body)
	return decodeAs[tokenResponse](t, body).Token
}

// participant polls the dashboard until who in room passes ok.
func (c *compatStage) participant(t *testing.T, room, who, what string, ok func(rooms.Participant) bool) rooms.Participant {
	t.Helper()
	var found rooms.Participant
	if !poll(t, wait, what, func() (bool, string) {
		code, body, err := c.try(t, http.DefaultClient, "GET", "/api/rooms/"+room+"/participants", nil)
		var ps []rooms.Participant
		if err != nil || code != 200 || json.Unmarshal(body, &ps) != nil {
			return false, seen(code, body, err)
		}
		for _, p := range ps {
			if p.Identity == who && ok(p) {
				found = p
				return true, ""
			}
		}
		return false, seen(code, body, err)
	}) {
		t.FailNow()
	}
	return found
}

func storyPerformerJoins(t *testing.T, c *compatStage) string {
	// ada stays for the stories after this one: she joins for the version's test.
	ada := c.env.Join(c.stage.t, c.token(t, "performer", "friday-jam", "ada"), nil)
	_, err := testenv.PublishTone(c.stage.t, ada, testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	c.participant(t, "friday-jam", "ada", "ada's track never appeared", func(p rooms.Participant) bool { return len(p.Tracks) == 1 })
	return works
}

func storyLiveEvents(t *testing.T, c *compatStage) string {
	require.Eventually(t, func() bool {
		return c.stream.has(events.RoomOpened, "friday-jam", "") && c.stream.has(events.ParticipantJoined, "friday-jam", "ada") &&
			c.stream.has(events.TrackPublished, "friday-jam", "ada")
	}, wait, tick, "the room, ada and her track never reached /api/events: %v", storyOf(c.stream.all()))
	return works
}

func storyParticipants(t *testing.T, c *compatStage) string {
	act := func(action, who string) participantActionResult {
		t.Helper()
		code, body := c.call(t, "POST", "/api/rooms/friday-jam/participants", map[string]any{"action": action, "identity": who})
		require.Equal(t, http.StatusOK, code, "%s %s: %s", action, who, body)
		return decodeAs[participantActionResult](t, body)
	}
	muted := act("mute", "ada")
	require.Len(t, muted.Tracks, 1)
	assert.True(t, muted.Tracks[0].Muted, "ada's track muted")
	assert.False(t, act("unmute", "ada").Tracks[0].Muted, "ada's track unmuted")

	bob := testenv.NewListener()
	c.env.Join(t, c.token(t, "listener", "friday-jam", "bob"), bob.Callback())
	c.participant(t, "friday-jam", "bob", "bob never joined", func(rooms.Participant) bool { return true })
	promoted := act("promote", "bob")
	require.NotNil(t, promoted.Participant)
	assert.True(t, promoted.Participant.OnStage(), "bob on stage")
	act("remove", "bob")
	require.Eventually(t, bob.Disconnected, wait, tick, "bob was never disconnected")
	return works
}

// storyListener: the room's metadata changes, and a listener's token (Go SDK)
// hears ada and receives a data message sent to it alone.
func storyListener(t *testing.T, c *compatStage) string {
	r, err := c.sm.Rooms.SetMetadata(t.Context(), "friday-jam", `{"setlist":["intro"]}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"setlist":["intro"]}`, r.Metadata)
	dee := testenv.NewListener()
	got := make(chan string, 4)
	cb := dee.Callback()
	cb.OnDataPacket = func(p lksdk.DataPacket, _ lksdk.DataReceiveParams) {
		if u, ok := p.(*lksdk.UserDataPacket); ok {
			select {
			case got <- u.Topic + ":" + string(u.Payload):
			default:
			}
		}
	}
	c.env.Join(t, c.token(t, "listener", "friday-jam", "dee"), cb)
	require.Eventually(t, func() bool { return dee.Packets() >= 25 }, wait, tick, "dee heard no music")
	require.NoError(t, c.sm.Rooms.Send(t.Context(), "friday-jam", []byte("intro"), rooms.SendOptions{Topic: "setlist", To: []string{"dee"}}))
	select {
	case m := <-got:
		assert.Equal(t, "setlist:intro", m)
	case <-time.After(wait):
		t.Fatal("dee never got the data message")
	}
	return works
}

// storyMetrics scrapes livekit-server's Prometheus endpoint, after everything
// above happened on the node, for every livekit-server series that deploy/'s
// alerts and Grafana board read. A missing one is no library call (no typed
// error can say it): the cell names it, and the alert or panel that goes blind.
func storyMetrics(t *testing.T, c *compatStage) string {
	wanted := map[string]bool{}
	for _, f := range []string{"../../deploy/alerts.yml", "../../deploy/grafana/livekit-streaming.json"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`livekit_[a-z_]+`).FindAllString(string(b), -1) {
			m = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
			// Egress's and Ingress's own series, and the dashboard's livekit_up.
			if !strings.HasPrefix(m, "livekit_egress_") && !strings.HasPrefix(m, "livekit_ingress_") && m != "livekit_node_cpu_load" && m != "livekit_up" {
				wanted[m] = true
			}
		}
	}
	require.NotEmpty(t, wanted)
	resp, err := http.Get(c.env.MetricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var missing []string
	for m := range wanted {
		if !strings.Contains(string(body), "\n# TYPE "+m+" ") {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return works
	}
	slices.Sort(missing)
	return "no " + strings.Join(missing, ", ") + ": the alerts and panels of deploy/ that read it stay empty"
}

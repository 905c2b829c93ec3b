package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// lostNodeResync is the dashboard's resync period in the lost-node story: a
// dead node's show must be marked lost within one.
const lostNodeResync = 8 * time.Second

// Two shows on two LiveKit nodes sharing Redis, recorded by the dashboard, are
// rehearsed at once, two listeners each, each on the node hosting its show.
// Mid-rehearsal one node is killed (the one the dashboard does not talk to):
// the other show's listeners lose nothing past the limit, the node view says
// the node is dead, the dead node's show is marked lost within one resync,
// and the part of its recording already uploaded is still in the bucket, byte
// for byte.
func TestALostNodeLosesOnlyItsShow(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	cluster := testenv.Cluster(t, 2, hook.option())
	m := testenv.MinIO(t)
	testenv.HoldMediaSlot(t)
	d := &showDashboard{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), out: &testenv.Buffer{}}
	vars := map[string]string{"LIVEKIT_URL": cluster[0].URL, "LIVEKIT_API_KEY": cluster[0].APIKey, "LIVEKIT_API_SECRET": cluster[0].APISecret,
		"MINIO_ENDPOINT": m.Endpoint, "MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": m.AccessKey, "MINIO_SECRET_KEY": m.SecretKey,
		"REDIS_URL": "redis://" + cluster[0].RedisAddr, "DASHBOARD_ADDR": d.addr, "DASHBOARD_ADMIN_GROUP": adminGroup,
		"DASHBOARD_API_KEYS": testOperatorKey + ":operator," + testViewerKey + ":viewer", "DASHBOARD_LIVEKIT_TIMEOUT": "5s",
		"DASHBOARD_RESYNC": lostNodeResync.String(), "DASHBOARD_SPOOL_DIR": t.TempDir()}
	d.getenv = func(k string) string { return vars[k] }
	target, err := url.Parse("http://" + d.addr)
	require.NoError(t, err)
	hook.serve(httputil.NewSingleHostReverseProxy(target))
	d.start(t)

	// Two shows, two cluster: LiveKit places the second where fewer rooms are.
	onNode := map[string]*testenv.Env{}
	for _, name := range []string{"north", "south"} {
		code, body := d.call(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": name,
			"performers": []map[string]any{{"identity": name + "-mix"}}, "record": []string{"audio"}})
		require.Equal(t, 201, code, "%s", body)
		id := cluster[0].RoomNode(t, name)
		idx := slices.IndexFunc(cluster, func(n *testenv.Env) bool { return n.NodeID(t) == id })
		require.GreaterOrEqual(t, idx, 0, "show %s is on a node of the cluster (%s)", name, id)
		onNode[name] = cluster[idx]
		cluster[0].WaitNodeRooms(t, id, 1)
		tok := decodeAs[showroutes.Opened](t, body).Performers[0].Token
		require.NotEmpty(t, tok)
		leave := publishOn(t, cluster[idx], tok)
		if cluster[idx] == cluster[1] { // the show to lose: one whole part uploaded first
			waitParts(t, d, name, 1)
			leave() // the part ends with the performer's track
			// Straight back: often subscribed before LiveKit ends the old track,
			// which the recorder holds for the next part (capture/parts.go).
			publishOn(t, cluster[1], tok)
		}
	}
	require.NotSame(t, onNode["north"], onNode["south"], "one show on each node")
	kept, lost := "north", "south"
	if onNode["north"] == cluster[1] {
		kept, lost = lost, kept
	}
	dead := cluster[1].NodeID(t)
	views := waitNodes(t, d, func(v []nodes.View) bool {
		return len(v) == 2 && v[0].Alive && v[1].Alive && len(v[0].Shows)+len(v[1].Shows) == 2
	})
	for _, v := range views {
		want := kept
		if v.ID == dead {
			want = lost
		}
		require.Equal(t, []string{want}, v.Shows, "node %s", v.ID)
	}
	uploaded := waitParts(t, d, lost, 2)[0].Files // the first part ended when its track did
	require.NotEmpty(t, uploaded)
	before := download(t, d, uploaded[0].Key)

	// The rehearsal spans both cluster; the lost show's node dies mid-window.
	var killed time.Time
	results := rehearseBoth(t, onNode, []string{kept, lost}, func() { killed = time.Now(); cluster[1].Stop() })
	require.False(t, killed.IsZero(), "both windows opened and the node was killed")
	keptRes := results[kept]
	require.NoError(t, keptRes.err)
	require.Len(t, keptRes.res.Steps, 1, "%+v", keptRes.res)
	s := keptRes.res.Steps[0]
	t.Logf("the kept show's 2 listeners across the kill: %d/%d packets, loss %.2f %%, jitter p95 %s", s.Received, s.Expected, s.LossPercent, s.JitterP95)
	require.True(t, s.Passed, "the kept show's listeners stay within the limits: %+v", s)
	// The dead node's listeners hear nothing after the kill: too few packets
	// for their window (the rehearsal counts loss within what arrived).
	if r := results[lost]; r.err == nil && len(r.res.Steps) == 1 {
		l := r.res.Steps[0]
		t.Logf("the lost show's 2 listeners: %d packets over %s", l.Received, l.Window.Round(time.Millisecond))
		require.Less(t, l.MinReceived, int64(l.Window/rehearsal.Frame)*9/10, "its listeners heard the node die")
	}

	var show showroutes.View
	require.True(t, poll(t, lostNodeResync-time.Since(killed), "the dead node's show was not marked lost within one resync", func() (bool, string) {
		code, body := d.call(t, testViewerKey, "GET", "/api/shows", nil)
		var list []showroutes.View
		_ = json.Unmarshal(body, &list)
		i := slices.IndexFunc(list, func(v showroutes.View) bool { return v.Name == lost })
		if code != 200 || i < 0 {
			return false, string(body)
		}
		show = list[i]
		return show.Lost, string(body)
	}))
	// Marked within one resync of the kill (LiveKit's own rule: no stats for 5 s).
	t.Logf("marked lost %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	require.Equal(t, dead, show.Node)
	require.NotEmpty(t, show.Problems)
	code, body := d.call(t, testViewerKey, "GET", "/api/shows/"+kept, nil)
	require.Equal(t, 200, code, "%s", body)
	require.False(t, decodeAs[showroutes.View](t, body).Lost, "the other show is not lost")
	views = waitNodes(t, d, func(v []nodes.View) bool { return len(v) >= 1 })
	for _, v := range views {
		require.Equal(t, v.ID != dead, v.Alive, "node %s", v.ID)
	}
	require.Equal(t, before, download(t, d, uploaded[0].Key), "the lost show's uploaded part is kept, byte for byte")
}

// publishOn joins node as a show's performer playing a tone; leave
// disconnects them.
func publishOn(t *testing.T, node *testenv.Env, token string) (leave func()) {
	t.Helper()
	room := node.Join(t, token, nil)
	_, err := testenv.PublishTone(t, room, testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	return room.Disconnect
}

// waitParts waits until the show lists n parts and all but the last have
// their files uploaded.
func waitParts(t *testing.T, d *showDashboard, show string, n int) []showroutes.ShowPart {
	t.Helper()
	var parts []showroutes.ShowPart
	// Generous: a bound, not a figure (CI's load slows joins and uploads).
	require.True(t, poll(t, 60*time.Second, fmt.Sprintf("%s never had %d parts", show, n), func() (bool, string) {
		code, body := d.call(t, testViewerKey, "GET", "/api/shows/"+show, nil)
		var v showroutes.View
		_ = json.Unmarshal(body, &v)
		parts = v.Parts
		if code != 200 || len(parts) < n {
			return false, string(body)
		}
		for _, p := range parts[:n-1] {
			if len(p.Files) == 0 || p.Files[0].Size == 0 {
				return false, string(body)
			}
		}
		return true, ""
	}))
	return parts
}

func waitNodes(t *testing.T, d *showDashboard, ok func([]nodes.View) bool) []nodes.View {
	t.Helper()
	var views []nodes.View
	require.True(t, poll(t, 10*time.Second, "the node view never settled", func() (bool, string) {
		code, body := d.call(t, testOperatorKey, "GET", "/api/nodes", nil)
		views = nil
		_ = json.Unmarshal(body, &views)
		return code == 200 && ok(views), string(body)
	}))
	return views
}

func download(t *testing.T, d *showDashboard, key string) []byte {
	t.Helper()
	code, body := d.call(t, testViewerKey, "GET", "/api/recordings/"+key, nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NotEmpty(t, body)
	return body
}

type rehearsed struct {
	res rehearsal.Result
	err error
}

// rehearseBoth rehearses two listeners of each show, each on the node hosting
// it, and calls kill once both measuring windows are open.
func rehearseBoth(t *testing.T, onNode map[string]*testenv.Env, names []string, kill func()) map[string]rehearsed {
	t.Helper()
	out := map[string]rehearsed{}
	measuring := make(chan struct{}, 2)
	done := make(chan struct{})
	results := make(chan struct {
		name string
		r    rehearsed
	}, 2)
	for _, name := range names {
		env := onNode[name]
		iss, err := tokens.NewIssuer(env.APIKey, env.APISecret)
		require.NoError(t, err)
		go func() {
			res, err := rehearsal.Run(context.Background(), rehearsal.Config{URL: env.WSURL, Tokens: iss}, rehearsal.Options{
				Room: name, Steps: []int{2}, Hold: 6 * time.Second, Deadline: 40 * time.Second,
				Measuring: func(int) { measuring <- struct{}{} }})
			results <- struct {
				name string
				r    rehearsed
			}{name, rehearsed{res, err}}
		}()
	}
	go func() {
		defer close(done)
		for range 2 {
			select {
			case <-measuring:
			case <-time.After(30 * time.Second):
				return
			}
		}
		time.Sleep(time.Second) // into both windows
		kill()
	}()
	for range 2 {
		r := <-results
		out[r.name] = r.r
	}
	<-done
	return out
}

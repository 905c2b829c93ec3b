package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// dnsTable is a resolver for tests: they never resolve real names.
type dnsTable map[string][]string

func (d dnsTable) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	list, ok := d[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range list {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// fakeDNS answers the platform hosts with public addresses (documentation or
// the platforms' own ranges), and a few names with what an attacker would like.
var fakeDNS = dnsTable{
	"a.rtmp.youtube.com":               {"142.250.1.1"},
	"b.rtmp.youtube.com":               {"2a00:1450:4001::1"},
	"fra05.contribute.live-video.net":  {"52.223.1.1"},
	"live.twitch.tv":                   {"52.223.1.2"},
	"live-api-s.facebook.com":          {"157.240.1.1", "2a03:2880::1"},
	"rebind.contribute.live-video.net": {"52.223.1.3", "10.0.0.5"}, // public and private: refused
	"meta.contribute.live-video.net":   {"169.254.169.254"},
	"meta6.contribute.live-video.net":  {"fd00:ec2::254"},
	"loop.contribute.live-video.net":   {"127.0.0.1"},
	"loop6.contribute.live-video.net":  {"::1"},
	"mapped.contribute.live-video.net": {"::ffff:127.0.0.1"},
	"cgnat.contribute.live-video.net":  {"100.64.0.1"},
	"nat64.contribute.live-video.net":  {"64:ff9b::7f00:1"},
	"zero.contribute.live-video.net":   {"0.0.0.0"},
	"none.contribute.live-video.net":   {},
	"media.studio.example":             {"10.1.2.3"},
	"cdn.example":                      {"127.0.0.1"},
}

func mustHostList(t testing.TB, v string) config.HostList {
	t.Helper()
	h, err := config.ParseHostList(v)
	require.NoError(t, err)
	return h
}

const (
	platformKey = "sk_live_Zq8XfB2"
	password    = "hunter2pw"
)

// Restream destinations against the default list (the platforms' ingests), and
// URL pulls against operator lists: what passes, what is refused with which
// code, whatever tricks the URL plays; no answer shows a stream key or password.
func TestOutboundAllowLists(t *testing.T) {
	defaults, err := config.Load(nil, withAdminGroup, io.Discard)
	require.NoError(t, err)
	rtmp := (&server{Deps: Deps{Settings: defaults}}).restreamCheck()
	k := "/app/" + platformKey
	for _, c := range []struct{ url, code string }{
		{"rtmp://a.rtmp.youtube.com/live2/" + platformKey, ""},
		{"rtmp://b.rtmp.youtube.com/live2/" + platformKey, ""},
		{"RTMPS://A.RTMP.YOUTUBE.COM:443/live2/" + platformKey, ""},
		{"rtmp://a.rtmp.youtube.com./live2/" + platformKey, ""},
		{"rtmp://fra05.contribute.live-video.net" + k, ""},
		{"rtmp://live.twitch.tv" + k, ""},
		{"rtmps://live-api-s.facebook.com:443/rtmp/" + platformKey, ""},

		{"rtmp://evil.example" + k, "destination_not_allowed"},
		{"rtmp://a.rtmp.youtube.com.evil.example" + k, "destination_not_allowed"},
		{"rtmp://contribute.live-video.net" + k, "destination_not_allowed"}, // *.domain is not the domain
		{"rtmp://youtube.com" + k, "destination_not_allowed"},
		{"rtmp://127.0.0.1" + k, "destination_not_allowed"},
		{"rtmp://127.0.0.1." + k, "destination_not_allowed"},
		{"rtmp://localhost" + k, "destination_not_allowed"},
		{"rtmp://a.rtmp.youtube.com@127.0.0.1" + k, "destination_not_allowed"},
		{"rtmp://u:" + password + "@a.rtmp.youtube.com" + k, "destination_not_allowed"},
		{"rtmp://2130706433" + k, "destination_not_allowed"},
		{"rtmp://0x7f.1" + k, "destination_not_allowed"},
		{"rtmp://0x7f000001" + k, "destination_not_allowed"},
		{"rtmp://0177.0.0.1" + k, "destination_not_allowed"},
		{"rtmp://127.1" + k, "destination_not_allowed"},
		{"rtmp://[::1]" + k, "destination_not_allowed"},
		{"rtmp://[::ffff:127.0.0.1]" + k, "destination_not_allowed"},
		{"rtmp://[fe80::1%25eth0]" + k, "destination_not_allowed"},
		{"rtmp://169.254.169.254" + k, "destination_not_allowed"},
		{"rtmp://a.rtmp.youtube.com:99999" + k, "destination_not_allowed"},
		{"rtmp://rebind.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://meta.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://meta6.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://loop.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://loop6.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://mapped.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://cgnat.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://nat64.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://zero.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://none.contribute.live-video.net" + k, "destination_not_allowed"},
		{"rtmp://nx.contribute.live-video.net" + k, "destination_not_allowed"},

		{"http://a.rtmp.youtube.com/live2/" + platformKey, "invalid_argument"},
		{"rtmp:a.rtmp.youtube.com/live2/" + platformKey, "invalid_argument"},
		{"rtmp:///live2/" + platformKey, "invalid_argument"},
		{"javascript:alert(1)", "invalid_argument"},
		{"rtmp://a.rtmp.youtube.com\\@127.0.0.1" + k, "invalid_argument"},
		{"rtmp://%31%32%37.0.0.1" + k, "invalid_argument"},
		{" rtmp://a.rtmp.youtube.com" + k, "invalid_argument"},
	} {
		err := rtmp.check(t.Context(), fakeDNS, c.url)
		if c.code == "" {
			assert.NoError(t, err, c.url)
			continue
		}
		require.Error(t, err, c.url)
		status, code, msg := api.ErrorAnswer(err)
		assert.Equal(t, 400, status, c.url)
		assert.Equal(t, c.code, code, "%s: %s", c.url, msg)
		assert.NotContains(t, msg, platformKey, c.url)
		assert.NotContains(t, msg, password, c.url)
	}

	// Pulls are off until hosts are listed, and the refusal says where.
	pull := (&server{Deps: Deps{Settings: defaults}}).pullCheck()
	err = pull.check(t.Context(), fakeDNS, "https://media.studio.example/set.ogg")
	_, code, msg := api.ErrorAnswer(err)
	assert.Equal(t, "pull_not_allowed", code)
	assert.Contains(t, msg, "DASHBOARD_PULL_ALLOW")

	// A private address needs an IP entry of its own: the name alone is not enough.
	for _, c := range []struct {
		list, url string
		ok        bool
	}{
		{"media.studio.example", "https://media.studio.example/set.ogg", false},
		{"media.studio.example,10.1.2.0/24", "https://media.studio.example/set.ogg", true},
		{"media.studio.example,10.1.2.4", "https://media.studio.example/set.ogg", false},
		{"10.1.2.0/24", "https://media.studio.example/set.ogg", false}, // the host is not listed
		{"10.1.2.0/24", "http://10.1.2.200:8000/set.ogg", true},
		{"10.1.2.0/24", "http://[::ffff:10.1.2.200]:8000/set.ogg", true},
		{"::ffff:10.1.2.0/120", "http://10.1.2.200/set.ogg", true},
		{"127.0.0.1", "http://127.0.0.1:8000/set.ogg", true},
		{"127.0.0.1", "http://127.0.0.2:8000/set.ogg", false},
		{"127.0.0.1", "http://[::1]:8000/set.ogg", false},
		{"127.0.0.1", "http://localhost:8000/set.ogg", false},
		{"cdn.example", "http://cdn.example/set.ogg", false}, // resolves to loopback
		{"*.example", "http://cdn.example/set.ogg", false},
		{"127.0.0.1", "rtmp://127.0.0.1/set.ogg", false},
		{"127.0.0.1", "file:///etc/passwd", false},
	} {
		o := outbound{"URL pull", "pull_not_allowed", "DASHBOARD_PULL_ALLOW", []string{"http", "https"}, mustHostList(t, c.list)}
		err := o.check(t.Context(), fakeDNS, c.url)
		assert.Equal(t, c.ok, err == nil, "%s with %s: %v", c.url, c.list, err)
	}
}

// Lists that are not lists of hosts stop start-up, naming the setting.
func TestAllowListSettings(t *testing.T) {
	for _, v := range []string{"exa mple.com", "*.", "*", "http://a.example", "a.example/x", "a_b.example", "-a.example", "2130706433",
		"0x7f.1", "::ffff:0:0/90", "10.0.0.0/33", "fe80::1%eth0"} {
		_, err := config.Load(nil, func(k string) string {
			return map[string]string{"DASHBOARD_RESTREAM_ALLOW": v}[k]
		}, io.Discard)
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "DASHBOARD_RESTREAM_ALLOW", v)
	}
	s, err := config.Load([]string{"-pull-allow", "Media.Studio.Example., *.cdn.example, 10.0.0.0/8, 2001:db8::1", "-restream-allow", "none"},
		withAdminGroup, io.Discard)
	require.NoError(t, err)
	assert.True(t, s.PullAllow.AllowsName("media.studio.example"))
	assert.True(t, s.PullAllow.AllowsName("eu.cdn.example"))
	assert.False(t, s.PullAllow.AllowsName("cdn.example"))
	assert.True(t, s.PullAllow.AllowsAddr(netip.MustParseAddr("10.9.9.9")))
	assert.True(t, s.PullAllow.AllowsAddr(netip.MustParseAddr("2001:db8::1")))
	assert.True(t, s.RestreamAllow.Empty(), "none turns restreams off")
}

// FuzzOutboundCheck: any URL against any list never panics, and whatever is
// allowed has no credentials, a listed host, and only addresses that are public
// or explicitly listed; no refusal echoes the URL's password or last path element.
//
//	go test -run '^$' -fuzz FuzzOutboundCheck -fuzztime 20s ./examples/dashboard/
func FuzzOutboundCheck(f *testing.F) {
	for _, s := range [][2]string{
		{"rtmp://a.rtmp.youtube.com/live2/" + platformKey, config.DefaultRestreamAllow},
		{"rtmp://a.rtmp.youtube.com@127.0.0.1/x/" + platformKey, config.DefaultRestreamAllow},
		{"rtmp://0x7f.1/x/k", "*.1"},
		{"rtmp://[::ffff:127.0.0.1]/x/k", "::/0"},
		{"rtmp://rebind.contribute.live-video.net/x/k", "*.live-video.net,52.0.0.0/8"},
		{"http://cdn.example/set.ogg", "cdn.example,127.0.0.1"},
		{"http://u:" + password + "@10.1.2.3/x", "10.0.0.0/8"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, list string) {
		h, err := config.ParseHostList(list)
		if err != nil {
			return
		}
		o := outbound{"restream destination", "destination_not_allowed", "DASHBOARD_RESTREAM_ALLOW", []string{"rtmp", "rtmps", "http"}, h}
		err = o.check(context.Background(), fakeDNS, raw)
		u, perr := url.Parse(raw)
		if err != nil {
			status, code, msg := api.ErrorAnswer(err)
			assert.Equal(t, 400, status)
			assert.Contains(t, []string{"invalid_argument", "destination_not_allowed"}, code)
			if perr == nil {
				if pw, ok := u.User.Password(); ok && len(pw) > 3 {
					assert.NotContains(t, msg, pw)
				}
				if last := u.Path[strings.LastIndex(u.Path, "/")+1:]; len(last) > 8 && !strings.Contains(u.Host, last) && !strings.Contains(u.Scheme, last) {
					assert.NotContains(t, msg, last, "the stream key in a refusal")
				}
			}
			return
		}
		require.NoError(t, perr)
		assert.Nil(t, u.User, "credentials passed")
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if a, err := netip.ParseAddr(host); err == nil {
			assert.True(t, h.AllowsAddr(a.Unmap()), "%s is not listed in %q", a, list)
			return
		}
		require.True(t, h.AllowsName(host), "%s is not listed in %q", host, list)
		addrs, err := fakeDNS.LookupNetIP(context.Background(), "ip", host)
		require.NoError(t, err)
		for _, a := range addrs {
			assert.True(t, !config.IsSpecial(a.Unmap()) || h.AllowsAddr(a.Unmap()), "%s resolves to %s", host, a)
		}
	})
}

// On the real stack: a URL pull from, and a restream to, loopback services (a
// media server and a platform's RTMP ingest) are refused under the default
// lists, and under lists that name a host resolving to loopback, before
// anything reaches LiveKit: it lists no ingress and no egress afterwards. With
// 127.0.0.1 listed the same pull is created, and a live restream takes at most
// ten destinations, counting those it already has.
func TestRefusedOutboundNeverReachesLiveKit(t *testing.T) {
	testenv.RequireNetNS(t)
	m := testenv.MinIO(t) // before the media slot, which Ingress takes
	env, _ := testenv.Ingress(t)
	testenv.Egress(t, env)
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	slow := func(s *config.Settings) { s.LiveKitTimeout = 10 * time.Second }
	strict := newStageWith(t, env, storage, slow)
	named := newStageWith(t, env, storage, func(s *config.Settings) {
		slow(s)
		s.PullAllow = mustHostList(t, "cdn.example")                                // cdn.example → 127.0.0.1
		s.RestreamAllow = mustHostList(t, "*.contribute.live-video.net,52.0.0.0/8") // loop.… → 127.0.0.1
	})
	open := newStageWith(t, env, storage, func(s *config.Settings) {
		slow(s)
		s.PullAllow, s.RestreamAllow = mustHostList(t, "127.0.0.1"), mustHostList(t, "127.0.0.1")
	})
	ctx := t.Context()
	require.NoError(t, open.sm.Recordings.EnsureBucket(ctx))

	tok, err := open.sm.Tokens.Performer("live", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := open.sm.Rooms.Participant(ctx, "live", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "ada's track never appeared")
	media := testenv.MediaFile(t, "set.ogg", 20*time.Second)
	platform := testenv.ReceiveRTMP(t, "platform")
	for _, st := range []*stage{strict, named, open} {
		st.keepOutOfLogs(platform.Key, m.AccessKey)
	}
	port := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(platform.URL, "rtmp://"), "/", 2)[0], "127.0.0.1:")
	mediaPort := strings.SplitN(strings.TrimPrefix(media, "http://127.0.0.1:"), "/", 2)[0]

	pull := func(u string) map[string]any {
		return map[string]any{"kind": "url", "room": "live", "identity": "dj", "url": u}
	}
	restream := func(urls ...string) map[string]any {
		return map[string]any{"kind": "restream", "room": "live", "identity": "ada", "urls": urls}
	}
	for _, c := range []struct {
		s            *stage
		path         string
		body         any
		code, reason string
	}{
		{strict, "/api/ingress", pull(media), "pull_not_allowed", "DASHBOARD_PULL_ALLOW"},
		{named, "/api/ingress", pull(media), "pull_not_allowed", "not in DASHBOARD_PULL_ALLOW"},
		{named, "/api/ingress", pull("http://cdn.example:" + mediaPort + "/set.ogg"), "pull_not_allowed", "internal address"},
		{named, "/api/ingress", pull("http://cdn.example@127.0.0.1:" + mediaPort + "/set.ogg"), "pull_not_allowed", "credentials"},
		{strict, "/api/egress", restream(platform.URL), "destination_not_allowed", "DASHBOARD_RESTREAM_ALLOW"},
		{strict, "/api/egress", restream("rtmp://2130706433:" + port + "/live/" + platform.Key), "destination_not_allowed", "standard notation"},
		{strict, "/api/egress", restream("rtmp://[::ffff:127.0.0.1]:" + port + "/live/" + platform.Key), "destination_not_allowed", "not in"},
		{strict, "/api/egress", restream("rtmp://a.rtmp.youtube.com@127.0.0.1:" + port + "/live/" + platform.Key), "destination_not_allowed", "credentials"},
		{named, "/api/egress", restream("rtmp://loop.contribute.live-video.net:" + port + "/live/" + platform.Key), "destination_not_allowed", "internal address"},
		{named, "/api/egress", restream("rtmp://rebind.contribute.live-video.net:" + port + "/live/" + platform.Key), "destination_not_allowed", "internal address"},
		{strict, "/api/egress/EG_anything/destinations", map[string]any{"add": []string{platform.URL}}, "destination_not_allowed", "DASHBOARD_RESTREAM_ALLOW"},
		{open, "/api/egress", restream(tenOf(platform.URL, 11)...), "too_many_destinations", "at most 10"},
	} {
		code, body := c.s.call(t, "POST", c.path, c.body)
		assert.Equal(t, 400, code, "%v: %s", c.body, body)
		assert.Equal(t, c.code, errorCode(t, body), "%v", c.body)
		assert.Contains(t, string(body), c.reason, "%v", c.body)
		assert.NotContains(t, string(body), platform.Key, "a stream key in a refusal")
	}
	ings, err := open.sm.Ingress.List(ctx, ingress.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, ings, "a refused pull reached LiveKit")
	egs, err := open.sm.Egress.List(ctx, egress.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, egs, "a refused restream reached LiveKit")

	// Listed, the same pull reaches LiveKit.
	code, body := open.pullURL(t, pull(media))
	require.Equal(t, 201, code, "%s", body)
	ings, err = open.sm.Ingress.List(ctx, ingress.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, ings, 1)

	// A live restream with one destination takes nine more, not ten.
	code, body = open.call(t, "POST", "/api/egress", restream(platform.URL))
	require.Equal(t, 201, code, "%s", body)
	id := decodeAs[[]egress.Egress](t, body)[0].ID
	platform.WaitAudio(t, time.Second, time.Minute) // live: LiveKit lists the destination
	code, body = open.call(t, "POST", "/api/egress/"+id+"/destinations", map[string]any{"add": tenOf("rtmp://127.0.0.1:1/live/other", 10)})
	assert.Equal(t, 400, code, "%s", body)
	assert.Equal(t, "too_many_destinations", errorCode(t, body))
	assert.Contains(t, string(body), "it has 1")
	code, body = open.call(t, "DELETE", "/api/egress?id="+id, nil)
	assert.Equal(t, 200, code, "%s", body)
}

// tenOf is n distinct URLs made from u.
func tenOf(u string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", u, i)
	}
	return out
}

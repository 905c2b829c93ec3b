package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/internal/testenv"
)

const testAdminKey = "admin-key-0123456789abcd"

// doctorSays runs `dashboard doctor -json` with vars and answers each check's
// status by name, the whole report, and the command's error.
func doctorSays(t *testing.T, vars map[string]string) (map[string]string, doctor.Report, error) {
	t.Helper()
	out := &strings.Builder{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"dashboard", "doctor", "-json"}, func(k string) string { return vars[k] }, out)
	var rep doctor.Report
	require.NoError(t, json.Unmarshal([]byte(out.String()), &rep), "%s (%v)", out, err)
	got := map[string]string{}
	for _, c := range rep.Checks {
		got[c.Name] = c.Status
	}
	return got, rep, err
}

// An operator asks the doctor about her deployment. On the whole stack every
// check passes (LIVEKIT_WS_URL on loopback is a warning: nobody elsewhere can
// join). Then one thing at a time breaks, as it does on a real night, and the
// doctor names that one: a wrong API secret, a bucket that is not there,
// webhooks sent elsewhere, TURN not configured, Ingress and Egress stopped,
// TURN not answering.
func TestTheDoctorNamesWhatIsBroken(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env, ing := testenv.Ingress(t, hook.option(), testenv.WithTURN())
	m := testenv.MinIO(t)
	eg := testenv.Egress(t, env)
	d := &showDashboard{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), out: &testenv.Buffer{}}
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"MINIO_ENDPOINT": m.Endpoint, "MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": m.AccessKey, "MINIO_SECRET_KEY": m.SecretKey,
		"REDIS_URL": "redis://" + env.RedisAddr, "DASHBOARD_ADDR": d.addr, "DASHBOARD_ADMIN_GROUP": adminGroup,
		"DASHBOARD_API_KEYS":           testAdminKey + ":admin," + testOperatorKey + ":operator",
		"DASHBOARD_INGRESS_HEALTH_URL": ing.HealthURL, "DASHBOARD_EGRESS_HEALTH_URL": eg.HealthURL,
		"DASHBOARD_TURN": "turn:" + env.TURN.UDPAddr() + "?transport=udp,turns:" + env.TURN.TLSAddr() + "?transport=tcp"}
	d.getenv = func(k string) string { return vars[k] }
	target, err := url.Parse("http://" + d.addr)
	require.NoError(t, err)
	toDashboard := http.HandlerFunc(httputil.NewSingleHostReverseProxy(target).ServeHTTP)
	hook.serve(toDashboard)
	d.start(t) // creates the bucket

	got, rep, err := doctorSays(t, vars)
	require.NoError(t, err, "%+v", rep)
	assert.Equal(t, map[string]string{"livekit": "ok", "clock": "ok", "ws_url": "warn", "webhooks": "ok", "turn": "ok",
		"ingress": "ok", "egress": "ok", "bucket": "ok", "download": "ok"}, got, "%+v", rep)
	assert.Equal(t, "warn", rep.Status)
	assert.NotContains(t, fmt.Sprint(rep), env.APISecret)
	assert.NotContains(t, fmt.Sprint(rep), m.SecretKey)

	// The same doctor answers admins on the API, and nobody else.
	code, body := d.call(t, testAdminKey, "GET", "/api/doctor", nil)
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), `"name":"webhooks","status":"ok"`)
	code, body = d.call(t, testOperatorKey, "GET", "/api/doctor", nil)
	assert.Equal(t, 403, code, "%s", body)

	broken := func(k, v string) map[string]string {
		b := maps.Clone(vars)
		b[k] = v
		return b
	}
	got, rep, err = doctorSays(t, broken("LIVEKIT_API_SECRET", "not-the-secret-of-this-livekit-server-at-all"))
	assert.Error(t, err)
	assert.Equal(t, "fail", got["livekit"], "a wrong key: %+v", rep)
	assert.Contains(t, rep.Checks[0].Fix, "LIVEKIT_API_SECRET")

	got, rep, err = doctorSays(t, broken("MINIO_BUCKET", "no-such-bucket"))
	assert.Error(t, err)
	assert.Equal(t, "fail", got["bucket"], "a missing bucket: %+v", rep)
	assert.Equal(t, "ok", got["livekit"])

	hook.serve(http.HandlerFunc(http.NotFound)) // LiveKit's webhooks go somewhere else
	got, rep, err = doctorSays(t, vars)
	assert.Error(t, err)
	assert.Equal(t, "fail", got["webhooks"], "webhooks elsewhere: %+v", rep)
	// LiveKit signs with another key than ours (here: the signature garbled on
	// the way): the webhooks arrive and are refused, and the doctor says so.
	hook.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "not-a-signature-of-ours")
		toDashboard(w, r)
	}))
	got, rep, err = doctorSays(t, vars)
	assert.Error(t, err)
	require.Equal(t, "fail", got["webhooks"], "webhooks signed with another key: %+v", rep)
	assert.Contains(t, rep.Checks[3].Detail, "signed with another key", "%+v", rep.Checks[3])
	hook.serve(toDashboard)

	got, rep, _ = doctorSays(t, broken("DASHBOARD_TURN", ""))
	assert.Equal(t, "warn", got["turn"], "no TURN configured: %+v", rep)

	// Listeners handed an address where nothing answers; download links
	// signed for a public endpoint where nothing answers.
	nowhere := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	got, rep, err = doctorSays(t, broken("LIVEKIT_WS_URL", "ws://"+nowhere))
	assert.Error(t, err)
	assert.Equal(t, "fail", got["ws_url"], "LIVEKIT_WS_URL answering nothing: %+v", rep)
	got, rep, err = doctorSays(t, broken("MINIO_PUBLIC_ENDPOINT", "http://"+nowhere))
	assert.Error(t, err)
	assert.Equal(t, "ok", got["bucket"], "%+v", rep)
	assert.Equal(t, "fail", got["download"], "a public endpoint answering nothing: %+v", rep)

	ing.Process.Stop()
	got, rep, err = doctorSays(t, vars)
	assert.Error(t, err)
	assert.Equal(t, "fail", got["ingress"], "Ingress stopped: %+v", rep)
	assert.Equal(t, "ok", got["egress"])
	assert.Equal(t, "ok", got["webhooks"])

	eg.Process.Stop()
	got, rep, err = doctorSays(t, vars)
	assert.Error(t, err)
	assert.Equal(t, "fail", got["egress"], "Egress stopped: %+v", rep)

	// Last, as its check waits out its timeout:
	// TURN off, as the network sees it: nothing answers on its ports.
	testenv.Firewall(t, "-A", "INPUT", "-p", "udp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.TURN.UDPPort), "-j", "DROP")
	testenv.Firewall(t, "-A", "INPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.TURN.TLSPort), "-j", "REJECT")
	got, rep, err = doctorSays(t, vars)
	assert.Error(t, err)
	assert.Equal(t, "fail", got["turn"], "TURN off: %+v", rep)
	assert.Equal(t, "ok", got["livekit"])
}

// LiveKit's host runs 90 s ahead (a front that shifts the Date of LiveKit's
// answers stands in for its clock): tokens we mint would not be valid there
// yet, and the doctor says so.
func TestTheDoctorNamesASkewedClock(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t)
	target, err := url.Parse(env.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		resp.Header.Set("Date", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
		return nil
	}
	ahead := httptest.NewServer(proxy)
	t.Cleanup(ahead.Close)
	vars := map[string]string{"LIVEKIT_URL": ahead.URL, "LIVEKIT_WS_URL": env.WSURL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"DASHBOARD_API_KEYS": testAdminKey + ":admin", "DASHBOARD_ADMIN_GROUP": adminGroup}
	got, rep, err := doctorSays(t, vars)
	assert.Error(t, err)
	assert.Equal(t, "ok", got["livekit"], "%+v", rep)
	assert.Equal(t, "fail", got["clock"], "%+v", rep)
	vars["LIVEKIT_URL"] = env.URL
	got, rep, _ = doctorSays(t, vars)
	assert.Equal(t, "ok", got["clock"], "the same LiveKit without the shift: %+v", rep)
}

// LiveKit without Redis serves rooms but no ingress: the doctor says so, and
// that the dashboard it should ask about webhooks does not answer.
func TestTheDoctorNamesALiveKitWithoutRedis(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t)
	got, rep, err := doctorSays(t, map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"DASHBOARD_ADDR": fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "DASHBOARD_API_KEYS": testAdminKey + ":admin", "DASHBOARD_ADMIN_GROUP": adminGroup})
	assert.Error(t, err)
	assert.Equal(t, "ok", got["livekit"], "%+v", rep)
	assert.Equal(t, "fail", got["ingress"], "%+v", rep)
	assert.Equal(t, "fail", got["webhooks"], "%+v", rep)
	assert.Equal(t, "skip", got["bucket"], "%+v", rep)
	for _, c := range rep.Checks {
		if c.Name == "ingress" {
			assert.Contains(t, c.Fix, "redis", "%+v", c)
		}
	}
}

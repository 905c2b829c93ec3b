package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// promConfig is deploy/prometheus.yml as the test runs it: the same file with the
// seed's targets replaced by the test's ports and every interval at 1 s. Each
// replaced text must occur exactly once, so a change to prometheus.yml that the
// test would silently miss fails here instead. alerts.yml is copied unchanged.
func promConfig(t *testing.T, dir string, targets map[string]string) string {
	t.Helper()
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	repl := map[string]string{"scrape_interval: 15s": "scrape_interval: 1s", "evaluation_interval: 15s": "evaluation_interval: 1s"}
	for seed, test := range targets {
		repl[`"`+seed+`"`] = `"` + test + `"`
	}
	for old, new := range repl {
		if n := strings.Count(cfg, old); n != 1 {
			t.Fatalf("prometheus.yml has %q %d times, want once: update the test with the file", old, n)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	rules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	// The dashboard's scrape key, as an operator provisions it beside the file.
	if err := os.WriteFile(filepath.Join(dir, "dashboard-api-key"), []byte(scrapeKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// scrapeKey is the viewer key Prometheus scrapes the dashboard with, from
// prometheus.yml's credentials_file.
const scrapeKey = "prometheus-scrape-key-0123456789"

// prom is a Prometheus's HTTP API.
type prom struct{ base string }

func (p prom) get(t *testing.T, path string, q url.Values, into any) {
	t.Helper()
	resp, err := http.Get(p.base + path + "?" + q.Encode())
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status != "success" {
		t.Fatalf("prometheus %s?%s: %s %s", path, q.Encode(), env.Error, b)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
}

// query evaluates an instant query and returns how many series it gave.
func (p prom) query(t *testing.T, expr string) int {
	t.Helper()
	var d struct {
		Result []json.RawMessage `json:"result"`
	}
	p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &d)
	return len(d.Result)
}

// alert reports the state of alert name whose labels include want ("" when it
// is neither pending nor firing).
func (p prom) alert(t *testing.T, name string, want map[string]string) string {
	t.Helper()
	var d struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", nil, &d)
	for _, a := range d.Alerts {
		match := a.Labels["alertname"] == name
		for k, v := range want {
			match = match && a.Labels[k] == v
		}
		if match {
			return a.State
		}
	}
	return ""
}

// waitAlert waits, at most limit, for alert name to be pending or firing.
func (p prom) waitAlert(t *testing.T, name string, labels map[string]string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(limit); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if st := p.alert(t, name, labels); st == "pending" || st == "firing" {
			t.Logf("alert %s %v is %s after %.1fs", name, labels, st, time.Since(start).Seconds())
			return
		}
	}
	t.Fatalf("alert %s %v was neither pending nor firing within %s", name, labels, limit)
}

// wait bounds each wait on the stack: Ingress turns streams away while the
// machine is busy (testenv/slot.go) and OBS retries, so a loaded 2-core machine
// needs a while; a healthy one needs a few seconds.
const wait = 60 * time.Second

// metricNames are the metric names a query reads.
var metricName = regexp.MustCompile(`\b(?:livekit|dashboard)_[A-Za-z0-9_]+|\bup\b`)

// dashboardBinary builds the dashboard as an operator runs it, before the test
// takes the media slot (the build cache is warm from `go build ./...`).
func dashboardBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dashboard")
	out, err := exec.Command("go", "build", "-o", bin, "../examples/dashboard").CombinedOutput()
	if err != nil {
		t.Fatalf("build the dashboard: %v\n%s", err, out)
	}
	return bin
}

// The monitoring, deployed as an operator would, watches a real show: Prometheus
// runs deploy/prometheus.yml and alerts.yml against the real livekit-server,
// Ingress, Egress and dashboard while a performer plays, OBS (ffmpeg) streams
// over RTMP and the show is recorded. Every Grafana panel's query then returns
// data, naming only metrics the stack exports, and every LiveKit series carries
// node_id. Once the recording is uploaded, every metric and up{job} target an
// alert in alerts.yml reads is in Prometheus (save onlyAfterAFailure, named
// with why). When OBS dies while Ingress stays up, the stalled-ingest alert
// goes pending; when livekit-server stops, LiveKit-down does.
func TestMonitoringWatchesARealShow(t *testing.T) {
	testenv.RequireNetNS(t)
	began := time.Now()
	promBin := testenv.Binary(t, "prometheus", "prometheus")
	dashBin := dashboardBinary(t)
	t.Logf("dashboard built in %.1fs", time.Since(began).Seconds())
	dashPort := testenv.FreePort(t)
	env, ing := testenv.Ingress(t, testenv.WithWebhook(fmt.Sprintf("http://127.0.0.1:%d/api/webhooks/livekit", dashPort)))
	eg := testenv.Egress(t, env)
	m := testenv.MinIO(t)
	testenv.StartProcess(t, "dashboard", dashBin, nil,
		"LIVEKIT_URL="+env.URL, "LIVEKIT_API_KEY="+env.APIKey, "LIVEKIT_API_SECRET="+env.APISecret,
		"MINIO_ENDPOINT="+m.Endpoint, "MINIO_BUCKET=recordings", "MINIO_ACCESS_KEY="+m.AccessKey, "MINIO_SECRET_KEY="+m.SecretKey,
		fmt.Sprintf("DASHBOARD_ADDR=127.0.0.1:%d", dashPort), "DASHBOARD_ALLOW_ALL_ADMIN=true", "DASHBOARD_RESYNC=2s",
		// Private metrics: only the key in prometheus.yml's credentials_file,
		// sent as Bearer, gets the dashboard's target up.
		"DASHBOARD_METRICS_PUBLIC=false", "DASHBOARD_API_KEYS="+scrapeKey+":viewer")

	dir := t.TempDir()
	cfg := promConfig(t, dir, map[string]string{
		"172.17.0.1:7889": strings.TrimSuffix(strings.TrimPrefix(env.MetricsURL, "http://"), "/metrics"),
		"172.17.0.1:7890": strings.TrimSuffix(strings.TrimPrefix(ing.MetricsURL, "http://"), "/metrics"),
		"172.17.0.1:7891": strings.TrimSuffix(strings.TrimPrefix(eg.MetricsURL, "http://"), "/metrics"),
		"127.0.0.1:8090":  fmt.Sprintf("127.0.0.1:%d", dashPort),
	})
	promPort := testenv.FreePort(t)
	p := prom{base: fmt.Sprintf("http://127.0.0.1:%d", promPort)}
	proc := testenv.StartProcess(t, "prometheus", promBin, []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--log.level=warn"})
	waitOK(t, p.base+"/-/ready", 20*time.Second, proc)
	t.Logf("stack and Prometheus up after %.1fs", time.Since(began).Seconds())

	// The show: a stage, a performer playing, OBS streaming, a recording.
	ctx := context.Background()
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret,
		Storage: egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}})
	must(t, err)
	must(t, sm.Recordings.EnsureBucket(ctx))
	_, err = sm.Rooms.Create(ctx, "stage", rooms.CreateOptions{})
	must(t, err)
	tok, err := sm.Tokens.Performer("stage", "ada")
	must(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 2*wait))
	must(t, err)
	in, err := sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs"}, AudioOnly: true})
	must(t, err)
	obs := testenv.PushRTMP(t, in.PublishURL, 2*wait, true)
	_, err = sm.Ingress.WaitFor(testenv.Within(t, wait), in.ID, ingress.Publishing)
	must(t, err)
	rec, err := sm.Egress.RecordAudio(ctx, "stage", egress.AudioOptions{Identity: "ada"})
	must(t, err)
	_, err = sm.Egress.WaitFor(testenv.Within(t, wait), rec.ID, egress.Active)
	must(t, err)

	t.Logf("the show is on after %.1fs", time.Since(began).Seconds())

	// Every panel's every query returns data while the show runs. Grafana's
	// $__rate_interval is four scrape intervals at least; 15 s here.
	_, panels := grafanaPanels(t)
	type query struct{ panel, expr string }
	var queries []query
	for _, pn := range panels {
		for _, tg := range pn.Targets {
			expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "15s")
			if strings.Contains(expr, "$") {
				t.Fatalf("panel %q: query %q has a variable the test does not know", pn.Title, tg.Expr)
			}
			queries = append(queries, query{pn.Title, expr})
		}
	}
	// The show's own figures, from the dashboard's model: the stage has the
	// performer and OBS on it, is recorded and its ingest is live.
	for _, expr := range []string{`up{job="streamkit-dashboard"} == 1`, `dashboard_room_publishers{room="stage"} >= 2`, `dashboard_room_recording{room="stage"} == 1`,
		`dashboard_room_ingest_live{room="stage"} == 1`, `dashboard_rooms_recording >= 1`, `dashboard_model_lag_seconds > 0`} {
		queries = append(queries, query{"(the stage's figures)", expr})
	}
	var empty []query
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		empty = empty[:0]
		for _, q := range queries {
			if p.query(t, q.expr) == 0 {
				empty = append(empty, q)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
	}
	var known []string
	p.get(t, "/api/v1/label/__name__/values", nil, &known)
	for _, q := range empty {
		unknown := slices.DeleteFunc(slices.Compact(metricName.FindAllString(q.expr, -1)), func(n string) bool { return slices.Contains(known, n) })
		if len(unknown) > 0 {
			t.Errorf("panel %q queries metrics the stack does not export: %v\n\t%s", q.panel, unknown, q.expr)
		} else {
			t.Errorf("panel %q: its query returned nothing during a show\n\t%s", q.panel, q.expr)
		}
	}
	t.Logf("%d of %d queries (%d panels) return data after %.1fs", len(queries)-len(empty), len(queries), len(panels), time.Since(began).Seconds())
	if n := p.query(t, `{__name__=~"livekit_.+", job="livekit", node_id=""}`); n != 0 {
		t.Errorf("%d livekit-server series lack node_id", n)
	}
	if t.Failed() {
		return
	}

	// Nothing alerts while the show is healthy.
	for _, name := range []string{"IngestStalled", "LiveKitDown", "LiveKitNotReady"} {
		if st := p.alert(t, name, nil); st != "" {
			t.Fatalf("%s is %s during a healthy show", name, st)
		}
	}

	// Every metric an alert reads exists on the live stack, so no alert is
	// quietly blind. Egress exports its upload counters (from the recording's
	// handler) only once the file is uploaded: the recording ends first.
	_, err = sm.Egress.Stop(ctx, rec.ID)
	must(t, err)
	done, err := sm.Egress.WaitFor(testenv.Within(t, wait), rec.ID, egress.Complete, egress.Failed, egress.Aborted)
	must(t, err)
	if done.Status != egress.Complete {
		t.Fatalf("the recording ended %s, not uploaded: %s", done.Status, done.Error)
	}
	missing := p.waitAlertMetrics(t, 30*time.Second)
	for alert, names := range missing {
		t.Errorf("alert %s reads what the live stack does not export: %v", alert, names)
	}
	if t.Failed() {
		return
	}

	// OBS dies; Ingress stays up.
	obs.Stop()
	p.waitAlert(t, "IngestStalled", map[string]string{"room": "stage", "severity": "page"}, 20*time.Second)

	// livekit-server stops.
	env.Stop()
	p.waitAlert(t, "LiveKitDown", map[string]string{"job": "livekit", "severity": "page"}, 15*time.Second)
}

// onlyAfterAFailure are metrics an alert reads that the exporter creates only on
// the failure the alert is there for, which a healthy show cannot cause; the
// live test names them rather than skip them silently.
var onlyAfterAFailure = map[string]string{
	// egress (v1.8.6, pkg/stats/handler.go) counts a write to its backup
	// storage only when the upload to the bucket failed.
	"livekit_egress_backup_storage_writes": "written only after a failed upload",
	// The dashboard's own recorder measures only the shows it records (opened
	// with a recording plan through the shows service, with ffmpeg); this
	// test's recording is egress's. spacemusic/shows' TestAShowThatClipsSaysSoWhileItPlays
	// has the figures rise on a real show.
	"dashboard_show_clipped_seconds_total": "exported only while the dashboard's own recorder measures a show",
}

// upJob is a scrape target's health an alert reads: up{job="..."}.
var upJob = regexp.MustCompile(`\bup\{job="([^"]+)"\}`)

// waitAlertMetrics waits, at most limit, for every metric name and every
// up{job} target that alerts.yml's expressions read to be known to
// Prometheus (onlyAfterAFailure aside), and returns, per alert, what is still
// missing.
func (p prom) waitAlertMetrics(t *testing.T, limit time.Duration) map[string][]string {
	t.Helper()
	missing := map[string][]string{}
	for deadline := time.Now().Add(limit); ; time.Sleep(time.Second) {
		clear(missing)
		var known []string
		p.get(t, "/api/v1/label/__name__/values", nil, &known)
		for _, r := range alertRules(t) {
			for _, n := range slices.Compact(slices.Sorted(slices.Values(metricName.FindAllString(r.Expr, -1)))) {
				if _, excused := onlyAfterAFailure[n]; n == "up" || excused || slices.Contains(known, n) {
					continue
				}
				missing[r.Alert] = append(missing[r.Alert], n)
			}
			for _, m := range upJob.FindAllStringSubmatch(r.Expr, -1) {
				if p.query(t, m[0]) == 0 {
					missing[r.Alert] = append(missing[r.Alert], m[0])
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
	}
}

func waitOK(t *testing.T, u string, limit time.Duration, proc *testenv.Process) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s not ready within %s:\n%s", u, limit, proc.Tail(4<<10))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

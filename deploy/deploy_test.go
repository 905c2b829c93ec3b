// Package deploy holds what an operator copies next to the seed's compose stack:
// Prometheus's configuration and alerts, the "LiveKit Streaming" Grafana
// dashboard, the dashboard's container image, compose file, Traefik example,
// systemd unit and environment. Its tests check them with promtool,
// systemd-analyze and podman, structurally, and against the real stack
// (live_test.go, image_test.go, traefik_test.go).
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// promtool runs Debian's promtool (scripts/stack install prometheus); a missing
// one skips locally and fails with CI=true.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin := testenv.Binary(t, "promtool", "prometheus")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// promtool checks that the files the config names exist: it runs on a copy
// with the dashboard's scrape key provisioned beside it, as in production.
func TestPrometheusConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-api-key"), []byte("a-viewer-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "config", filepath.Join(dir, "prometheus.yml"))
}

func TestAlertRulesAreValid(t *testing.T) {
	promtool(t, "check", "rules", "alerts.yml")
}

// rules are the alerting rules of alerts.yml.
type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         *string           `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct{ Rules []rule } `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	return out
}

// Every alert says how long before it fires, how bad it is and, in words an
// operator woken at 2 a.m. follows, what broke and what to do; and each has a
// promtool unit test that passes.
func TestEveryAlertIsReadyForTwoAM(t *testing.T) {
	tests, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alertRules(t) {
		if r.For == nil {
			t.Errorf("alert %s has no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "page" && s != "warning" {
			t.Errorf("alert %s: severity %q, want page or warning", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s needs a summary and a description", r.Alert)
		}
		if !regexp.MustCompile(`(?m)^\s+alertname: ` + regexp.QuoteMeta(r.Alert) + `\s*$`).Match(tests) {
			t.Errorf("alert %s has no unit test in alerts_test.yml", r.Alert)
		}
	}
	// Each alert is seen both ways: a case where it fires, one where it does not.
	var unit struct {
		Tests []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alert string           `yaml:"alertname"`
				Exp   []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(tests, &unit); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, ut := range unit.Tests {
		for _, c := range ut.Cases {
			if len(c.Exp) > 0 {
				fires[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	for _, r := range alertRules(t) {
		if !fires[r.Alert] {
			t.Errorf("alert %s: no unit test case in which it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("alert %s: no unit test case in which it stays quiet", r.Alert)
		}
	}
	promtool(t, "test", "rules", "alerts_test.yml")
}

// Grafana's provisioning files find the dashboard and give it what it asks
// for: the provider reads a folder (compose.yaml mounts deploy/grafana there:
// TestTheComposeFileMountsFilesThatExist), which holds the dashboard, and the
// data source is the Prometheus type the dashboard's ${datasource} variable
// offers.
func TestGrafanaProvisioningFindsTheDashboard(t *testing.T) {
	read := func(file string, into any) { t.Helper(); readYAML(t, file, into) }
	var dashboards struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	read("grafana/dashboards.yml", &dashboards)
	var sources struct {
		APIVersion  int                                        `yaml:"apiVersion"`
		Datasources []struct{ Name, Type, Access, URL string } `yaml:"datasources"`
	}
	read("grafana/datasource.yml", &sources)
	if dashboards.APIVersion != 1 || sources.APIVersion != 1 {
		t.Errorf("apiVersion: dashboards %d, data sources %d; Grafana reads 1", dashboards.APIVersion, sources.APIVersion)
	}
	if len(dashboards.Providers) != 1 || dashboards.Providers[0].Type != "file" {
		t.Fatalf("want one file provider: %+v", dashboards.Providers)
	}
	if _, err := os.Stat("grafana/livekit-streaming.json"); err != nil {
		t.Errorf("the provider's folder holds no dashboard: %v", err)
	}
	d, _ := grafanaPanels(t)
	var want string
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			want = v.Query
		}
	}
	if len(sources.Datasources) != 1 || sources.Datasources[0].Type != want || sources.Datasources[0].URL == "" {
		t.Errorf("want one data source of the type the dashboard picks (%q) with a URL: %+v", want, sources.Datasources)
	}
}

// panel is a Grafana panel as far as provisioning cares.
type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *datasourceRef  `json:"datasource"`
	Targets    []target        `json:"targets"`
	FieldCfg   json.RawMessage `json:"fieldConfig"`
	Panels     []panel         `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
}

// grafanaPanels reads the dashboard and returns its panels that show data (rows
// only group them), rows' nested panels included.
func grafanaPanels(t *testing.T) (dashboard, []panel) {
	t.Helper()
	b, err := os.ReadFile("grafana/livekit-streaming.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/livekit-streaming.json: %v", err)
	}
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return d, out
}

const datasourceVar = "${datasource}"

// The dashboard provisions into any Grafana: it picks its Prometheus through a
// variable and names no UID of a data source or of itself; every panel has a
// query, each query goes to that variable, and every panel has a unit.
func TestGrafanaDashboardIsProvisionable(t *testing.T) {
	d, panels := grafanaPanels(t)
	if d.Title != "LiveKit Streaming" {
		t.Errorf("title %q, want the seed's \"LiveKit Streaming\"", d.Title)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Error("the dashboard has no datasource variable of type prometheus named datasource")
	}
	raw, _ := os.ReadFile("grafana/livekit-streaming.json")
	for _, m := range regexp.MustCompile(`"uid":\s*"([^"]*)"`).FindAllStringSubmatch(string(raw), -1) {
		if m[1] != datasourceVar {
			t.Errorf("hard-coded uid %q: use %s", m[1], datasourceVar)
		}
	}
	if len(panels) < 10 {
		t.Errorf("only %d panels", len(panels))
	}
	ids := map[int]string{}
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Datasource == nil || p.Datasource.UID != datasourceVar {
			t.Errorf("panel %q: datasource is not %s", p.Title, datasourceVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no query", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != datasourceVar || tg.Datasource.Type != "prometheus" {
				t.Errorf("panel %q target %s does not use the datasource variable %s", p.Title, tg.RefID, datasourceVar)
			}
		}
		var fc struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		}
		_ = json.Unmarshal(p.FieldCfg, &fc)
		if fc.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
	}
}

package deploy

import (
	"bytes"
	"encoding/json"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is deploy/compose.yaml with every key it uses declared: it is
// read with KnownFields, so a misspelt key (network-mode) fails here.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	PullPolicy      string            `yaml:"pull_policy"`
	Restart         string            `yaml:"restart"`
	NetworkMode     string            `yaml:"network_mode"`
	EnvFile         string            `yaml:"env_file"`
	Environment     map[string]string `yaml:"environment"`
	Command         []string          `yaml:"command"`
	Volumes         []string          `yaml:"volumes"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Healthcheck     struct {
		Test              []string `yaml:"test"`
		Interval, Timeout string
		StartPeriod       string `yaml:"start_period"`
		Retries           int    `yaml:"retries"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct{ Condition string } `yaml:"depends_on"`
}

func readCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c, string(b)
}

// The compose file an operator starts beside the seed's: every service on the
// host's network, restarted, with a health check. The dashboard runs the image
// deploy/image builds, with the image's own health check, its spool on a
// volume, and only variables the dashboard reads. Everything listens on
// loopback (Traefik publishes it), on none of the seed's ports, nor MinIO's,
// nor each other's; Prometheus scrapes the dashboard where it listens, and
// Grafana reads that Prometheus.
func TestTheComposeFileRunsBesideTheSeed(t *testing.T) {
	c, _ := readCompose(t)
	if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, []string{"dashboard", "grafana", "prometheus"}) {
		t.Errorf("services %v, want the dashboard, Prometheus and Grafana", got)
	}
	for name, s := range c.Services {
		if s.NetworkMode != "host" || s.Restart == "" || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("%s: network_mode %q, restart %q, healthcheck %q; want host, a policy and a CMD", name, s.NetworkMode, s.Restart, s.Healthcheck.Test)
		}
	}
	dash, prom, graf := c.Services["dashboard"], c.Services["prometheus"], c.Services["grafana"]
	if tag := matchIn(t, "image", `tag=\$\{1:-(\S+)\}`); dash.Image != tag {
		t.Errorf("the dashboard runs %q; deploy/image builds %q", dash.Image, tag)
	}
	var check []string
	if err := json.Unmarshal([]byte(matchIn(t, "Containerfile", `(?m)^HEALTHCHECK .* CMD (\[.*\])$`)), &check); err != nil {
		t.Fatalf("Containerfile's HEALTHCHECK: %v", err)
	}
	if !slices.Equal(dash.Healthcheck.Test[1:], check) {
		t.Errorf("the dashboard's health check %q is not the image's %q", dash.Healthcheck.Test[1:], check)
	}
	if spool := matchIn(t, "Containerfile", `(?m)^ENV DASHBOARD_SPOOL_DIR=(\S+)$`); !slices.Contains(dash.Volumes, "spool:"+spool) {
		t.Errorf("the spool %s is not on a volume: %q", spool, dash.Volumes)
	}

	reads := dashboardReads(t, dashboardBinary(t))
	if dash.EnvFile != "dashboard.env" {
		t.Errorf("the dashboard reads env_file %q, want dashboard.env (from dashboard.env.example)", dash.EnvFile)
	}
	env := envFile(t, "dashboard.env.example")
	for k, v := range dash.Environment {
		if !reads(k) {
			t.Errorf("compose.yaml sets %s for the dashboard, which it does not read", k)
		}
		env[k] = v
	}

	listen := map[string]string{"dashboard": env["DASHBOARD_ADDR"], "prometheus": flagOf(prom.Command, "--web.listen-address"),
		"grafana": net.JoinHostPort(graf.Environment["GF_SERVER_HTTP_ADDR"], graf.Environment["GF_SERVER_HTTP_PORT"])}
	taken := map[int]string{}
	if minio, err := url.Parse(env["MINIO_ENDPOINT"]); err == nil && minio.Port() != "" {
		p, _ := strconv.Atoi(minio.Port())
		taken[p] = "MinIO (MINIO_ENDPOINT)"
	}
	for _, name := range slices.Sorted(maps.Keys(listen)) {
		host, port, err := net.SplitHostPort(listen[name])
		p, _ := strconv.Atoi(port)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || p == 0 {
			t.Errorf("%s listens on %q, want a loopback address and port", name, listen[name])
			continue
		}
		if what, ok := seedPort(p); ok {
			t.Errorf("%s listens on %d, the seed's %s", name, p, what)
		} else if other, ok := taken[p]; ok {
			t.Errorf("%s listens on %d, as %s does", name, p, other)
		}
		taken[p] = name
	}

	cfg := promConfigFile(t)
	if target := cfg.target("streamkit-dashboard"); target != listen["dashboard"] {
		t.Errorf("Prometheus scrapes the dashboard at %q; it listens on %q", target, listen["dashboard"])
	}
	if ds := grafanaDatasourceURL(t); ds != "http://"+listen["prometheus"] {
		t.Errorf("Grafana's data source is %q; Prometheus listens on %q", ds, listen["prometheus"])
	}
}

// Every file the compose file mounts is in deploy/, or is one of the
// operator's secrets that its header says how to create, and lands where its
// reader looks: Prometheus's rule file and scrape key beside its config,
// Grafana's provisioning files in its provisioning folders and deploy/grafana
// at the dashboard provider's path. Named volumes are declared.
func TestTheComposeFileMountsFilesThatExist(t *testing.T) {
	c, text := readCompose(t)
	created := func(file string) bool {
		return regexp.MustCompile(`(?m)^#.*(>|cp \S+) deploy/` + regexp.QuoteMeta(file) + `\s`).MatchString(text)
	}
	if _, err := os.Stat(c.Services["dashboard"].EnvFile); err != nil && !created(c.Services["dashboard"].EnvFile) {
		t.Errorf("env_file %s is neither here nor made by the header's instructions", c.Services["dashboard"].EnvFile)
	}
	mounts := map[string]map[string]string{} // service -> container path -> host path
	for name, s := range c.Services {
		mounts[name] = map[string]string{}
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
			mounts[name][dst] = src
			if _, named := c.Volumes[src]; !strings.HasPrefix(src, "./") && !named {
				t.Errorf("%s: volume %q is not declared", name, src)
			}
			if _, err := os.Stat(src); strings.HasPrefix(src, "./") && err != nil && !created(strings.TrimPrefix(src, "./")) {
				t.Errorf("%s mounts %s, which is neither here nor made by the header's instructions", name, src)
			}
		}
	}
	config := flagOf(c.Services["prometheus"].Command, "--config.file")
	cfg := promConfigFile(t)
	want := map[string]string{config: "./prometheus.yml"}
	for _, f := range append(slices.Clone(cfg.RuleFiles), cfg.credentialsFiles()...) {
		want[path.Join(path.Dir(config), f)] = "./" + f // relative to the config, as Prometheus reads them
	}
	for dst, src := range want {
		if got := mounts["prometheus"][dst]; got != src {
			t.Errorf("Prometheus reads %s; compose.yaml mounts %q there, want %s", dst, got, src)
		}
	}
	var dashboards struct {
		Providers []struct{ Options struct{ Path string } } `yaml:"providers"`
	}
	readYAML(t, "grafana/dashboards.yml", &dashboards)
	if len(dashboards.Providers) == 0 || mounts["grafana"][dashboards.Providers[0].Options.Path] != "./grafana" {
		t.Errorf("Grafana's provider reads %+v; compose.yaml mounts %v", dashboards.Providers, mounts["grafana"])
	}
	for dst, src := range mounts["grafana"] {
		if kind := strings.TrimSuffix(path.Base(src), ".yml"); (kind == "dashboards" || kind == "datasource") &&
			!strings.HasPrefix(dst, "/etc/grafana/provisioning/"+strings.TrimSuffix(kind, "s")+"s/") {
			t.Errorf("%s is mounted at %s, not in Grafana's provisioning folder for it", src, dst)
		}
	}
}

// flagOf is the value of --name=value among args.
func flagOf(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// matchIn is the first group of re in file; it fails the test if none.
func matchIn(t *testing.T, file, re string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(re).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no %s: update the test with the file", file, re)
	}
	return string(m[1])
}

func readYAML(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// promFile is prometheus.yml as far as where it reads and scrapes.
type promFile struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		Authorization struct {
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func promConfigFile(t *testing.T) promFile {
	t.Helper()
	var f promFile
	readYAML(t, "prometheus.yml", &f)
	return f
}

// target is job's one target, "" unless it has exactly one.
func (f promFile) target(job string) string {
	for _, s := range f.ScrapeConfigs {
		if s.JobName == job && len(s.StaticConfigs) == 1 && len(s.StaticConfigs[0].Targets) == 1 {
			return s.StaticConfigs[0].Targets[0]
		}
	}
	return ""
}

func (f promFile) credentialsFiles() []string {
	var out []string
	for _, s := range f.ScrapeConfigs {
		if c := s.Authorization.CredentialsFile; c != "" {
			out = append(out, c)
		}
	}
	return out
}

func grafanaDatasourceURL(t *testing.T) string {
	t.Helper()
	var sources struct {
		Datasources []struct{ URL string } `yaml:"datasources"`
	}
	readYAML(t, "grafana/datasource.yml", &sources)
	if len(sources.Datasources) != 1 {
		t.Fatalf("grafana/datasource.yml: %d data sources, want 1", len(sources.Datasources))
	}
	return sources.Datasources[0].URL
}

package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// traefikFile is deploy/traefik/dashboard.yml as far as the dashboard cares.
type traefikFile struct {
	HTTP struct {
		Routers map[string]struct {
			Rule        string   `yaml:"rule"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Middlewares map[string]struct {
			Headers *struct {
				CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
			} `yaml:"headers"`
			ForwardAuth *struct {
				Address             string   `yaml:"address"`
				AuthResponseHeaders []string `yaml:"authResponseHeaders"`
			} `yaml:"forwardAuth"`
		} `yaml:"middlewares"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct{ URL string } `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// readTraefik renders the file as Traefik's file provider does (Go templates;
// env reads Traefik's environment, here env) and parses it. It returns the
// variables the file reads.
func readTraefik(t *testing.T, env map[string]string) (traefikFile, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("traefik", "dashboard.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	tmpl, err := template.New("dashboard.yml").Funcs(template.FuncMap{"env": func(k string) string {
		read = append(read, k)
		return env[k]
	}}).Parse(string(b))
	if err != nil {
		t.Fatalf("traefik/dashboard.yml as a template: %v", err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, nil); err != nil {
		t.Fatal(err)
	}
	var f traefikFile
	if err := yaml.Unmarshal(out.Bytes(), &f); err != nil {
		t.Fatalf("traefik/dashboard.yml: %v", err)
	}
	return f, read
}

// dashboardHeaders are the X-Authentik-* headers the dashboard's code reads.
func dashboardHeaders(t *testing.T) []string {
	t.Helper()
	var out []string
	// Every production file of the dashboard, its internal packages too.
	err := filepath.WalkDir("../examples/dashboard", func(f string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
			return err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`"(X-Authentik-[\w-]+)"`).FindAllSubmatch(b, -1) {
			out = append(out, http.CanonicalHeaderKey(string(m[1])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The Traefik example puts the dashboard at stream.example.org behind
// Authentik: it forwards exactly the X-Authentik-* headers the dashboard reads,
// strips every one of them (and the proxy secret) from the client's request
// before forwardAuth, adds the secret after it from a variable the dashboard
// reads too, and sends to where dashboard.env.example has it listen. Then, as
// Traefik would forward a signed-in admin, a real dashboard configured from the
// example believes it; without the secret middleware's header, it does not.
func TestTheTraefikExampleForwardsWhatTheDashboardReads(t *testing.T) {
	testenv.RequireNetNS(t)
	secret := "proxy-secret-for-the-traefik-test"
	f, vars := readTraefik(t, map[string]string{"DASHBOARD_PROXY_SECRET": secret})
	bin := dashboardBinary(t)
	reads := dashboardReads(t, bin)
	for _, v := range vars {
		if !reads(v) {
			t.Errorf("traefik/dashboard.yml reads %s, which the dashboard does not", v)
		}
	}
	router, ok := f.HTTP.Routers["stream-dashboard"]
	if !ok || router.Rule != "Host(`stream.example.org`)" || len(router.Middlewares) != 3 {
		t.Fatalf("router stream-dashboard: %+v, want Host(`stream.example.org`) with three middlewares", router)
	}
	strip, auth, proof := f.HTTP.Middlewares[router.Middlewares[0]], f.HTTP.Middlewares[router.Middlewares[1]], f.HTTP.Middlewares[router.Middlewares[2]]
	if strip.Headers == nil || auth.ForwardAuth == nil || proof.Headers == nil {
		t.Fatalf("middlewares %v: want headers (strip), forwardAuth, headers (the secret)", router.Middlewares)
	}
	var forwarded []string
	for _, h := range auth.ForwardAuth.AuthResponseHeaders {
		forwarded = append(forwarded, http.CanonicalHeaderKey(h))
	}
	slices.Sort(forwarded)
	if want := dashboardHeaders(t); len(want) == 0 || !slices.Equal(forwarded, want) {
		t.Errorf("forwardAuth forwards %v; the dashboard reads %v", forwarded, want)
	}
	stripped := map[string]bool{}
	for h, v := range strip.Headers.CustomRequestHeaders {
		stripped[http.CanonicalHeaderKey(h)] = v == ""
	}
	for _, h := range append(slices.Clone(forwarded), slices.Collect(maps.Keys(proof.Headers.CustomRequestHeaders))...) {
		if !stripped[http.CanonicalHeaderKey(h)] {
			t.Errorf("%s is not stripped from the client's request before forwardAuth", h)
		}
	}
	env := envFile(t, "dashboard.env.example")
	servers := f.HTTP.Services[router.Service].LoadBalancer.Servers
	if len(servers) != 1 || servers[0].URL != "http://"+env["DASHBOARD_ADDR"] {
		t.Errorf("Traefik sends to %+v; the dashboard listens on %s", servers, env["DASHBOARD_ADDR"])
	}

	lk := testenv.LiveKit(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	proc := testenv.StartProcess(t, "dashboard", bin, nil, "LIVEKIT_URL="+lk.URL, "LIVEKIT_API_KEY="+lk.APIKey,
		"LIVEKIT_API_SECRET="+lk.APISecret, "DASHBOARD_ADDR="+addr, "DASHBOARD_PROXY_SECRET="+secret,
		"DASHBOARD_TRUSTED_PROXIES="+env["DASHBOARD_TRUSTED_PROXIES"], "DASHBOARD_ADMIN_GROUP="+env["DASHBOARD_ADMIN_GROUP"])
	waitOK(t, "http://"+addr+"/api/health", 30*time.Second, proc)
	authentik := map[string]string{"X-Authentik-Username": "ada", "X-Authentik-Email": "ada@example.org",
		"X-Authentik-Groups": "everyone|" + env["DASHBOARD_ADMIN_GROUP"]}
	asTraefik := func(withProof bool) (int, me) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/me", nil)
		for _, h := range forwarded {
			req.Header.Set(h, authentik[h])
		}
		for h, v := range proof.Headers.CustomRequestHeaders {
			if withProof {
				req.Header.Set(h, v)
			}
		}
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		return getMe(t, req)
	}
	if status, who := asTraefik(true); status != 200 || who != (me{"ada", "forward-auth", "admin"}) {
		t.Errorf("as Traefik forwards a signed-in admin: %d %+v, want 200 ada, forward-auth, admin", status, who)
	}
	if status, who := asTraefik(false); status != 401 {
		t.Errorf("without the secret middleware's header: %d %+v, want 401", status, who)
	}
}

type me struct{ Name, Auth, Role string }

func getMe(t *testing.T, req *http.Request) (int, me) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m me
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

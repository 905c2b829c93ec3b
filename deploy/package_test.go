package deploy

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// seedPorts are the ports the seed's stack takes on the host (its "Network and
// Ports" table, host networking): nothing we add may listen on one of them.
var seedPorts = map[int]string{7880: "LiveKit API", 8080: "WHIP ingest", 1935: "RTMP ingest", 5349: "TURN/TLS",
	3478: "TURN/UDP", 7889: "LiveKit metrics", 6379: "Redis"}

func seedPort(p int) (string, bool) {
	if p >= 50000 && p <= 60000 {
		return "WebRTC media", true
	}
	what, ok := seedPorts[p]
	return what, ok
}

// envFile reads KEY=value lines, skipping comments and blanks.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", path, line)
		}
		out[k] = v
	}
	return out
}

// dashboardReads reports whether the dashboard bin reads an environment
// variable: whether `dashboard -help` names it.
func dashboardReads(t *testing.T, bin string) func(string) bool {
	t.Helper()
	help, err := exec.Command(bin, "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("dashboard -help: %v\n%s", err, help)
	}
	return func(k string) bool { return regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\b`).Match(help) }
}

// An operator fills in dashboard.env.example and starts the dashboard beside
// the seed's stack: every variable in it is one the dashboard reads (a typo
// would be ignored silently), it listens where the seed does not, and left
// unfilled it refuses to start in one line instead of running half set up.
func TestTheEnvironmentExampleIsTheDashboards(t *testing.T) {
	bin := dashboardBinary(t)
	reads := dashboardReads(t, bin)
	env := envFile(t, "dashboard.env.example")
	for k := range env {
		if !reads(k) {
			t.Errorf("dashboard.env.example sets %s, which the dashboard does not read", k)
		}
	}
	_, port, err := net.SplitHostPort(env["DASHBOARD_ADDR"])
	if err != nil {
		t.Fatalf("DASHBOARD_ADDR %q: %v", env["DASHBOARD_ADDR"], err)
	}
	if p, _ := strconv.Atoi(port); p == 0 {
		t.Errorf("DASHBOARD_ADDR %q has no port", env["DASHBOARD_ADDR"])
	} else if what, taken := seedPort(p); taken {
		t.Errorf("DASHBOARD_ADDR listens on %d, the seed's %s", p, what)
	}

	cmd := exec.Command(bin)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the dashboard started with the example's empty secrets:\n%s", out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "dashboard: ") {
		t.Errorf("the refusal is not one line naming the problem:\n%s", out)
	}
}

// The systemd unit for operators without containers passes systemd-analyze
// verify with nothing to say (it exits 0 on settings it ignores, so any output
// is a failure), and every variable it sets is one the dashboard reads.
func TestTheSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "apt install systemd")
	bin := dashboardBinary(t)
	unit, err := os.ReadFile("streamkit-dashboard.service")
	if err != nil {
		t.Fatal(err)
	}
	reads := dashboardReads(t, bin)
	for _, m := range regexp.MustCompile(`(?m)^Environment=(\w+)=`).FindAllSubmatch(unit, -1) {
		if !reads(string(m[1])) {
			t.Errorf("the unit sets %s, which the dashboard does not read", m[1])
		}
	}
	// verify checks that ExecStart and EnvironmentFile exist: point them at
	// this test's binary and the example.
	dir := t.TempDir()
	env, err := filepath.Abs("dashboard.env.example")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/usr/local/bin/streamkit-dashboard", bin, "/etc/streamkit/dashboard.env", env).Replace(string(unit))
	if text == string(unit) {
		t.Fatal("the unit no longer names /usr/local/bin/streamkit-dashboard and /etc/streamkit/dashboard.env: update this test")
	}
	path := filepath.Join(dir, "streamkit-dashboard.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

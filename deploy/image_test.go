package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// podman is the podman CLI with scripts/podman's configuration, which
// `eval "$(scripts/podman start)"` exports: CONTAINERS_CONF (runc, cgroupfs and
// ulimits this machine allows; without them `podman run` fails with "error
// setting rlimit type 7: operation not permitted") and CONTAINERS_STORAGE_CONF
// (vfs). Containers it runs with host networking live in this test's namespace.
type podman struct {
	t   *testing.T
	bin string
}

const podmanHowTo = "as root: `scripts/podman`, then `eval \"$(scripts/podman start)\"` inside the namespace of the tests"

func newPodman(t *testing.T) podman {
	t.Helper()
	bin := testenv.Tool(t, "podman", podmanHowTo)
	if os.Getenv("CONTAINERS_CONF") == "" || os.Getenv("CONTAINERS_STORAGE_CONF") == "" {
		if testenv.InCI() {
			t.Fatalf("CONTAINERS_CONF and CONTAINERS_STORAGE_CONF are not set and CI=true: %s", podmanHowTo)
		}
		t.Skipf("CONTAINERS_CONF and CONTAINERS_STORAGE_CONF are not set: %s", podmanHowTo)
	}
	return podman{t, bin}
}

// run runs podman and returns what it printed; it fails the test on an error.
func (p podman) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command(p.bin, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// The dashboard's image, built by deploy/image as an operator would (a static
// binary and the host's CA certificates, FROM scratch): it serves /api/health
// against a real LiveKit as a user without privileges, its HEALTHCHECK passes,
// SIGTERM stops it cleanly with exit code 0 well within the grace period, and a
// bad configuration stops it with the very line the binary prints.
func TestTheContainerImage(t *testing.T) {
	testenv.RequireNetNS(t)
	pm := newPodman(t)
	began := time.Now()
	tag := "localhost/" + randomName("streamkit-dashboard-test:")
	cmd := exec.Command("./image", tag)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != tag {
		t.Fatalf("deploy/image %s: %v (printed %q)", tag, err, out)
	}
	t.Cleanup(func() { pm.run("rmi", "-f", tag) })
	size := pm.run("image", "inspect", "--format", "{{.Size}}", tag)
	t.Logf("image %s built in %.1fs: %s bytes", tag, time.Since(began).Seconds(), size)
	if user := pm.run("image", "inspect", "--format", "{{.Config.User}}", tag); user != "65532:65532" {
		t.Errorf("the image runs as %q, want the numeric user 65532:65532", user)
	}

	t.Run("serves, checks itself and stops on SIGTERM", func(t *testing.T) { imageServes(t, pm, tag) })
	t.Run("refuses a bad configuration as the binary does", func(t *testing.T) { imageRefuses(t, pm, tag) })
}

func imageServes(t *testing.T, pm podman, tag string) {
	env := testenv.LiveKit(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	name := randomName("streamkit-dashboard-test-")
	var logs bytes.Buffer
	cmd := exec.Command(pm.bin, "run", "--rm", "--name", name, "--network", "host",
		"-e", "LIVEKIT_URL="+env.URL, "-e", "LIVEKIT_API_KEY="+env.APIKey, "-e", "LIVEKIT_API_SECRET="+env.APISecret,
		"-e", "DASHBOARD_ADDR="+addr, "-e", "DASHBOARD_ADMIN_GROUP=stream-admins", tag)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = exec.Command(pm.bin, "rm", "-f", name).Run()
		if t.Failed() {
			t.Logf("container output:\n%s", logs.String())
		}
	})

	started := time.Now()
	var health struct{ Status, LiveKit string }
	for {
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the container exited before answering: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(started) > 30*time.Second {
			t.Fatalf("no 200 from /api/health within 30 s: %v %+v", err, health)
		}
	}
	t.Logf("answering /api/health %.1fs after podman run", time.Since(started).Seconds())
	if health.Status != "ok" || health.LiveKit != "ok" {
		t.Errorf("/api/health: %+v, want ok from a real LiveKit", health)
	}
	// The image's own HEALTHCHECK, as the engine runs it.
	if out, err := exec.Command(pm.bin, "healthcheck", "run", name).CombinedOutput(); err != nil {
		t.Errorf("podman healthcheck run: %v\n%s", err, out)
	}
	processUser(t, pm, name)
	caBundle(t, pm, name)

	stopped := time.Now()
	pm.run("stop", "--time", "10", name) // SIGTERM, then SIGKILL after 10 s
	err := <-exited
	took := time.Since(stopped)
	if err != nil {
		t.Errorf("after SIGTERM the container exited with %v, want 0", err)
	}
	if took > 5*time.Second {
		t.Errorf("SIGTERM took %s to stop it, want well within the 10 s before SIGKILL", took)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("the dashboard did not log its clean stop")
	}
	t.Logf("stopped %.1fs after SIGTERM", took.Seconds())
}

// processUser checks that the dashboard runs as 65532, not root.
func processUser(t *testing.T, pm podman, name string) {
	t.Helper()
	pid := pm.run("inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)`).FindSubmatch(status); m == nil || string(m[1]) != "65532" || string(m[2]) != "65532" {
		t.Errorf("the dashboard's process runs as %q, want uid 65532", m)
	}
}

// caBundle checks that the image carries the host's CA certificates, where Go
// looks for them.
func caBundle(t *testing.T, pm podman, name string) {
	t.Helper()
	dir := t.TempDir()
	pm.run("cp", name+":/etc/ssl/certs/ca-certificates.crt", dir)
	got, err := os.ReadFile(filepath.Join(dir, "ca-certificates.crt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the image's CA bundle (%d bytes) is not the host's (%d bytes)", len(got), len(want))
	}
}

// imageRefuses runs the image and the binary on the environment example left
// unfilled: both refuse in the same single line, with exit code 1.
func imageRefuses(t *testing.T, pm podman, tag string) {
	// --no-healthcheck: without systemd, podman 4.3 adds two lines of its own
	// ("unable to get systemd connection to add healthchecks: dial unix
	// /run/systemd/private: connect: no such file or directory") to the output.
	out, err := exec.Command(pm.bin, "run", "--rm", "--no-healthcheck", "--network", "host",
		"--env-file", "dashboard.env.example", tag).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the image with the unfilled example: %v, want exit code 1\n%s", err, out)
	}
	bin := exec.Command(dashboardBinary(t))
	for k, v := range envFile(t, "dashboard.env.example") {
		bin.Env = append(bin.Env, k+"="+v)
	}
	want, _ := bin.CombinedOutput()
	if string(out) != string(want) {
		t.Errorf("the image said\n%s\nthe binary said\n%s", out, want)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "dashboard: ") {
		t.Errorf("the refusal is not one line naming the problem:\n%s", out)
	}
}

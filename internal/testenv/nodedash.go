package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// NodeDashboard starts the token route of the Node dashboard ours replaces
// (nodedash/server.mjs, livekit-server-sdk from `scripts/stack install
// node-dashboard`) on loopback and returns its URL; it stops with the test.
// Requests need the X-API-Key dashKey. Missing Node or the SDK is a skip
// locally and a failure in CI.
func NodeDashboard(t TB, apiKey, apiSecret, dashKey, wsURL string) string {
	t.Helper()
	node := Tool(t, "node", "run `scripts/stack install node-dashboard`")
	dir := filepath.Join(StackBin(), "node-dashboard")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "livekit-server-sdk")); err != nil {
		missing(t, "livekit-server-sdk (the Node baseline)", "run `scripts/stack install node-dashboard` (cached in "+dir+")")
	}
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command(node, filepath.Join(filepath.Dir(here), "nodedash", "server.mjs"))
	cmd.Env = append(os.Environ(), "NODE_DASHBOARD_DIR="+dir, "LIVEKIT_API_KEY="+apiKey, "LIVEKIT_API_SECRET="+apiSecret,
		"DASHBOARD_API_KEY="+dashKey, "LIVEKIT_WS_URL="+wsURL)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	select {
	case p := <-port:
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("testenv: the Node dashboard did not start (printed %q)", p)
		}
		return "http://127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatalf("testenv: the Node dashboard did not start within 30 s")
	}
	return ""
}

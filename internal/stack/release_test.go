package stack_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/internal/stack"
	"github.com/spacemusic/streamkit/internal/testenv"
)

// The seed's livekit-server v1.6.1 stops at start on the metrics key v1.11.0
// reads (which is why PrometheusYAML writes prometheus_port for it): the
// server, not our guess, says so. (The suite, TestFeaturesOnBothLiveKitVersions,
// holds that it starts with the key PrometheusYAML gives it.)
func TestTheSeedsReleaseRefusesTheNewMetricsKey(t *testing.T) {
	testenv.RequireNetNS(t)
	seed, err := testenv.StackVersion("LIVEKIT_SEED_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.Binary(t, "livekit-server-"+seed, "livekit-seed")
	cfg := stack.ServerYAML(testenv.FreePort(t), testenv.FreeUDPPort(t), "streamkit", testenv.Secret(), "", false) +
		stack.PrometheusYAML("", testenv.FreePort(t)) // the pinned release's form
	path := filepath.Join(t.TempDir(), "livekit.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--config", path).CombinedOutput()
	// v1.6.1 exits with status 0 after "could not parse config" (upstream's
	// quirk): what it printed, and that it ended at once, are what tell.
	if ctx.Err() != nil {
		t.Fatalf("livekit-server %s kept running with `prometheus: {port}` (%v)\n%s", seed, err, out)
	}
	if !strings.Contains(string(out), "field prometheus not found in type config.Config") {
		t.Errorf("livekit-server %s stopped, but not over the metrics key:\n%s", seed, out)
	}
}

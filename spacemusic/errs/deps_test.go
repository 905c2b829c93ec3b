package errs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A program that manages rooms and tests their errors links rooms and errs,
// not the facade: the error kinds cost it no WebRTC or S3 client.
// (Measured before errs was public: 151 packages for rooms alone, 348 with
// the facade imported for spacemusic.ErrNotFound.)
func TestErrorsComeWithoutTheWholeWorld(t *testing.T) {
	deps := func(pkgs ...string) []string {
		t.Helper()
		args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return strings.Fields(string(out))
	}
	const mod = "github.com/spacemusic/streamkit/spacemusic"
	light := deps(mod+"/rooms", mod+"/errs")
	whole := deps(mod+"/rooms", mod)
	t.Logf("rooms and errs: %d packages outside the standard library; rooms and the facade: %d", len(light), len(whole))
	if len(light) > 160 {
		t.Errorf("rooms and errs link %d packages outside the standard library, want at most 160", len(light))
	}
	for _, p := range light {
		// (go-redis is there already: livekit/protocol's own packages import it.)
		for _, heavy := range []string{"github.com/pion/webrtc", "github.com/minio/minio-go"} {
			if strings.HasPrefix(p, heavy) {
				t.Errorf("rooms and errs link %s", p)
			}
		}
	}
	if own := deps(mod + "/errs"); len(own) != 1 {
		t.Errorf("errs imports more than the standard library: %v", own)
	}
}

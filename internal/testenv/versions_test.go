package testenv

import (
	"strings"
	"testing"
)

// The docker backend's image and the stack's binaries come from one version line.
func TestStackVersionIsReadFromScripts(t *testing.T) {
	v, err := StackVersion("LIVEKIT_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "v1.") {
		t.Fatalf("LIVEKIT_VERSION = %q, want a v1.x tag", v)
	}
	img, err := defaultLiveKitImage()
	if err != nil || img != "livekit/livekit-server:"+v {
		t.Fatalf("image %q (%v), want livekit/livekit-server:%s", img, err, v)
	}
	if _, err := StackVersion("NO_SUCH_VERSION"); err == nil {
		t.Fatal("a missing name must be an error")
	}
}

package testenv

import (
	"fmt"
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

// stoppedTB is a test whose Fatalf or Skipf stops the call that made it (a
// panic the test recovers), keeping the message.
type stoppedTB struct {
	testing.TB
	msg string
}

func (s *stoppedTB) Fatalf(format string, args ...any) {
	s.msg = fmt.Sprintf(format, args...)
	panic(s)
}

func (s *stoppedTB) Skipf(format string, args ...any) { s.Fatalf("skipped: "+format, args...) }

// Another release than the pin starts only as a local process: an external
// server or the docker backend's image would be the pin under another name.
func TestAVersionRunsOnTheProcessBackendOnly(t *testing.T) {
	seed, err := StackVersion("LIVEKIT_SEED_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"docker", "external"} {
		s := &stoppedTB{TB: t}
		func() {
			defer func() {
				if r := recover(); r != nil && r != s {
					panic(r)
				}
			}()
			LiveKit(s, WithVersion(seed), WithBackend(backend))
		}()
		if !strings.Contains(s.msg, "process backend only") {
			t.Errorf("%s backend with %s: %q, want a refusal", backend, seed, s.msg)
		}
	}
}

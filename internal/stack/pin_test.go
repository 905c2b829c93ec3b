package stack

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A livekit-server pinned to core 0 (as the rehearsal benchmark pins it to
// measure one core against two) runs every one of its threads on core 0 only.
func TestLiveKitPinnedToOneCore(t *testing.T) {
	s := New()
	defer s.Close()
	lk, err := s.LiveKit(LiveKitOptions{CPUs: "0"})
	var m *MissingError
	if errors.As(err, &m) && os.Getenv("CI") == "" {
		t.Skipf("%s: %s", m.What, m.How)
	}
	if err != nil {
		t.Fatal(err)
	}
	lk.Process.mu.Lock()
	pid := lk.Process.cmd.Process.Pid
	lk.Process.mu.Unlock()
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "status"))
	if len(tasks) < 2 {
		t.Fatalf("livekit-server %d has %d threads", pid, len(tasks))
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		if !strings.Contains(string(b), "Cpus_allowed_list:\t0\n") {
			t.Errorf("%s is not pinned to core 0", f)
		}
	}
}

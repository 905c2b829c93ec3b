package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The media slot keeps test binaries that run LiveKit Ingress or Egress from running
// their media pipelines at the same time. `go test ./...` runs packages in parallel
// (-p defaults to the number of cores), and Ingress admits a stream only while the
// WHOLE machine has idle CPU: its monitor (ingress v1.5.0, pkg/stats/monitor.go)
// accepts when idle CPUs - pending - min_idle_ratio*cores > the input's cpu_cost,
// sampled every second. On a 2-core machine, egress tests of another package
// transcoding at the same moment leave no idle CPU, and ingress refuses every push
// with "server capacity exceeded" (ffmpeg: "Server error: Publish failed.") until
// the test gives up. The slot is a machine-wide flock(2): one test binary at a time
// runs Ingress or Egress; tests inside one binary share it (they run one after
// another unless they call t.Parallel).
var mediaSlot struct {
	mu    sync.Mutex
	users int
	f     *os.File
}

// mediaSlotPath is the lock file; every test binary of the machine (and of the
// network namespace: it shares the file system) uses the same one.
func mediaSlotPath() string { return filepath.Join(os.TempDir(), "streamkit-media.lock") }

// holdMediaSlot takes the media slot for the rest of t, waiting for another test
// binary to release it. (The dashboard's -dev mode starts its stack through
// internal/stack and takes no slot: a dev server left running must not block
// test runs.)
func holdMediaSlot(t TB) {
	t.Helper()
	mediaSlot.mu.Lock()
	defer mediaSlot.mu.Unlock()
	if mediaSlot.users == 0 {
		f, err := os.OpenFile(mediaSlotPath(), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatalf("testenv: media slot: %v", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			t.Logf("testenv: waiting for another test binary to finish its ingress/egress tests (lock %s)", f.Name())
			start := time.Now()
			if err := flockRetry(f); err != nil {
				f.Close()
				t.Fatalf("testenv: media slot: %v", err)
			}
			t.Logf("testenv: got the media slot after %.1fs", time.Since(start).Seconds())
		}
		mediaSlot.f = f
	}
	mediaSlot.users++
	t.Cleanup(releaseMediaSlot)
}

func flockRetry(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func releaseMediaSlot() {
	mediaSlot.mu.Lock()
	defer mediaSlot.mu.Unlock()
	mediaSlot.users--
	if mediaSlot.users == 0 && mediaSlot.f != nil {
		_ = syscall.Flock(int(mediaSlot.f.Fd()), syscall.LOCK_UN)
		mediaSlot.f.Close()
		mediaSlot.f = nil
	}
}

// HoldMediaSlot takes the media slot for the rest of t, for a test that runs
// Ingress or Egress without testenv (the dashboard's -dev mode under test).
func HoldMediaSlot(t TB) {
	t.Helper()
	holdMediaSlot(t)
}

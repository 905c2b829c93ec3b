package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	f     []*os.File // the lanes this binary holds: one, or all (HoldAllMediaLanes)
}

// mediaSlotPath is lane i's lock file; every test binary of the machine (and of
// the network namespace: it shares the file system) uses the same ones.
func mediaSlotPath(i int) string {
	if i == 0 {
		return filepath.Join(os.TempDir(), "streamkit-media.lock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("streamkit-media-%d.lock", i))
}

// mediaLanes is how many test binaries may run media at once:
// STREAMKIT_MEDIA_LANES (1 to 4), 1 by default. scripts/test runs 2 on its 2
// cores: most of a media test is waiting on real time (a push, an upload), and
// the Ingress and Egress CPU limits in internal/stack refuse work only on a
// saturated machine, which the tests' pushes retry.
func mediaLanes() int {
	if n, err := strconv.Atoi(os.Getenv("STREAMKIT_MEDIA_LANES")); err == nil && n >= 1 && n <= 4 {
		return n
	}
	return 1
}

// holdMediaSlot takes a media lane for the rest of t, waiting while every lane
// is held by other test binaries. (The dashboard's -dev mode under test takes
// one through HoldMediaSlot; a dev server left running takes none and never
// blocks test runs.)
func holdMediaSlot(t TB) {
	t.Helper()
	mediaSlot.mu.Lock()
	defer mediaSlot.mu.Unlock()
	if mediaSlot.users == 0 {
		f, err := takeLane(t)
		if err != nil {
			t.Fatalf("testenv: media slot: %v", err)
		}
		mediaSlot.f = []*os.File{f}
	}
	mediaSlot.users++
	t.Cleanup(releaseMediaSlot)
}

// takeLane locks the first free lane, polling while all are held.
func takeLane(t TB) (*os.File, error) {
	lanes := mediaLanes()
	start, told := time.Now(), false
	for {
		for i := 0; i < lanes; i++ {
			f, err := os.OpenFile(mediaSlotPath(i), os.O_RDWR|os.O_CREATE, 0o666)
			if err != nil {
				return nil, err
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				if told {
					t.Logf("testenv: got the media slot after %.1fs", time.Since(start).Seconds())
				}
				return f, nil
			}
			f.Close()
		}
		if !told {
			t.Logf("testenv: waiting for another test binary to finish its ingress/egress tests (locks %s...)", mediaSlotPath(0))
			told = true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func releaseMediaSlot() {
	mediaSlot.mu.Lock()
	defer mediaSlot.mu.Unlock()
	mediaSlot.users--
	if mediaSlot.users == 0 {
		for _, f := range mediaSlot.f {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}
		mediaSlot.f = nil
	}
}

// HoldAllMediaLanes takes every media lane for the rest of t, for a test too
// heavy to share the machine: a video encode that falls behind drops audio
// (seen: an MP4's tone 1.1 s shorter than its video while another media test
// ran). Call it before anything else takes a lane in this binary. Lanes are
// taken in order, so two such tests never hold each other up for ever.
func HoldAllMediaLanes(t TB) {
	t.Helper()
	mediaSlot.mu.Lock()
	defer mediaSlot.mu.Unlock()
	if mediaSlot.users != 0 {
		t.Fatalf("testenv: HoldAllMediaLanes after a lane was taken")
	}
	start := time.Now()
	for i := 0; i < mediaLanes(); i++ {
		f, err := os.OpenFile(mediaSlotPath(i), os.O_RDWR|os.O_CREATE, 0o666)
		if err == nil {
			for err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err == syscall.EINTR; {
				err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			}
		}
		if err != nil {
			for _, g := range mediaSlot.f {
				g.Close()
			}
			mediaSlot.f = nil
			t.Fatalf("testenv: media lane %d: %v", i, err)
		}
		mediaSlot.f = append(mediaSlot.f, f)
	}
	t.Logf("testenv: holding every media lane (after %.1fs)", time.Since(start).Seconds())
	mediaSlot.users++
	t.Cleanup(releaseMediaSlot)
}

// HoldMediaSlot takes the media slot for the rest of t, for a test that runs
// Ingress or Egress without testenv (the dashboard's -dev mode under test).
func HoldMediaSlot(t TB) {
	t.Helper()
	holdMediaSlot(t)
}

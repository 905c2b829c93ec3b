package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cgroupCPU is where cgroup v1's cpu controller is mounted (a symlink to
// cpu,cpuacct on systems that mount the two together).
const cgroupCPU = "/sys/fs/cgroup/cpu"

// quotaPeriod is the CFS period of a CPU quota. The kernel's default, 100 ms,
// lets a capped server run flat out and then stall for the rest of the
// period (75 ms at a quarter core), which a listener would measure as jitter
// of the cap itself; 10 ms spreads the same share out, closer to a slower core.
const quotaPeriod = 10 * time.Millisecond

// cpuQuota is a cgroup v1 cpu group of the test's own that caps the processes
// in it at a fraction of one core (cpu.cfs_quota_us / cpu.cfs_period_us).
type cpuQuota struct {
	dir    string // the group's directory
	parent string // the group the processes came from, where they go back
	cores  float64
}

// newCPUQuota makes a group capped at cores (0.1 to the machine's cores),
// under the group this test process is in, and removes it when t ends.
func newCPUQuota(t TB, name string, cores float64) *cpuQuota {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cgroupCPU, "cpu.cfs_quota_us")); err != nil {
		t.Fatalf("testenv: a CPU quota needs cgroup v1's cpu controller at %s (%v); on cgroup v2 run the test under `systemd-run --scope -p CPUQuota=` instead", cgroupCPU, err)
	}
	quota := time.Duration(cores * float64(quotaPeriod))
	if quota < time.Millisecond { // the kernel's least quota
		t.Fatalf("testenv: CPU quota of %g cores: at least %g", cores, float64(time.Millisecond)/float64(quotaPeriod))
	}
	parent := filepath.Join(cgroupCPU, ownCPUGroup())
	q := &cpuQuota{dir: filepath.Join(parent, fmt.Sprintf("streamkit-%s-%d-%d", name, os.Getpid(), time.Now().UnixNano())), parent: parent, cores: cores}
	if err := os.Mkdir(q.dir, 0o755); err != nil {
		t.Fatalf("testenv: CPU quota: %v (cgroups need root and a writable %s)", err, cgroupCPU)
	}
	t.Cleanup(q.remove)
	if err := q.write("cpu.cfs_period_us", quotaPeriod.Microseconds()); err != nil {
		t.Fatalf("testenv: CPU quota: %v", err)
	}
	if err := q.write("cpu.cfs_quota_us", quota.Microseconds()); err != nil {
		t.Fatalf("testenv: CPU quota: %v", err)
	}
	return q
}

// ownCPUGroup is this process's group in the cpu hierarchy ("/" at its root).
func ownCPUGroup() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controller-list:path
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			return f[2]
		}
	}
	return "/"
}

func (q *cpuQuota) write(file string, v int64) error {
	return os.WriteFile(filepath.Join(q.dir, file), []byte(strconv.FormatInt(v, 10)), 0o644)
}

// add moves process pid, with all its threads, into the group; the processes
// it starts later are born in it.
func (q *cpuQuota) add(pid int) error {
	if err := q.write("cgroup.procs", int64(pid)); err != nil {
		return fmt.Errorf("CPU quota: move pid %d into %s: %w", pid, q.dir, err)
	}
	return nil
}

// throttled is how long the kernel has held the group's processes back for
// having used their quota, and in how many of its periods.
func (q *cpuQuota) throttled() (time.Duration, int, int) {
	b, _ := os.ReadFile(filepath.Join(q.dir, "cpu.stat"))
	var d time.Duration
	var periods, throttled int
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			periods = int(n)
		case "nr_throttled":
			throttled = int(n)
		case "throttled_time":
			d = time.Duration(n) // nanoseconds
		}
	}
	return d, throttled, periods
}

// remove moves whatever still runs in the group back to its parent (a
// group with processes cannot be removed) and removes the group.
func (q *cpuQuota) remove() {
	for i := 0; i < 50; i++ {
		b, _ := os.ReadFile(filepath.Join(q.dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(b)) {
			_ = os.WriteFile(filepath.Join(q.parent, "cgroup.procs"), []byte(pid), 0o644)
		}
		if err := os.Remove(q.dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond) // a process still exiting
	}
}

package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of CPU times in /proc/<pid>/stat: USER_HZ, 100 on every
// Linux this project runs on (sysconf(_SC_CLK_TCK) is not reachable without cgo).
const clockTick = 10 * time.Millisecond

// EgressCPU is the CPU time (user and system) the egress handler process of one
// egress has used so far, and whether that process was found. Egress v1.8.6
// runs each egress in a process of its own ("egress run-handler --request
// <JSON>"), whose request names the egress ID: that is how it is found among
// every process of the machine.
func EgressCPU(egressID string) (time.Duration, bool) {
	pid := handlerPID(egressID)
	if pid == "" {
		return 0, false
	}
	cpu, _, ok := procCPU(pid)
	return cpu, ok
}

// EgressTreeCPU is EgressCPU with every live process the handler started: for a
// room composite, Chrome's processes and the Xvfb display it draws on, which do
// the page's share of the work.
func EgressTreeCPU(egressID string) (time.Duration, bool) {
	root := handlerPID(egressID)
	if root == "" {
		return 0, false
	}
	parents := map[string]string{}
	cpus := map[string]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		pid := filepath.Base(filepath.Dir(f))
		if cpu, ppid, ok := procCPU(pid); ok {
			cpus[pid], parents[pid] = cpu, ppid
		}
	}
	var total time.Duration
	for pid, cpu := range cpus {
		// Walk up at most 64 generations: a descendant of the handler counts.
		for p, i := pid, 0; p != "" && i < 64; p, i = parents[p], i+1 {
			if p == root {
				total += cpu
				break
			}
		}
	}
	return total, total > 0
}

// handlerPID is the process ID of the egress's handler process, or "".
func handlerPID(egressID string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "run-handler") && strings.Contains(string(b), `"`+egressID+`"`) {
			return filepath.Base(filepath.Dir(f))
		}
	}
	return ""
}

// procCPU is a process's CPU time (user and system) and its parent's ID.
func procCPU(pid string) (time.Duration, string, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, "", false
	}
	// Fields after the command's closing parenthesis: the parent is the 2nd of
	// them, utime and stime the 12th and 13th (fields 4, 14 and 15 of proc(5)).
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, "", false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", false
	}
	return time.Duration(utime+stime) * clockTick, fields[1], true
}

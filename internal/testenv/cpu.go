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
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "run-handler") || !strings.Contains(string(b), `"`+egressID+`"`) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(f), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime are the
		// 12th and 13th of them (fields 14 and 15 of proc(5)).
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, err1 := strconv.ParseInt(fields[11], 10, 64)
		stime, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		return time.Duration(utime+stime) * clockTick, true
	}
	return 0, false
}
